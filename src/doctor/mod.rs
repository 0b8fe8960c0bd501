//! `mailctl doctor`: every check a postmaster needs. The verdicts (found
//! versus expected, SPF, DMARC, blocklist answers, certificates, host
//! headroom) are pure functions in the submodules; `lookup` (DNS through
//! hickory-resolver), `probe` (TCP, SMTP and TLS through tokio-rustls) and
//! `run` (the concurrent schedule with per-check timeouts) do the I/O.

pub mod blocklist;
pub mod certificate;
pub mod check;
pub mod dmarc;
pub mod host;
pub mod lookup;
pub mod probe;
pub mod run;
pub mod smtp;
pub mod spf;
pub mod verdict;

pub use check::Check;

use serde::Serialize;

/// How a check ended. `Info` is something worth knowing that needs no
/// change (a zone that is not signed, a self-signed certificate in a test
/// setup); it does not make `doctor` fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Warning,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Warning => "warning",
            Status::Error => "error",
        }
    }

    /// Whether this status makes `doctor` exit 1.
    pub fn fails(self) -> bool {
        matches!(self, Status::Warning | Status::Error)
    }
}

/// The outcome of one check on one subject (a domain, an address, a port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's stable name, `area.what` (`dns.spf`, `tls.certificate`).
    pub check: Check,
    /// What was checked: a domain, an address, `host:port`, a service.
    pub subject: String,
    pub status: Status,
    /// One line: what is the case.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What to change: the exact record, the setting, the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// How long the check took, in milliseconds (set by the runner).
    pub millis: u64,
}

impl Finding {
    pub fn new(
        check: Check,
        subject: impl Into<String>,
        status: Status,
        summary: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            subject: subject.into(),
            status,
            summary: summary.into(),
            found: None,
            expected: None,
            fix: None,
            millis: 0,
        }
    }

    pub fn ok(check: Check, subject: impl Into<String>, summary: impl Into<String>) -> Finding {
        Finding::new(check, subject, Status::Ok, summary)
    }

    pub fn found(mut self, found: impl Into<String>) -> Finding {
        self.found = Some(found.into());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Finding {
        self.expected = Some(expected.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// Whether the whole run passes (exit 0): no warning and no error.
pub fn passes(findings: &[Finding]) -> bool {
    !findings.iter().any(|finding| finding.status.fails())
}

/// The report for a terminal: one line per finding, grouped by area, with
/// found / expected / fix indented beneath each one that is not ok, then
/// a count line.
pub fn to_text(findings: &[Finding]) -> String {
    let mut text = String::new();
    let mut current_area = "";
    for finding in findings {
        let this_area = finding.check.area();
        if this_area != current_area {
            if !current_area.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("{this_area}\n"));
            current_area = this_area;
        }
        text.push_str(&format!(
            "  {:<7} {:<22} {}: {}\n",
            finding.status.as_str(),
            finding.check,
            finding.subject,
            finding.summary
        ));
        if finding.status != Status::Ok {
            for (label, value) in [
                ("found", &finding.found),
                ("expected", &finding.expected),
                ("fix", &finding.fix),
            ] {
                if let Some(value) = value {
                    let mut lines = value.lines();
                    if let Some(first) = lines.next() {
                        text.push_str(&format!("          {label:<9}{first}\n"));
                    }
                    for line in lines {
                        text.push_str(&format!("                   {line}\n"));
                    }
                }
            }
        }
    }
    let count = |status: Status| findings.iter().filter(|f| f.status == status).count();
    text.push_str(&format!(
        "\n{} checks: {} ok, {} info, {} warning, {} error\n",
        findings.len(),
        count(Status::Ok),
        count(Status::Info),
        count(Status::Warning),
        count(Status::Error)
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_and_errors_fail_info_does_not() {
        let ok = Finding::ok(Check::DnsMx, "example.org", "fine");
        let info = Finding::new(Check::DnsDnssec, "example.org", Status::Info, "unsigned");
        assert!(passes(&[ok.clone(), info.clone()]));
        let warning = Finding::new(Check::TlsCertificate, "x:25", Status::Warning, "soon");
        assert!(!passes(&[ok, info, warning]));
    }

    #[test]
    fn text_shows_fix_only_for_problems() {
        let ok = Finding::ok(Check::DnsMx, "example.org", "points at mail.example.org")
            .fix("never shown");
        let bad = Finding::new(Check::DnsSpf, "example.org", Status::Error, "no SPF record")
            .expected("v=spf1 mx -all")
            .fix("example.org. 3600 IN TXT \"v=spf1 mx -all\"");
        let text = to_text(&[ok, bad]);
        assert!(!text.contains("never shown"));
        assert!(text.contains("fix      example.org. 3600 IN TXT"));
        assert!(text.contains("2 checks: 1 ok, 0 info, 0 warning, 1 error"));
    }
}
