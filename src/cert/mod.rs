//! Certificates from an ACME server (Let's Encrypt): the decisions, as pure
//! functions with unit tests — which names, how they are split into
//! certificates of at most 100 names, whether a renewal is due, what a
//! failure means and what to do about it — and the types the edges share.
//! The ACME protocol itself lives in `acme` (the only user of
//! instant-acme), challenge placement in `http01` and `dns01`, files in
//! `store`, and the command in `crate::commands::cert`.

pub mod acme;
pub mod dns01;
pub mod http01;
pub mod keys;
pub mod resolve;
pub mod store;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::{Challenge, Config};

/// Let's Encrypt's limit of names per certificate.
pub const MAX_NAMES_PER_CERTIFICATE: usize = 100;

/// `mailctl up` warns when the certificate in service expires this soon.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The names the certificates must cover: the hostname first, then per
/// domain the enabled `mta-sts.`, `autoconfig.` and `autodiscover.` names,
/// lower case, without duplicates, in a fixed order.
pub fn wanted_names(config: &Config) -> Vec<String> {
    let mut names = vec![config.hostname.to_ascii_lowercase()];
    let toggles = config.tls.names;
    for domain in &config.domains {
        for (enabled, prefix) in [
            (toggles.mta_sts, "mta-sts"),
            (toggles.autoconfig, "autoconfig"),
            (toggles.autodiscover, "autodiscover"),
        ] {
            let name = format!("{prefix}.{}", domain.name.to_ascii_lowercase());
            if enabled && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// One certificate to hold: a stable identifier (its directory under
/// `certs/acme/`) and its names. The first one holds the hostname and is
/// the one every service serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatePlan {
    pub id: String,
    pub names: Vec<String>,
}

/// Splits `names` into certificates of at most `limit` names, in order, so
/// the hostname (first) is always in the first one. Identifiers: the first
/// name, then `<first>-2`, `<first>-3`, …
pub fn split_names(names: &[String], limit: usize) -> Vec<CertificatePlan> {
    let limit = limit.max(1);
    let base = names.first().cloned().unwrap_or_default();
    names
        .chunks(limit)
        .enumerate()
        .map(|(index, chunk)| CertificatePlan {
            id: if index == 0 {
                base.clone()
            } else {
                format!("{base}-{}", index + 1)
            },
            names: chunk.to_vec(),
        })
        .collect()
}

/// The certificates this configuration needs, the first holding the hostname.
pub fn certificate_plans(config: &Config) -> Vec<CertificatePlan> {
    let limit = usize::try_from(config.tls.max_names_per_certificate)
        .unwrap_or(MAX_NAMES_PER_CERTIFICATE)
        .min(MAX_NAMES_PER_CERTIFICATE);
    split_names(&wanted_names(config), limit)
}

/// Each name that is not in the first certificate, and the identifier of
/// the certificate it is in (for nginx's per-name `ssl_certificate`). Only
/// ACME certificates are split: a self-signed or custom one is one file.
pub fn extra_certificate_names(config: &Config) -> std::collections::BTreeMap<String, String> {
    if config.tls.mode != crate::config::TlsMode::Letsencrypt {
        return std::collections::BTreeMap::new();
    }
    certificate_plans(config)
        .into_iter()
        .skip(1)
        .flat_map(|plan| {
            let id = plan.id;
            plan.names.into_iter().map(move |name| (name, id.clone()))
        })
        .collect()
}

/// The directory under `certs/live` (and `/etc/mailctl/certs`) that holds
/// a certificate after the first one.
pub const EXTRA_DIR: &str = "extra";

/// What is known of a certificate on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    pub names: Vec<String>,
    pub issuer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The DER SubjectPublicKeyInfo's SHA-256, hex (what TLSA `3 1 1` publishes).
    pub public_key_sha256: String,
    /// Issuer and subject are the same: the temporary certificate `up` makes.
    pub self_signed: bool,
}

/// The SPKI SHA-256 of the TLS keys DNS should publish TLSA `3 1 1` records
/// for: when the server keeps its key (`tls.reuse_key`), the key in
/// service (not the temporary self-signed one `up` makes), then the next.
pub fn published_tls_keys(
    project: &crate::project::Project,
    config: &crate::config::Config,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    if !config.tls.reuse_key {
        return Ok(out);
    }
    if let Some(live) = store::live_info(project).filter(|info| !info.self_signed) {
        out.push(live.public_key_sha256);
    }
    if let Some(next) = store::read_next_key(project)? {
        out.push(keys::spki_sha256(&keys::load_key(&next)?));
    }
    Ok(out)
}

/// Parses the first certificate of a PEM chain.
pub fn parse_certificate(pem: &[u8]) -> anyhow::Result<CertificateInfo> {
    use sha2::Digest;
    use x509_parser::extensions::GeneralName;
    let (_, block) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|error| anyhow::anyhow!("not a PEM certificate: {error}"))?;
    let certificate = block
        .parse_x509()
        .map_err(|error| anyhow::anyhow!("cannot parse the certificate: {error}"))?;
    let mut names = Vec::new();
    if let Ok(Some(alternative)) = certificate.subject_alternative_name() {
        for name in &alternative.value.general_names {
            if let GeneralName::DNSName(name) = name {
                names.push(name.to_ascii_lowercase());
            }
        }
    }
    let validity = certificate.validity();
    Ok(CertificateInfo {
        names,
        issuer: certificate.issuer().to_string(),
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        public_key_sha256: hex::encode(sha2::Sha256::digest(certificate.public_key().raw)),
        self_signed: certificate.issuer() == certificate.subject(),
    })
}

/// The certificate's ARI identifier parts (RFC 9773 §4.1): base64url of
/// the Authority Key Identifier's keyIdentifier and of the DER serial.
pub fn ari_identifier(pem: &[u8]) -> Option<(String, String)> {
    use base64::Engine;
    use x509_parser::extensions::ParsedExtension;
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let certificate = block.parse_x509().ok()?;
    let key_identifier =
        certificate
            .iter_extensions()
            .find_map(|extension| match extension.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    aki.key_identifier.as_ref().map(|id| id.0.to_vec())
                }
                _ => None,
            })?;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    Some((
        engine.encode(key_identifier),
        engine.encode(certificate.tbs_certificate.raw_serial()),
    ))
}

/// Why a certificate is (or is not) renewed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing to do; the certificate is valid for `days_left` more days.
    NotDue {
        days_left: i64,
    },
    Due(DueReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueReason {
    /// No certificate from the ACME server yet.
    Missing,
    /// The configuration names names the certificate lacks (or no longer needs).
    NamesChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// Within the renewal threshold.
    Expiring { days_left: i64, threshold_days: u32 },
    /// The ACME server's renewal information (RFC 9773) window has begun.
    RenewalWindow { start: OffsetDateTime },
}

impl DueReason {
    pub fn describe(&self) -> String {
        match self {
            DueReason::Missing => "no certificate from the ACME server yet".to_owned(),
            DueReason::NamesChanged { added, removed } => {
                let mut parts = Vec::new();
                if !added.is_empty() {
                    parts.push(format!("new names {}", added.join(", ")));
                }
                if !removed.is_empty() {
                    parts.push(format!("names no longer needed {}", removed.join(", ")));
                }
                parts.join("; ")
            }
            DueReason::Expiring {
                days_left,
                threshold_days,
            } => format!(
                "expires in {days_left} day(s), within the renewal threshold of {threshold_days} day(s)"
            ),
            DueReason::RenewalWindow { start } => format!(
                "the ACME server's renewal window began at {}",
                rfc3339(*start)
            ),
        }
    }
}

/// Decides whether the certificate `current` (if any) for `wanted` names
/// must be renewed at `now`. `window_start` is the start of the server's
/// suggested renewal window (ARI), where the server has one.
pub fn renewal_due(
    current: Option<&CertificateInfo>,
    wanted: &[String],
    now: OffsetDateTime,
    threshold_days: u32,
    window_start: Option<OffsetDateTime>,
) -> Renewal {
    let Some(current) = current else {
        return Renewal::Due(DueReason::Missing);
    };
    let added: Vec<String> = wanted
        .iter()
        .filter(|name| !current.names.contains(name))
        .cloned()
        .collect();
    let removed: Vec<String> = current
        .names
        .iter()
        .filter(|name| !wanted.contains(name))
        .cloned()
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        return Renewal::Due(DueReason::NamesChanged { added, removed });
    }
    let left = current.not_after - now;
    let days_left = left.whole_days();
    if left <= time::Duration::days(i64::from(threshold_days)) {
        return Renewal::Due(DueReason::Expiring {
            days_left,
            threshold_days,
        });
    }
    if let Some(start) = window_start {
        if now >= start {
            return Renewal::Due(DueReason::RenewalWindow { start });
        }
    }
    Renewal::NotDue { days_left }
}

/// The warning `mailctl up` prints for the certificate in service, if any.
pub fn expiry_warning(info: &CertificateInfo, now: OffsetDateTime) -> Option<String> {
    let left = info.not_after - now;
    if left > time::Duration::days(EXPIRY_WARNING_DAYS) {
        return None;
    }
    Some(if left <= time::Duration::ZERO {
        format!(
            "the TLS certificate for {} EXPIRED at {}: clients refuse it; run `mailctl cert renew` (see `mailctl cert status`)",
            info.names.first().map(String::as_str).unwrap_or("the server"),
            rfc3339(info.not_after)
        )
    } else {
        format!(
            "the TLS certificate for {} expires in {} day(s) ({}); run `mailctl cert renew` and check `mailctl cert status`, or install the daily timer with `mailctl cert install-timer`",
            info.names.first().map(String::as_str).unwrap_or("the server"),
            left.whole_days(),
            rfc3339(info.not_after)
        )
    })
}

/// What the ACME server said about one name's challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeFailure {
    pub name: String,
    pub challenge: String,
    /// The URL or DNS record the server checked.
    pub checked: String,
    /// The problem type, e.g. `urn:ietf:params:acme:error:connection`.
    pub problem: Option<String>,
    pub detail: Option<String>,
}

/// The `checked` thing of a challenge: the URL (HTTP-01) or record (DNS-01).
pub fn checked_location(challenge: Challenge, name: &str, token: &str) -> String {
    match challenge {
        Challenge::Http01 => format!("http://{name}/.well-known/acme-challenge/{token}"),
        Challenge::Dns01 => format!("TXT record _acme-challenge.{name}"),
    }
}

/// A hint for a failed challenge, from the problem type and detail.
pub fn challenge_hint(failure: &ChallengeFailure, challenge: Challenge) -> String {
    let problem = failure
        .problem
        .as_deref()
        .unwrap_or_default()
        .rsplit(':')
        .next()
        .unwrap_or_default();
    let detail = failure.detail.as_deref().unwrap_or_default().to_lowercase();
    let name = &failure.name;
    match problem {
        "caa" => format!(
            "a CAA record of `{name}` (or a parent domain) forbids this CA: add `0 issue \"letsencrypt.org\"` (or your CA's domain) to the CAA records, or remove them"
        ),
        "dns" => format!(
            "the CA could not look `{name}` up: does it have an A (or AAAA) record in public DNS? Check with `dig {name} A`"
        ),
        "rateLimited" => rate_limit_hint(failure.detail.as_deref()),
        _ if challenge == Challenge::Dns01 => format!(
            "the CA did not find the TXT record at `_acme-challenge.{name}`: does the server in `tls.dns_update_server` serve that zone publicly (are its NS records right), and is `_acme-challenge.{name}` not delegated or a CNAME elsewhere?"
        ),
        "connection" | "" if detail.contains("timeout") || detail.contains("refused") || detail.contains("connect") => format!(
            "the CA could not connect to `{name}` on port 80: is port 80 open in the firewall and published by `web` (`ports.http`)? Does the A record of `{name}` point at this server?"
        ),
        "unauthorized" | "incorrectResponse" => format!(
            "the CA reached `{name}` but got the wrong answer: does its A (or AAAA) record point at this server and not elsewhere (an old host, a CDN, a proxy that does not pass /.well-known/acme-challenge/)?"
        ),
        _ => format!(
            "check that `{name}` resolves to this server and that port 80 reaches `web`; `mailctl cert issue` checks this itself before ordering"
        ),
    }
}

/// When to retry after a rate-limit answer, from Let's Encrypt's detail
/// text (`… retry after 2026-11-28 10:00:00 UTC …`).
pub fn rate_limit_hint(detail: Option<&str>) -> String {
    let retry = detail.and_then(|detail| {
        let lower = detail.to_lowercase();
        let start = lower.find("retry after ")? + "retry after ".len();
        let rest = &detail[start..];
        let end = rest
            .find(": see")
            .or_else(|| rest.find(", see"))
            .or_else(|| rest.find(" see "))
            .unwrap_or(rest.len());
        Some(
            rest[..end]
                .trim()
                .trim_end_matches(['.', ',', ':'])
                .to_owned(),
        )
    });
    match retry {
        Some(when) => format!(
            "the CA limits how many certificates and failed attempts an account may have: retry after {when}; the current certificate stays in service meanwhile. Test changes against `--staging` first"
        ),
        None => "the CA limits how many certificates and failed attempts an account may have: wait (Let's Encrypt's limits reset within an hour for failed validations and within a week for duplicate certificates) and retry; the current certificate stays in service meanwhile. Test changes against `--staging` first".to_owned(),
    }
}

/// True for the problem type of a rate-limit answer.
pub fn is_rate_limited(problem: Option<&str>) -> bool {
    problem.is_some_and(|problem| problem.ends_with(":rateLimited"))
}

/// The outcome of the last attempt for one certificate, kept in
/// `certs/state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// RFC 3339.
    pub at: String,
    /// `issued`, `not-due` or `failed`.
    pub result: String,
    pub message: String,
    /// How the order's names were validated, once an order was placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
}

/// Which names of an order needed a challenge (`answered`: placed and
/// answered, or about to be when a later step failed), and which the ACME
/// server had already authorized for this account and reused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub answered: Vec<String>,
    pub already_valid: Vec<String>,
}

/// `certs/state.json`: per certificate id, its names and last attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub certificates: std::collections::BTreeMap<String, CertificateState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateState {
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<Attempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
}

impl State {
    /// Records an attempt for `plan`.
    pub fn record(&mut self, plan: &CertificatePlan, attempt: Attempt) {
        let entry = self.certificates.entry(plan.id.clone()).or_default();
        entry.names = plan.names.clone();
        if attempt.result == "issued" {
            entry.last_success = Some(attempt.at.clone());
        }
        entry.last_attempt = Some(attempt);
    }
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// The systemd unit pair `install-timer` writes: a daily, randomised timer
/// and the one-shot service it starts.
pub fn systemd_units(binary: &str, project_dir: &str) -> (String, String) {
    let service = format!(
        "[Unit]\n\
         Description=Renew mailctl's TLS certificates when due\n\
         Wants=network-online.target\n\
         After=network-online.target docker.service\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={binary} --dir {project_dir} cert renew\n"
    );
    let timer = "[Unit]\n\
         Description=Daily renewal check of mailctl's TLS certificates\n\
         \n\
         [Timer]\n\
         OnCalendar=daily\n\
         RandomizedDelaySec=6h\n\
         Persistent=true\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
        .to_owned();
    (service, timer)
}

/// The crontab line for machines without systemd.
pub fn cron_line(binary: &str, project_dir: &str, minute: u8, hour: u8) -> String {
    format!("{minute} {hour} * * * {binary} --dir {project_dir} cert renew --quiet")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use time::macros::datetime;

    fn info(names: &[&str], not_after: OffsetDateTime) -> CertificateInfo {
        CertificateInfo {
            names: names.iter().map(|name| (*name).to_owned()).collect(),
            issuer: "CN=Test CA".to_owned(),
            not_before: not_after - time::Duration::days(90),
            not_after,
            public_key_sha256: String::new(),
            self_signed: false,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn wanted_names_follow_the_toggles() {
        let mut config = crate::config::parse_str(
            "version: 1\nhostname: mail.example.com\nprimary_domain: example.com\ndomains:\n  - name: example.com\n  - name: example.org\n",
            std::path::Path::new("mailctl.yaml"),
        )
        .unwrap();
        assert_eq!(
            wanted_names(&config),
            names(&[
                "mail.example.com",
                "mta-sts.example.com",
                "autoconfig.example.com",
                "autodiscover.example.com",
                "mta-sts.example.org",
                "autoconfig.example.org",
                "autodiscover.example.org",
            ])
        );
        config.tls.names.autodiscover = false;
        config.tls.names.autoconfig = false;
        assert_eq!(
            wanted_names(&config),
            names(&[
                "mail.example.com",
                "mta-sts.example.com",
                "mta-sts.example.org"
            ])
        );
    }

    #[test]
    fn tls_settings_spell_as_documented() {
        let config = crate::config::parse_str(
            "version: 1\nhostname: mail.example.com\nprimary_domain: example.com\ndomains:\n  - name: example.com\ntls:\n  key_type: rsa-2048\n  challenge: dns-01\n  dns_update_server: 127.0.0.1:53\n  dns_update_key_file: /k\n  renew_before_days: 20\n  reuse_key: true\n  names: {autodiscover: false}\n",
            std::path::Path::new("mailctl.yaml"),
        )
        .unwrap();
        assert_eq!(config.tls.key_type, crate::config::KeyType::Rsa2048);
        assert_eq!(config.tls.challenge, Challenge::Dns01);
        assert_eq!(config.tls.renew_before_days, 20);
        assert!(config.tls.reuse_key && config.tls.names.mta_sts && !config.tls.names.autodiscover);
        let yaml = serde_saphyr::to_string(&config.tls).unwrap();
        for spelling in [
            "key_type: rsa-2048",
            "challenge: dns-01",
            "renew_before_days: 20",
        ] {
            assert!(yaml.contains(spelling), "{yaml}");
        }
        let defaults = serde_saphyr::to_string(&crate::config::Tls::default()).unwrap();
        for absent in [
            "key_type",
            "challenge",
            "names",
            "renew_before_days",
            "reuse_key",
        ] {
            assert!(
                !defaults.contains(absent),
                "defaults stay out of mailctl.yaml: {defaults}"
            );
        }
    }

    #[test]
    fn names_beyond_the_first_certificate_map_to_theirs() {
        let mut config = crate::config::parse_str(
            "version: 1\nhostname: mail.example.com\nprimary_domain: example.com\ndomains:\n  - name: example.com\n  - name: example.org\n",
            std::path::Path::new("mailctl.yaml"),
        )
        .unwrap();
        assert!(extra_certificate_names(&config).is_empty());
        config.tls.max_names_per_certificate = 4;
        let plans = certificate_plans(&config);
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[1].id, "mail.example.com-2");
        let extra = extra_certificate_names(&config);
        assert_eq!(extra.len(), 3);
        assert_eq!(extra["mta-sts.example.org"], "mail.example.com-2");
        assert!(!extra.contains_key("mta-sts.example.com"));
        config.tls.mode = crate::config::TlsMode::SelfSigned;
        assert!(extra_certificate_names(&config).is_empty());
    }

    #[test]
    fn more_than_one_hundred_names_are_split() {
        let all: Vec<String> = (0..250).map(|index| format!("n{index}.example")).collect();
        let plans = split_names(&all, MAX_NAMES_PER_CERTIFICATE);
        assert_eq!(plans.len(), 3);
        assert_eq!(plans[0].id, "n0.example");
        assert_eq!(plans[1].id, "n0.example-2");
        assert_eq!(plans[2].id, "n0.example-3");
        assert_eq!(plans[0].names.len(), 100);
        assert_eq!(plans[1].names.len(), 100);
        assert_eq!(plans[2].names.len(), 50);
        assert_eq!(plans[0].names[0], "n0.example");
        assert_eq!(plans[2].names[49], "n249.example");
        let few = split_names(&names(&["a.example", "b.example"]), 100);
        assert_eq!(few.len(), 1);
        assert_eq!(few[0].names, names(&["a.example", "b.example"]));
        assert_eq!(split_names(&all[..100], 100).len(), 1);
        assert_eq!(split_names(&all[..101], 100).len(), 2);
    }

    #[test]
    fn renewal_is_due_only_near_expiry_or_on_change() {
        let now = datetime!(2026-11-27 12:00 UTC);
        let wanted = names(&["mail.example.com", "mta-sts.example.com"]);
        let fresh = info(
            &["mail.example.com", "mta-sts.example.com"],
            now + time::Duration::days(89),
        );
        assert_eq!(
            renewal_due(Some(&fresh), &wanted, now, 30, None),
            Renewal::NotDue { days_left: 89 }
        );
        assert_eq!(
            renewal_due(None, &wanted, now, 30, None),
            Renewal::Due(DueReason::Missing)
        );
        let old = info(
            &["mail.example.com", "mta-sts.example.com"],
            now + time::Duration::days(29),
        );
        assert_eq!(
            renewal_due(Some(&old), &wanted, now, 30, None),
            Renewal::Due(DueReason::Expiring {
                days_left: 29,
                threshold_days: 30
            })
        );
        // A threshold beyond the lifetime forces a renewal.
        assert!(matches!(
            renewal_due(Some(&fresh), &wanted, now, 3650, None),
            Renewal::Due(DueReason::Expiring { .. })
        ));
        let fewer = info(&["mail.example.com"], now + time::Duration::days(80));
        assert_eq!(
            renewal_due(Some(&fewer), &wanted, now, 30, None),
            Renewal::Due(DueReason::NamesChanged {
                added: names(&["mta-sts.example.com"]),
                removed: vec![]
            })
        );
        // The server's renewal window (ARI) wins over the threshold.
        let start = now - time::Duration::hours(1);
        assert_eq!(
            renewal_due(Some(&fresh), &wanted, now, 30, Some(start)),
            Renewal::Due(DueReason::RenewalWindow { start })
        );
        assert_eq!(
            renewal_due(
                Some(&fresh),
                &wanted,
                now,
                30,
                Some(now + time::Duration::days(50))
            ),
            Renewal::NotDue { days_left: 89 }
        );
    }

    #[test]
    fn expiry_warning_within_fourteen_days() {
        let now = datetime!(2026-11-27 12:00 UTC);
        let cert = |days| info(&["mail.example.com"], now + time::Duration::days(days));
        assert_eq!(expiry_warning(&cert(15), now), None);
        let warning = expiry_warning(&cert(13), now).unwrap();
        assert!(warning.contains("expires in 13 day(s)"), "{warning}");
        assert!(warning.contains("mail.example.com"), "{warning}");
        let expired = expiry_warning(&cert(-1), now).unwrap();
        assert!(expired.contains("EXPIRED"), "{expired}");
    }

    #[test]
    fn hints_name_the_likely_cause() {
        let failure = |problem: &str, detail: &str| ChallengeFailure {
            name: "mail.example.com".to_owned(),
            challenge: "http-01".to_owned(),
            checked: "http://mail.example.com/.well-known/acme-challenge/x".to_owned(),
            problem: Some(format!("urn:ietf:params:acme:error:{problem}")),
            detail: Some(detail.to_owned()),
        };
        let hint = challenge_hint(
            &failure(
                "connection",
                "1.2.3.4: Fetching http://…: Timeout during connect",
            ),
            Challenge::Http01,
        );
        assert!(hint.contains("port 80"), "{hint}");
        let hint = challenge_hint(
            &failure(
                "unauthorized",
                "The key authorization file from the server did not match",
            ),
            Challenge::Http01,
        );
        assert!(hint.contains("A (or AAAA) record point"), "{hint}");
        let hint = challenge_hint(
            &failure("caa", "CAA record prevents issuance"),
            Challenge::Http01,
        );
        assert!(hint.contains("CAA"), "{hint}");
        let hint = challenge_hint(
            &failure("unauthorized", "No TXT record found"),
            Challenge::Dns01,
        );
        assert!(hint.contains("_acme-challenge.mail.example.com"), "{hint}");
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let detail = "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-11-28 10:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/";
        let hint = rate_limit_hint(Some(detail));
        assert!(
            hint.contains("retry after 2026-11-28 10:00:00 UTC;"),
            "{hint}"
        );
        assert!(rate_limit_hint(None).contains("wait"));
        assert!(is_rate_limited(Some(
            "urn:ietf:params:acme:error:rateLimited"
        )));
        assert!(!is_rate_limited(Some("urn:ietf:params:acme:error:caa")));
    }

    #[test]
    fn state_records_attempts() {
        let mut state = State::default();
        let plan = CertificatePlan {
            id: "mail.example.com".to_owned(),
            names: names(&["mail.example.com"]),
        };
        state.record(
            &plan,
            Attempt {
                at: "2026-11-27T12:00:00Z".to_owned(),
                result: "issued".to_owned(),
                message: "ok".to_owned(),
                validation: None,
            },
        );
        state.record(
            &plan,
            Attempt {
                at: "2026-11-28T12:00:00Z".to_owned(),
                result: "failed".to_owned(),
                message: "no".to_owned(),
                validation: None,
            },
        );
        let entry = &state.certificates["mail.example.com"];
        assert_eq!(entry.last_success.as_deref(), Some("2026-11-27T12:00:00Z"));
        assert_eq!(entry.last_attempt.as_ref().unwrap().result, "failed");
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
    }

    #[test]
    fn timer_and_cron() {
        let (service, timer) = systemd_units("/usr/local/bin/mailctl", "/srv/mail");
        assert!(service.contains("ExecStart=/usr/local/bin/mailctl --dir /srv/mail cert renew"));
        assert!(timer.contains("OnCalendar=daily"));
        assert_eq!(
            cron_line("/usr/local/bin/mailctl", "/srv/mail", 17, 3),
            "17 3 * * * /usr/local/bin/mailctl --dir /srv/mail cert renew --quiet"
        );
    }

    #[test]
    fn parses_a_certificate() {
        let (pem, _) =
            crate::tls::self_signed(&names(&["mail.example.com", "mta-sts.example.com"])).unwrap();
        let parsed = parse_certificate(pem.as_bytes()).unwrap();
        assert_eq!(
            parsed.names,
            names(&["mail.example.com", "mta-sts.example.com"])
        );
        assert!(parsed.issuer.contains("mail.example.com"));
        assert_eq!(parsed.public_key_sha256.len(), 64);
        assert!(parsed.self_signed);
    }
}
