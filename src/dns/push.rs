//! What `mailctl dns push` changes: the difference between the records
//! mailctl expects and those a zone's primary server holds, limited to the
//! records mailctl owns. Pure.
//!
//! Ownership, per owner name and type among the expected records:
//! A, AAAA, MX, SRV and CNAME sets are mailctl's (stale members are
//! deleted); a TXT record is mailctl's when it is of the same kind as the
//! expected one (`v=spf1`, `v=DMARC1`, `v=STSv1`, `v=TLSRPTv1`, or any TXT
//! under `_domainkey`), so a site-verification TXT beside SPF stays; CAA is
//! only ever added to, since other CAs may be allowed on purpose. Names
//! and types mailctl does not publish are never looked at.

use std::collections::BTreeMap;

use super::records::rdata;
use super::records::{DnsRecord, RecordType, RecordValue};
use super::update::Change;

/// The (name, type) sets to read from the server before deciding.
pub fn sets_to_read(expected: &[&DnsRecord]) -> Vec<(String, RecordType)> {
    let mut sets: Vec<(String, RecordType)> = expected
        .iter()
        .map(|record| (record.name.clone(), record.record_type()))
        .collect();
    sets.sort();
    sets.dedup();
    sets
}

/// The kind of a TXT text: its version tag, lower case (`v=spf1`).
fn txt_kind(text: &str) -> String {
    text.split([';', ' '])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// TXT data in master-file syntax (`"a" "b"`) to its joined text.
pub fn unquote(data: &str) -> String {
    let mut text = String::new();
    let mut inside = false;
    let mut chars = data.chars();
    let mut any_quote = false;
    while let Some(character) = chars.next() {
        match character {
            '"' => {
                inside = !inside;
                any_quote = true;
            }
            '\\' if inside => {
                let rest: String = chars.clone().take(3).collect();
                if rest.len() == 3 && rest.chars().all(|c| c.is_ascii_digit()) {
                    if let Ok(code) = rest.parse::<u8>() {
                        text.push(char::from(code));
                    }
                    for _ in 0..3 {
                        chars.next();
                    }
                } else if let Some(next) = chars.next() {
                    text.push(next);
                }
            }
            other if inside => text.push(other),
            _ => {}
        }
    }
    if any_quote {
        text
    } else {
        data.to_owned()
    }
}

/// A form of the data in which equal records compare equal.
fn normal(rtype: RecordType, data: &str) -> String {
    match rtype {
        RecordType::Txt => unquote(data),
        _ => data
            .split_whitespace()
            .map(|token| token.trim_end_matches('.').to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Whether mailctl owns `existing` in a set whose expected members are `expected`.
fn owns(rtype: RecordType, name: &str, expected: &[&DnsRecord], existing: &str) -> bool {
    match rtype {
        RecordType::Caa | RecordType::Ptr => false,
        RecordType::Txt => {
            if name.contains("._domainkey.") {
                return true;
            }
            let kind = txt_kind(&unquote(existing));
            expected.iter().any(|record| match &record.value {
                RecordValue::Txt(text) => txt_kind(text) == kind,
                _ => false,
            })
        }
        _ => true,
    }
}

/// The changes that make `existing` (data by name and type, as the server
/// returns it) hold `expected`, touching only what mailctl owns.
pub fn diff(
    expected: &[&DnsRecord],
    existing: &BTreeMap<(String, RecordType), Vec<String>>,
) -> Vec<Change> {
    let mut deletes = Vec::new();
    let mut adds = Vec::new();
    for (name, rtype) in sets_to_read(expected) {
        let wanted: Vec<&DnsRecord> = expected
            .iter()
            .copied()
            .filter(|record| record.name == name && record.record_type() == rtype)
            .collect();
        let present = existing
            .get(&(name.clone(), rtype))
            .cloned()
            .unwrap_or_default();
        let wanted_normal: Vec<String> = wanted
            .iter()
            .map(|record| normal(rtype, &rdata(&record.value)))
            .collect();
        let present_normal: Vec<String> = present.iter().map(|data| normal(rtype, data)).collect();
        for (data, data_normal) in present.iter().zip(&present_normal) {
            if !wanted_normal.contains(data_normal) && owns(rtype, &name, &wanted, data) {
                deletes.push(Change::DeleteRecord {
                    name: name.clone(),
                    rtype,
                    data: data.clone(),
                });
            }
        }
        for (record, record_normal) in wanted.iter().zip(&wanted_normal) {
            if !present_normal.contains(record_normal) {
                adds.push(Change::Add {
                    name: name.clone(),
                    ttl: record.ttl,
                    rtype,
                    data: rdata(&record.value),
                });
            }
        }
    }
    deletes.extend(adds);
    deletes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::DomainName;

    fn record(name: &str, value: RecordValue) -> DnsRecord {
        DnsRecord {
            domain: DomainName::parse("example.org").unwrap(),
            name: name.to_owned(),
            ttl: 3600,
            value,
            reason: String::new(),
        }
    }

    fn existing(
        entries: &[(&str, RecordType, &[&str])],
    ) -> BTreeMap<(String, RecordType), Vec<String>> {
        entries
            .iter()
            .map(|(name, rtype, data)| {
                (
                    ((*name).to_owned(), *rtype),
                    data.iter().map(|d| (*d).to_owned()).collect(),
                )
            })
            .collect()
    }

    fn expected() -> Vec<DnsRecord> {
        vec![
            record(
                "example.org",
                RecordValue::Mx {
                    preference: 10,
                    exchange: DomainName::parse("mail.example.org").unwrap(),
                },
            ),
            record("example.org", RecordValue::Txt("v=spf1 mx -all".into())),
            record(
                "_dmarc.example.org",
                RecordValue::Txt("v=DMARC1; p=quarantine".into()),
            ),
            record(
                "example.org",
                RecordValue::Caa {
                    flags: 0,
                    tag: "issue".into(),
                    value: "letsencrypt.org".into(),
                },
            ),
        ]
    }

    #[test]
    fn empty_zone_gets_everything() {
        let records = expected();
        let refs: Vec<&DnsRecord> = records.iter().collect();
        let changes = diff(&refs, &BTreeMap::new());
        assert_eq!(changes.len(), 4);
        assert!(changes
            .iter()
            .all(|change| matches!(change, Change::Add { .. })));
        assert_eq!(
            changes[0].to_string().split_whitespace().next(),
            Some("update")
        );
    }

    #[test]
    fn in_sync_zone_changes_nothing() {
        let records = expected();
        let refs: Vec<&DnsRecord> = records.iter().collect();
        let zone = existing(&[
            ("example.org", RecordType::Mx, &["10 mail.example.org."]),
            (
                "example.org",
                RecordType::Txt,
                &["\"v=spf1 mx -all\"", "\"google-site-verification=abc\""],
            ),
            (
                "_dmarc.example.org",
                RecordType::Txt,
                &["\"v=DMARC1; p=quarantine\""],
            ),
            (
                "example.org",
                RecordType::Caa,
                &["0 issue \"letsencrypt.org\"", "0 issue \"sectigo.com\""],
            ),
        ]);
        assert_eq!(diff(&refs, &zone), Vec::new());
    }

    #[test]
    fn stale_owned_records_are_replaced_others_kept() {
        let records = expected();
        let refs: Vec<&DnsRecord> = records.iter().collect();
        let zone = existing(&[
            ("example.org", RecordType::Mx, &["10 mx.other.net."]),
            (
                "example.org",
                RecordType::Txt,
                &[
                    "\"v=spf1 ip4:192.0.2.1 -all\"",
                    "\"google-site-verification=abc\"",
                ],
            ),
            ("example.org", RecordType::Caa, &["0 issue \"sectigo.com\""]),
        ]);
        let changes = diff(&refs, &zone);
        let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(&"update delete example.org. IN MX 10 mx.other.net.".to_owned()),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"update delete example.org. IN TXT \"v=spf1 ip4:192.0.2.1 -all\"".to_owned()
            ),
            "{text:?}"
        );
        assert!(
            !text
                .iter()
                .any(|line| line.contains("google-site-verification") || line.contains("sectigo")),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"update add example.org. 3600 IN CAA 0 issue \"letsencrypt.org\"".to_owned()
            ),
            "{text:?}"
        );
        // Deletions come first, so a replaced set never holds both.
        assert!(matches!(changes[0], Change::DeleteRecord { .. }));
    }

    #[test]
    fn unquotes_split_strings() {
        assert_eq!(
            unquote("\"v=DKIM1; k=rsa; \" \"p=AB\""),
            "v=DKIM1; k=rsa; p=AB"
        );
        assert_eq!(unquote("\"a\\\"b\\059\""), "a\"b;");
    }
}
