//! Verdicts on a served certificate: chain, names, expiry. The handshake
//! (in `probe`) records the chain and the verifier's judgement without
//! aborting; this module reads the leaf with x509-parser and decides. Pure.

use super::{Check, Finding, Status};

/// Fewer days than this before expiry is a warning.
pub const MINIMUM_DAYS: i64 = 14;

/// What a TLS handshake showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The certificates, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// The verifier's complaint about the chain (untrusted issuer, expired,
    /// wrong name), `None` when it verified.
    pub chain_error: Option<String>,
    /// The negotiated protocol version, e.g. `TLSv1.3`.
    pub protocol: String,
}

/// The leaf's names and validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub issuer: String,
    pub subject: String,
}

/// Reads names (subjectAltName DNS entries, else the CN) and validity.
pub fn leaf(der: &[u8]) -> Result<Leaf, String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der)
        .map_err(|error| format!("unreadable certificate: {error}"))?;
    let mut names = Vec::new();
    if let Ok(Some(extension)) = certificate.subject_alternative_name() {
        for name in &extension.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for common_name in certificate.subject().iter_common_name() {
            if let Ok(text) = common_name.as_str() {
                names.push(text.to_ascii_lowercase());
            }
        }
    }
    Ok(Leaf {
        names,
        not_before: certificate.validity().not_before.timestamp(),
        not_after: certificate.validity().not_after.timestamp(),
        issuer: certificate.issuer().to_string(),
        subject: certificate.subject().to_string(),
    })
}

/// Whether a certificate name covers `host` (one leftmost `*` label, RFC 6125 §6.4.3).
pub fn covers(name: &str, host: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = name.strip_prefix("*.") {
        return host
            .split_once('.')
            .is_some_and(|(label, parent)| !label.is_empty() && parent == rest);
    }
    name == host
}

/// The verdict for one port. `self_signed_mode`: the project's own
/// certificate is the trust anchor, which only mailctl trusts.
pub fn verdict(
    subject: &str,
    host: &str,
    served: &Served,
    now: i64,
    self_signed_mode: bool,
    fix_command: &str,
) -> Finding {
    let check = Check::TlsCertificate;
    let Some(first) = served.chain.first() else {
        return Finding::new(
            check,
            subject,
            Status::Error,
            "the server sent no certificate",
        )
        .fix(fix_command.to_owned());
    };
    let leaf = match leaf(first) {
        Ok(leaf) => leaf,
        Err(error) => return Finding::new(check, subject, Status::Error, error),
    };
    let found = format!(
        "{} for {}, valid until {}, issued by {}",
        served.protocol,
        leaf.names.join(", "),
        format_time(leaf.not_after),
        leaf.issuer
    );
    let days_left = (leaf.not_after - now).div_euclid(86_400);
    if !leaf.names.iter().any(|name| covers(name, host)) {
        return Finding::new(
            check,
            subject,
            Status::Error,
            format!("the certificate does not cover `{host}`"),
        )
        .found(found)
        .expected(format!("a certificate naming `{host}`"))
        .fix(fix_command.to_owned());
    }
    if now > leaf.not_after {
        return Finding::new(
            check,
            subject,
            Status::Error,
            format!("the certificate expired on {}", format_time(leaf.not_after)),
        )
        .found(found)
        .expected(format!(
            "a certificate valid for at least {MINIMUM_DAYS} more days"
        ))
        .fix(fix_command.to_owned());
    }
    if now < leaf.not_before {
        return Finding::new(
            check,
            subject,
            Status::Error,
            format!(
                "the certificate is not valid before {}",
                format_time(leaf.not_before)
            ),
        )
        .found(found)
        .fix("check the server's clock, then renew the certificate");
    }
    if let Some(error) = &served.chain_error {
        return Finding::new(
            check,
            subject,
            Status::Error,
            format!("the chain does not verify: {error}"),
        )
        .found(found)
        .expected("a chain to a trusted root, with every intermediate sent")
        .fix(fix_command.to_owned());
    }
    if days_left < MINIMUM_DAYS {
        return Finding::new(
            check,
            subject,
            Status::Warning,
            format!("the certificate expires in {days_left} days"),
        )
        .found(found)
        .expected(format!("at least {MINIMUM_DAYS} days left"))
        .fix(fix_command.to_owned());
    }
    if self_signed_mode {
        return Finding::new(
            check,
            subject,
            Status::Info,
            format!("self-signed certificate for `{host}`, {days_left} days left; it verifies only against the project's own certificate"),
        )
        .found(found)
        .fix("other servers and clients will not trust it: for production use `tls.mode: letsencrypt`");
    }
    Finding::ok(
        check,
        subject,
        format!("valid for `{host}`, {days_left} days left"),
    )
    .found(found)
}

/// `2026-11-27 20:00 UTC`.
pub fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|moment| {
            moment
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute] UTC"
                ))
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(names: &[&str], days: i64) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400 * 30).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 86_400 * days).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    const NOW: i64 = 1_795_000_000;

    fn served(der: Vec<u8>, error: Option<&str>) -> Served {
        Served {
            chain: vec![der],
            chain_error: error.map(str::to_owned),
            protocol: "TLSv1.3".into(),
        }
    }

    #[test]
    fn names_and_wildcards() {
        assert!(covers("*.example.org", "mail.example.org"));
        assert!(!covers("*.example.org", "a.b.example.org"));
        assert!(!covers("*.example.org", "example.org"));
        assert!(covers("Mail.Example.org.", "mail.example.org"));
    }

    #[test]
    fn verdicts() {
        let fix = "mailctl cert renew";
        let good = served(certificate(&["mail.example.org"], 60), None);
        assert_eq!(
            verdict("x:25", "mail.example.org", &good, NOW, false, fix).status,
            Status::Ok
        );
        assert_eq!(
            verdict("x:25", "mail.example.org", &good, NOW, true, fix).status,
            Status::Info
        );
        let wrong = verdict("x:25", "mail.example.net", &good, NOW, false, fix);
        assert_eq!(wrong.status, Status::Error);
        assert!(wrong.summary.contains("does not cover"));
        let soon = served(certificate(&["mail.example.org"], 5), None);
        assert_eq!(
            verdict("x:25", "mail.example.org", &soon, NOW, false, fix).status,
            Status::Warning
        );
        let expired = served(certificate(&["mail.example.org"], -1), Some("expired"));
        let finding = verdict("x:25", "mail.example.org", &expired, NOW, false, fix);
        assert!(finding.summary.contains("expired"), "{finding:?}");
        let untrusted = served(
            certificate(&["mail.example.org"], 60),
            Some("UnknownIssuer"),
        );
        assert!(
            verdict("x:25", "mail.example.org", &untrusted, NOW, false, fix)
                .summary
                .contains("does not verify")
        );
    }
}
