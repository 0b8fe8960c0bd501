//! Verdicts on DNS answers: each function takes what was expected (from the
//! configuration, via `dns::expected_records`) and what the resolver
//! answered, and returns a finding with the exact record to publish. Pure.

use std::net::IpAddr;

use super::spf::{self, Outcome};
use super::{dmarc, Check, Finding, Status};

/// A DNS answer as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Records(Vec<T>),
    /// NXDOMAIN or no records of the type.
    Empty,
    /// The lookup failed (timeout, SERVFAIL, refused).
    Failed(String),
}

impl<T> Answer<T> {
    pub fn records(&self) -> &[T] {
        match self {
            Answer::Records(records) => records,
            _ => &[],
        }
    }
}

fn failed(check: Check, subject: &str, what: &str, error: &str) -> Finding {
    Finding::new(
        check,
        subject,
        Status::Error,
        format!("the lookup of {what} failed: {error}"),
    )
    .fix("check that the resolver answers (`--resolver`), then run `mailctl doctor` again")
}

/// A zone-file line, as `mailctl dns` prints it.
pub fn record_line(name: &str, rtype: &str, data: &str) -> String {
    format!("{name}. 3600 IN {rtype} {data}")
}

/// The domain's MX must name the server's hostname: the expected record
/// is `preference hostname.`.
pub fn mx(
    domain: &str,
    preference: u16,
    hostname: &str,
    answer: &Answer<(u16, String)>,
) -> Finding {
    let check = Check::DnsMx;
    let expected = format!("{preference} {hostname}.");
    let fix = format!(
        "publish `{}` and remove MX records naming other hosts",
        record_line(domain, "MX", &expected)
    );
    let records = match answer {
        Answer::Failed(error) => return failed(check, domain, "MX", error),
        Answer::Empty => {
            return Finding::new(
                check,
                domain,
                Status::Error,
                "no MX record: other servers cannot deliver mail for the domain",
            )
            .expected(expected)
            .fix(fix)
        }
        Answer::Records(records) => records,
    };
    let found = records
        .iter()
        .map(|(preference, exchange)| format!("{preference} {exchange}."))
        .collect::<Vec<_>>()
        .join(", ");
    let ours = records
        .iter()
        .any(|(_, exchange)| exchange.eq_ignore_ascii_case(hostname));
    let others = records
        .iter()
        .any(|(_, exchange)| !exchange.eq_ignore_ascii_case(hostname));
    match (ours, others) {
        (true, false) => {
            Finding::ok(check, domain, format!("MX points at `{hostname}`")).found(found)
        }
        (true, true) => Finding::new(
            check,
            domain,
            Status::Warning,
            format!("MX names `{hostname}` and other hosts: mail may be delivered elsewhere"),
        )
        .found(found)
        .expected(expected)
        .fix(fix),
        _ => Finding::new(
            check,
            domain,
            Status::Error,
            format!("MX does not point at `{hostname}`"),
        )
        .found(found)
        .expected(expected)
        .fix(fix),
    }
}

/// The hostname's A and AAAA must equal the server's public addresses.
pub fn addresses(hostname: &str, expected: &[IpAddr], found: &Answer<IpAddr>) -> Finding {
    let check = Check::DnsAddress;
    if let Answer::Failed(error) = found {
        return failed(check, hostname, "A/AAAA", error);
    }
    let mut found_list: Vec<IpAddr> = found.records().to_vec();
    found_list.sort();
    found_list.dedup();
    let mut expected_list = expected.to_vec();
    expected_list.sort();
    let show = |list: &[IpAddr]| {
        if list.is_empty() {
            "(none)".to_owned()
        } else {
            list.iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    if expected_list.is_empty() {
        return Finding::new(
            check,
            hostname,
            Status::Warning,
            "the server's public address is not known, so the A/AAAA records cannot be checked",
        )
        .found(show(&found_list))
        .fix(
            "set `network.public_addresses` in mailctl.yaml (or `mailctl init --public-address`)",
        );
    }
    if found_list == expected_list {
        return Finding::ok(
            check,
            hostname,
            format!("resolves to {}", show(&found_list)),
        );
    }
    let lines: Vec<String> = expected_list
        .iter()
        .map(|address| {
            record_line(
                hostname,
                if address.is_ipv4() { "A" } else { "AAAA" },
                &address.to_string(),
            )
        })
        .collect();
    Finding::new(
        check,
        hostname,
        Status::Error,
        "the hostname's addresses are not the server's public addresses",
    )
    .found(show(&found_list))
    .expected(show(&expected_list))
    .fix(format!("publish exactly:\n{}", lines.join("\n")))
}

/// The PTR of `address` must be the hostname, and the hostname must
/// resolve back to the address (forward-confirmed reverse DNS).
pub fn ptr(
    address: IpAddr,
    hostname: &str,
    ptr: &Answer<String>,
    forward: &Answer<IpAddr>,
) -> Finding {
    let check = Check::DnsPtr;
    let subject = address.to_string();
    let fix = format!(
        "ask the provider of {address} (its control panel's \"reverse DNS\") to set the PTR to `{hostname}`: {}",
        record_line(&crate::dns::reverse_name(address), "PTR", &format!("{hostname}."))
    );
    let names = match ptr {
        Answer::Failed(error) => return failed(check, &subject, "the PTR", error),
        Answer::Empty => {
            return Finding::new(
                check,
                subject,
                Status::Error,
                "no reverse DNS (PTR): many receivers reject mail from such addresses",
            )
            .expected(format!("{hostname}."))
            .fix(fix)
        }
        Answer::Records(names) => names,
    };
    let found = names
        .iter()
        .map(|name| format!("{name}."))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() != 1 || !names.iter().all(|name| name.eq_ignore_ascii_case(hostname)) {
        return Finding::new(
            check,
            subject,
            Status::Error,
            format!("the PTR is not `{hostname}`"),
        )
        .found(found)
        .expected(format!("{hostname}."))
        .fix(fix);
    }
    if !forward.records().contains(&address) {
        return Finding::new(
            check,
            subject,
            Status::Error,
            format!(
                "the PTR names `{hostname}`, but `{hostname}` does not resolve back to {address}"
            ),
        )
        .found(found)
        .expected(format!("`{hostname}` with an address record for {address}"))
        .fix(record_line(
            hostname,
            if address.is_ipv4() { "A" } else { "AAAA" },
            &address.to_string(),
        ));
    }
    Finding::ok(
        check,
        subject,
        format!("PTR `{hostname}`, which resolves back (forward-confirmed)"),
    )
}

/// SPF: one record, valid, passing every public address, within the limit.
/// `evaluations` holds one finished evaluation per address.
pub fn spf(
    domain: &str,
    txt: &Answer<String>,
    evaluations: &[(IpAddr, spf::Evaluation)],
    expected: &str,
) -> Finding {
    let check = Check::DnsSpf;
    let fix = format!(
        "publish one SPF record: {}",
        record_line(domain, "TXT", &format!("\"{expected}\""))
    );
    let records: Vec<&String> = match txt {
        Answer::Failed(error) => return failed(check, domain, "TXT", error),
        other => other
            .records()
            .iter()
            .filter(|text| spf::is_spf(text))
            .collect(),
    };
    let found = records
        .iter()
        .map(|text| format!("\"{text}\""))
        .collect::<Vec<_>>()
        .join(", ");
    match records.as_slice() {
        [] => {
            return Finding::new(check, domain, Status::Error, "no SPF record")
                .expected(expected.to_owned())
                .fix(fix)
        }
        [_] => {}
        _ => {
            return Finding::new(
                check,
                domain,
                Status::Error,
                format!(
                    "{} SPF records: receivers treat that as a permanent error (RFC 7208 §4.5)",
                    records.len()
                ),
            )
            .found(found)
            .expected(expected.to_owned())
            .fix(format!(
                "keep only one: {}",
                record_line(domain, "TXT", &format!("\"{expected}\""))
            ))
        }
    }
    if let Some(Err(error)) = records.first().map(|text| spf::parse(text)) {
        return Finding::new(
            check,
            domain,
            Status::Error,
            format!("the SPF record is invalid: {error}"),
        )
        .found(found)
        .expected(expected.to_owned())
        .fix(fix);
    }
    let mut most_lookups = 0;
    for (address, evaluation) in evaluations {
        most_lookups = most_lookups.max(evaluation.lookups);
        let outcome = match &evaluation.outcome {
            Ok(outcome) => outcome.clone(),
            Err(_) => {
                Outcome::TempError("the evaluation needed more lookups than were made".to_owned())
            }
        };
        match outcome {
            Outcome::Pass => {}
            Outcome::PermError(reason) => {
                return Finding::new(
                    check,
                    domain,
                    Status::Error,
                    format!("SPF evaluation fails: {reason}"),
                )
                .found(found)
                .expected(expected.to_owned())
                .fix(fix)
            }
            Outcome::TempError(reason) => {
                return Finding::new(
                    check,
                    domain,
                    Status::Warning,
                    format!("SPF could not be evaluated: {reason}"),
                )
                .found(found)
            }
            other => {
                return Finding::new(
                    check,
                    domain,
                    Status::Error,
                    format!(
                        "SPF does not authorise the server's address {address} (result: {})",
                        outcome_name(&other)
                    ),
                )
                .found(found)
                .expected(expected.to_owned())
                .fix(fix)
            }
        }
    }
    Finding::ok(
        check,
        domain,
        format!(
            "one valid SPF record authorising the server, {most_lookups} of {} DNS lookups",
            spf::LOOKUP_LIMIT
        ),
    )
    .found(found)
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::SoftFail => "softfail",
        Outcome::Neutral => "neutral",
        Outcome::None => "none",
        Outcome::PermError(_) => "permerror",
        Outcome::TempError(_) => "temperror",
    }
}

/// The `p=` value of a DKIM record, without spaces.
pub fn dkim_key(text: &str) -> Option<String> {
    text.split(';').find_map(|tag| {
        let (name, value) = tag.split_once('=')?;
        (name.trim() == "p").then(|| value.split_whitespace().collect::<String>())
    })
}

/// A selector's TXT must carry the key on disk.
pub fn dkim(domain: &str, selector: &str, expected_text: &str, found: &Answer<String>) -> Finding {
    let check = Check::DnsDkim;
    let name = format!("{selector}._domainkey.{domain}");
    let fix = format!(
        "publish {} (the full value: `mailctl dns {domain}`)",
        record_line(
            &name,
            "TXT",
            &format!(
                "\"{}…\"",
                expected_text.chars().take(40).collect::<String>()
            )
        )
    );
    let texts = match found {
        Answer::Failed(error) => return failed(check, &name, "the DKIM key", error),
        Answer::Empty => {
            return Finding::new(
                check,
                name,
                Status::Error,
                "no DKIM key published: receivers cannot verify the signatures",
            )
            .fix(fix)
        }
        Answer::Records(texts) => texts,
    };
    let expected_key = dkim_key(expected_text).unwrap_or_default();
    let keys: Vec<String> = texts.iter().filter_map(|text| dkim_key(text)).collect();
    let short = |key: &str| {
        if key.len() > 24 {
            format!("p={}…{}", &key[..12], &key[key.len() - 8..])
        } else {
            format!("p={key}")
        }
    };
    if keys.len() == 1 && keys.first() == Some(&expected_key) {
        return Finding::ok(check, name, "the published key matches the key on disk");
    }
    Finding::new(
        check,
        name,
        Status::Error,
        "the published key is not the key mailctl signs with: signatures fail",
    )
    .found(
        keys.iter()
            .map(|key| short(key))
            .collect::<Vec<_>>()
            .join(", "),
    )
    .expected(short(&expected_key))
    .fix(fix)
}

/// DMARC: one valid record at `_dmarc.<domain>`.
pub fn dmarc(domain: &str, expected_text: &str, found: &Answer<String>) -> Finding {
    let check = Check::DnsDmarc;
    let name = format!("_dmarc.{domain}");
    let fix = format!(
        "publish {}",
        record_line(&name, "TXT", &format!("\"{expected_text}\""))
    );
    let records: Vec<&String> = match found {
        Answer::Failed(error) => return failed(check, &name, "DMARC", error),
        other => other
            .records()
            .iter()
            .filter(|text| dmarc::is_dmarc(text))
            .collect(),
    };
    match records.as_slice() {
        [] => Finding::new(check, name, Status::Error, "no DMARC record: receivers such as Gmail and Yahoo require one from bulk senders, and spoofing goes unchecked")
            .expected(expected_text.to_owned())
            .fix(fix),
        [one] => match dmarc::parse(one) {
            Ok(record) => {
                let finding = Finding::ok(check, name, format!("valid, p={}", record.policy)).found((*one).clone());
                if record.policy == "none" {
                    Finding { status: Status::Info, summary: "valid, but p=none only monitors: spoofed mail is still delivered".to_owned(), ..finding }
                } else {
                    finding
                }
            }
            Err(error) => Finding::new(check, name, Status::Error, format!("invalid DMARC record: {error}")).found((*one).clone()).expected(expected_text.to_owned()).fix(fix),
        },
        _ => Finding::new(check, name, Status::Error, "more than one DMARC record: receivers ignore them all (RFC 7489 §6.6.3)")
            .found(records.iter().map(|text| format!("\"{text}\"")).collect::<Vec<_>>().join(", "))
            .fix(format!("keep only: {}", record_line(&format!("_dmarc.{domain}"), "TXT", &format!("\"{expected_text}\"")))),
    }
}

/// A TXT record expected verbatim (`_mta-sts`, `_smtp._tls`): `prefix`
/// identifies the kind (`v=STSv1`, `v=TLSRPTv1`).
pub fn exact_txt(
    check: Check,
    name: &str,
    prefix: &str,
    expected_text: &str,
    found: &Answer<String>,
    why: &str,
) -> Finding {
    let fix = format!(
        "publish {}",
        record_line(name, "TXT", &format!("\"{expected_text}\""))
    );
    let records: Vec<&String> = match found {
        Answer::Failed(error) => return failed(check, name, prefix, error),
        other => other
            .records()
            .iter()
            .filter(|text| text.starts_with(prefix))
            .collect(),
    };
    let normal = |text: &str| {
        text.split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match records.as_slice() {
        [] => Finding::new(
            check,
            name,
            Status::Error,
            format!("no `{prefix}` record: {why}"),
        )
        .expected(expected_text.to_owned())
        .fix(fix),
        [one] if normal(one) == normal(expected_text) => {
            Finding::ok(check, name, "published as expected")
        }
        _ => Finding::new(
            check,
            name,
            Status::Error,
            "the record differs from what mailctl expects",
        )
        .found(
            records
                .iter()
                .map(|text| format!("\"{text}\""))
                .collect::<Vec<_>>()
                .join(", "),
        )
        .expected(expected_text.to_owned())
        .fix(fix),
    }
}

/// The MTA-STS policy served over HTTPS must be valid and name the MX host.
pub fn mta_sts_policy(
    domain: &str,
    hostname: &str,
    expected_policy: &str,
    served: &Result<String, String>,
) -> Finding {
    let check = Check::DnsMtaStsPolicy;
    let subject = format!("https://mta-sts.{domain}/.well-known/mta-sts.txt");
    let body = match served {
        Ok(body) => body,
        Err(error) => {
            return Finding::new(check, subject, Status::Error, format!("the policy could not be fetched: {error}"))
                .fix(format!("check that `mta-sts.{domain}` resolves to this server, that `web` is running, and that its certificate covers the name"))
        }
    };
    let field = |name: &str| -> Vec<String> {
        body.lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim().to_owned())
            .collect()
    };
    let found = body.replace("\r\n", "; ").trim_end_matches("; ").to_owned();
    let expected = expected_policy
        .replace("\r\n", "; ")
        .trim_end_matches("; ")
        .to_owned();
    if field("version") != ["STSv1"] || field("mode").len() != 1 || field("max_age").len() != 1 {
        return Finding::new(
            check,
            subject,
            Status::Error,
            "the served policy is not a valid STSv1 policy (RFC 8461 §3.2)",
        )
        .found(found)
        .expected(expected)
        .fix("run `mailctl render` and `mailctl up`");
    }
    let patterns = field("mx");
    let covered = patterns
        .iter()
        .any(|pattern| super::certificate::covers(pattern, hostname));
    if !covered {
        return Finding::new(check, subject, Status::Error, format!("the policy does not allow the MX host `{hostname}`: senders that enforce it will not deliver"))
            .found(found)
            .expected(expected)
            .fix("run `mailctl render` and `mailctl up`");
    }
    Finding::ok(
        check,
        subject,
        format!(
            "valid, mode {}, allows `{hostname}`",
            field("mode").join("")
        ),
    )
    .found(found)
}

/// CAA: absent (any CA may issue) or allowing the ACME CA.
pub fn caa(domain: &str, acme_ca: Option<&str>, found: &Answer<(String, String)>) -> Finding {
    let check = Check::DnsCaa;
    let records = match found {
        Answer::Failed(error) => return failed(check, domain, "CAA", error),
        other => other.records(),
    };
    let issuers: Vec<&str> = records
        .iter()
        .filter(|(tag, _)| tag.eq_ignore_ascii_case("issue"))
        .map(|(_, value)| value.split(';').next().unwrap_or("").trim())
        .collect();
    let found_text = records
        .iter()
        .map(|(tag, value)| format!("0 {tag} \"{value}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(ca) = acme_ca else {
        return Finding::ok(
            check,
            domain,
            "certificates do not come from an ACME CA; CAA is not checked",
        );
    };
    if issuers.is_empty() {
        return Finding::new(
            check,
            domain,
            Status::Info,
            "no CAA `issue` record: any CA may issue for the domain",
        )
        .found(if found_text.is_empty() {
            "(none)".to_owned()
        } else {
            found_text
        })
        .fix(format!(
            "to allow only {ca}: {}",
            record_line(domain, "CAA", &format!("0 issue \"{ca}\""))
        ));
    }
    if issuers.iter().any(|issuer| issuer.eq_ignore_ascii_case(ca)) {
        return Finding::ok(check, domain, format!("CAA allows {ca}")).found(found_text);
    }
    Finding::new(
        check,
        domain,
        Status::Error,
        format!("CAA does not allow {ca}: certificate issuance and renewal will fail"),
    )
    .found(found_text)
    .expected(format!("0 issue \"{ca}\""))
    .fix(format!(
        "add {}",
        record_line(domain, "CAA", &format!("0 issue \"{ca}\""))
    ))
}

/// TLSA (DANE, RFC 7671) where published: a record must match the served key.
/// `records`: (usage, selector, matching, data); `matches` tells, per
/// record, whether it matched the served chain.
pub fn tlsa(name: &str, found: &Answer<(u8, u8, u8, Vec<u8>)>, matches: &[bool]) -> Finding {
    let check = Check::DnsTlsa;
    match found {
        Answer::Failed(error) => failed(check, name, "TLSA", error),
        Answer::Empty => Finding::ok(check, name, "no TLSA records published (DANE is optional)"),
        Answer::Records(records) => {
            let found_text = records
                .iter()
                .map(|(u, s, m, data)| format!("{u} {s} {m} {}", hex::encode(data)))
                .collect::<Vec<_>>()
                .join(", ");
            if matches.iter().any(|matched| *matched) {
                Finding::ok(check, name, "a TLSA record matches the served certificate")
                    .found(found_text)
            } else {
                Finding::new(check, name, Status::Error, "no TLSA record matches the served certificate: DANE senders will not deliver")
                    .found(found_text)
                    .fix("publish `3 1 1 <SHA-256 of the served key>` before changing keys, or remove the stale TLSA records")
            }
        }
    }
}

/// Whether answers are DNSSEC-validated (the AD bit from the resolver).
pub fn dnssec(domain: &str, authenticated: &Result<bool, String>) -> Finding {
    let check = Check::DnsDnssec;
    match authenticated {
        Ok(true) => Finding::ok(check, domain, "answers are DNSSEC-validated"),
        Ok(false) => Finding::new(check, domain, Status::Info, "answers are not DNSSEC-validated: the zone is unsigned or the resolver does not validate")
            .fix("sign the zone at your DNS provider (needed for DANE/TLSA)"),
        Err(error) => Finding::new(check, domain, Status::Info, format!("DNSSEC status unknown: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_verdicts() {
        let ok = mx(
            "example.org",
            10,
            "mail.example.org",
            &Answer::Records(vec![(10, "mail.example.org".into())]),
        );
        assert_eq!(ok.status, Status::Ok);
        let wrong = mx(
            "example.org",
            10,
            "mail.example.org",
            &Answer::Records(vec![(10, "mx.other.net".into())]),
        );
        assert_eq!(wrong.status, Status::Error);
        assert!(wrong
            .fix
            .unwrap()
            .contains("example.org. 3600 IN MX 10 mail.example.org."));
        assert_eq!(
            mx("example.org", 10, "mail.example.org", &Answer::Empty).status,
            Status::Error
        );
        assert_eq!(
            mx("example.org", 10, "m", &Answer::Failed("timeout".into())).status,
            Status::Error
        );
    }

    #[test]
    fn address_and_ptr_verdicts() {
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            addresses("mail.example.org", &[addr], &Answer::Records(vec![addr])).status,
            Status::Ok
        );
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let wrong = addresses("mail.example.org", &[addr], &Answer::Records(vec![other]));
        assert!(wrong
            .fix
            .unwrap()
            .contains("mail.example.org. 3600 IN A 192.0.2.1"));
        let good = ptr(
            addr,
            "mail.example.org",
            &Answer::Records(vec!["mail.example.org".into()]),
            &Answer::Records(vec![addr]),
        );
        assert_eq!(good.status, Status::Ok);
        let mismatch = ptr(
            addr,
            "mail.example.org",
            &Answer::Records(vec!["host.provider.net".into()]),
            &Answer::Records(vec![addr]),
        );
        assert_eq!(mismatch.status, Status::Error);
        assert!(mismatch
            .fix
            .unwrap()
            .contains("1.2.0.192.in-addr.arpa. 3600 IN PTR mail.example.org."));
        let unconfirmed = ptr(
            addr,
            "mail.example.org",
            &Answer::Records(vec!["mail.example.org".into()]),
            &Answer::Records(vec![other]),
        );
        assert!(unconfirmed.summary.contains("resolve back"));
    }

    #[test]
    fn spf_verdicts() {
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        let pass = spf::Evaluation {
            outcome: Ok(Outcome::Pass),
            lookups: 1,
        };
        let one = Answer::Records(vec!["v=spf1 mx -all".to_owned()]);
        assert_eq!(
            spf(
                "example.org",
                &one,
                &[(addr, pass.clone())],
                "v=spf1 mx -all"
            )
            .status,
            Status::Ok
        );
        let two = Answer::Records(vec![
            "v=spf1 mx -all".to_owned(),
            "v=spf1 a -all".to_owned(),
        ]);
        assert!(spf("example.org", &two, &[(addr, pass)], "v=spf1 mx -all")
            .summary
            .contains("2 SPF records"));
        let fail = spf::Evaluation {
            outcome: Ok(Outcome::Fail),
            lookups: 0,
        };
        let finding = spf(
            "example.org",
            &Answer::Records(vec!["v=spf1 ip4:198.51.100.1 -all".into()]),
            &[(addr, fail)],
            "v=spf1 mx -all",
        );
        assert!(finding.summary.contains("does not authorise"));
        assert!(finding.fix.unwrap().contains("\"v=spf1 mx -all\""));
        assert_eq!(
            spf("example.org", &Answer::Empty, &[], "v=spf1 mx -all").summary,
            "no SPF record"
        );
    }

    #[test]
    fn dkim_and_dmarc_verdicts() {
        let expected = "v=DKIM1; k=rsa; p=ABCDEF";
        assert_eq!(
            dkim(
                "example.org",
                "s1",
                expected,
                &Answer::Records(vec!["v=DKIM1; k=rsa; p=ABC DEF".into()])
            )
            .status,
            Status::Ok
        );
        assert_eq!(
            dkim(
                "example.org",
                "s1",
                expected,
                &Answer::Records(vec!["v=DKIM1; k=rsa; p=XYZ".into()])
            )
            .status,
            Status::Error
        );
        let missing = dmarc("example.org", "v=DMARC1; p=quarantine", &Answer::Empty);
        assert_eq!(missing.status, Status::Error);
        assert!(missing
            .fix
            .unwrap()
            .contains("_dmarc.example.org. 3600 IN TXT \"v=DMARC1; p=quarantine\""));
        assert_eq!(
            dmarc(
                "example.org",
                "v=DMARC1; p=quarantine",
                &Answer::Records(vec!["v=DMARC1; p=reject".into()])
            )
            .status,
            Status::Ok
        );
        assert_eq!(
            dmarc(
                "example.org",
                "x",
                &Answer::Records(vec!["v=DMARC1; p=bogus".into()])
            )
            .status,
            Status::Error
        );
    }

    #[test]
    fn mta_sts_caa_tlsa() {
        let policy =
            "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n";
        assert_eq!(
            mta_sts_policy(
                "example.org",
                "mail.example.org",
                policy,
                &Ok(policy.into())
            )
            .status,
            Status::Ok
        );
        let other = policy.replace("mail.example.org", "mx.other.net");
        assert_eq!(
            mta_sts_policy("example.org", "mail.example.org", policy, &Ok(other)).status,
            Status::Error
        );
        assert_eq!(
            caa(
                "example.org",
                Some("letsencrypt.org"),
                &Answer::Records(vec![("issue".into(), "letsencrypt.org".into())])
            )
            .status,
            Status::Ok
        );
        assert_eq!(
            caa(
                "example.org",
                Some("letsencrypt.org"),
                &Answer::Records(vec![("issue".into(), "sectigo.com".into())])
            )
            .status,
            Status::Error
        );
        assert_eq!(
            tlsa("_25._tcp.mail.example.org", &Answer::Empty, &[]).status,
            Status::Ok
        );
        assert_eq!(
            tlsa(
                "_25._tcp.x",
                &Answer::Records(vec![(3, 1, 1, vec![1])]),
                &[false]
            )
            .status,
            Status::Error
        );
        let txt = Answer::Records(vec!["v=STSv1; id=abc".to_owned()]);
        assert_eq!(
            exact_txt(
                Check::DnsMtaSts,
                "_mta-sts.example.org",
                "v=STSv1",
                "v=STSv1; id=abc",
                &txt,
                ""
            )
            .status,
            Status::Ok
        );
        assert_eq!(
            exact_txt(
                Check::DnsMtaSts,
                "_mta-sts.example.org",
                "v=STSv1",
                "v=STSv1; id=def",
                &txt,
                ""
            )
            .status,
            Status::Error
        );
    }
}
