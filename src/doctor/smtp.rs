//! SMTP replies and the verdicts on what the server said: the relay test
//! and AUTH before STARTTLS. The conversation itself is in `probe`. Pure.

use super::{Check, Finding, Status};

/// One SMTP reply: the code and its text lines (RFC 5321 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }

    /// EHLO keywords, upper case (`STARTTLS`, `AUTH PLAIN LOGIN`).
    pub fn extensions(&self) -> Vec<String> {
        self.lines
            .iter()
            .skip(1)
            .map(|line| line.to_ascii_uppercase())
            .collect()
    }

    pub fn offers(&self, keyword: &str) -> bool {
        self.extensions()
            .iter()
            .any(|line| line.split_whitespace().next() == Some(keyword))
    }
}

/// Parses one reply line: code, whether more lines follow, text.
pub fn parse_line(line: &str) -> Option<(u16, bool, String)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let code = line.get(..3)?.parse().ok()?;
    let more = line.get(3..4) == Some("-");
    Some((code, more, line.get(4..).unwrap_or("").to_owned()))
}

/// What happened when a foreign recipient was offered without AUTH.
pub fn relay(
    subject: &str,
    mail_from: &Reply,
    rcpt_to: Option<&Reply>,
    recipient: &str,
) -> Finding {
    let check = Check::SecurityRelay;
    match rcpt_to {
        Some(reply) if reply.code >= 400 => Finding::ok(check, subject, format!("relaying to `{recipient}` without AUTH is refused"))
            .found(reply.text()),
        Some(reply) => Finding::new(check, subject, Status::Error, "OPEN RELAY: the server accepted a foreign recipient without AUTH; spammers will use it and every blocklist will list it")
            .found(reply.text())
            .expected("554 5.7.1 Relay access denied")
            .fix("remove the Docker subnet and any broad network from Postfix's `mynetworks` (`mailctl render` writes a safe main.cf), keep `reject_unauth_destination`, then `mailctl up`"),
        None => Finding::new(check, subject, Status::Warning, "the relay test was inconclusive: the sender was refused before a recipient could be tried")
            .found(mail_from.text()),
    }
}

/// AUTH must not be offered before STARTTLS (RFC 4954 §4, RFC 8314 §3).
pub fn auth_before_tls(subject: &str, ehlo: &Reply) -> Finding {
    let check = Check::SecurityAuthBeforeTls;
    let auth: Vec<String> = ehlo
        .extensions()
        .into_iter()
        .filter(|line| line.starts_with("AUTH"))
        .collect();
    if auth.is_empty() {
        let tls = if ehlo.offers("STARTTLS") {
            "; STARTTLS is offered"
        } else {
            ""
        };
        Finding::ok(
            check,
            subject,
            format!("AUTH is not offered before STARTTLS{tls}"),
        )
    } else {
        Finding::new(check, subject, Status::Error, "AUTH is offered on an unencrypted connection: passwords can be sent in clear text")
            .found(auth.join(", "))
            .expected("AUTH only after STARTTLS")
            .fix("set `smtpd_tls_auth_only = yes` (mailctl's main.cf has it: `mailctl render`, then `mailctl up`)")
    }
}

/// Why the outbound port 25 test got no greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundProblem {
    /// The test server's name does not resolve here: nothing was tried.
    Unresolved(String),
    /// Resolved, but the connection or greeting failed.
    Unreachable(String),
}

/// Outbound port 25: the provider must let the server reach other MXs.
pub fn outbound(target: &str, result: &Result<Reply, OutboundProblem>) -> Finding {
    let check = Check::NetworkOutbound25;
    match result {
        Ok(reply) if reply.code == 220 => Finding::ok(check, target, "outbound connections to port 25 work").found(reply.text()),
        Ok(reply) => Finding::new(check, target, Status::Warning, "connected, but the greeting is not 220").found(reply.text()),
        Err(OutboundProblem::Unresolved(error)) => Finding::new(
            check,
            target,
            Status::Warning,
            "cannot test outbound port 25: the test server's name does not resolve from this machine, so the check needs the real internet",
        )
        .found(error.clone())
        .expected("the name of a mail server on the internet resolves")
        .fix("on a server on the internet, check its resolver (/etc/resolv.conf); on a closed network, set `doctor.outbound_smtp` to a mail server this machine can reach"),
        Err(OutboundProblem::Unreachable(error)) => Finding::new(check, target, Status::Error, format!("cannot reach port 25 outside: {error}"))
            .expected("a 220 greeting")
            .fix("many providers block outbound port 25: ask them to unblock it, or relay outgoing mail through a smarthost on port 587"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply {
            code,
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    #[test]
    fn parses_reply_lines() {
        assert_eq!(
            parse_line("250-STARTTLS\r\n"),
            Some((250, true, "STARTTLS".into()))
        );
        assert_eq!(
            parse_line("220 mail ESMTP"),
            Some((220, false, "mail ESMTP".into()))
        );
        assert_eq!(parse_line("xx"), None);
    }

    #[test]
    fn outbound_verdicts() {
        let target = "gmail-smtp-in.l.google.com:25";
        assert_eq!(
            outbound(target, &Ok(reply(220, &["mx.google.com ESMTP"]))).status,
            Status::Ok
        );
        let blocked = outbound(
            target,
            &Err(OutboundProblem::Unreachable("timed out".to_owned())),
        );
        assert_eq!(blocked.status, Status::Error);
        assert!(blocked.fix.unwrap().contains("smarthost"));
        let closed = outbound(
            target,
            &Err(OutboundProblem::Unresolved(
                "Name or service not known".to_owned(),
            )),
        );
        assert_eq!(closed.status, Status::Warning);
        assert!(
            closed.summary.contains("needs the real internet"),
            "{closed:?}"
        );
        assert!(closed.fix.unwrap().contains("doctor.outbound_smtp"));
    }

    #[test]
    fn relay_verdicts() {
        let ok = reply(250, &["2.1.0 Ok"]);
        assert_eq!(
            relay(
                "s",
                &ok,
                Some(&reply(554, &["5.7.1 Relay access denied"])),
                "x@example.com"
            )
            .status,
            Status::Ok
        );
        assert_eq!(
            relay("s", &ok, Some(&reply(250, &["2.1.5 Ok"])), "x@example.com").status,
            Status::Error
        );
        assert_eq!(
            relay("s", &reply(553, &["no"]), None, "x@example.com").status,
            Status::Warning
        );
    }

    #[test]
    fn auth_verdicts() {
        let clean = reply(
            250,
            &["mail.example.org", "PIPELINING", "STARTTLS", "8BITMIME"],
        );
        assert_eq!(auth_before_tls("s", &clean).status, Status::Ok);
        let leaky = reply(250, &["mail.example.org", "STARTTLS", "AUTH PLAIN LOGIN"]);
        assert_eq!(auth_before_tls("s", &leaky).status, Status::Error);
        assert!(clean.offers("STARTTLS"));
    }
}
