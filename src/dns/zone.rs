//! Writing expected DNS records out: a BIND master file (RFC 1035 §5) that
//! DNS providers import, an aligned table for people, and JSON for scripts.

use serde_json::json;

use super::records::{rdata, DnsRecord, Note, DEFAULT_TTL};
use crate::names::DomainName;

/// A zone-file comment on one line.
fn comment(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("; {flat}")
}

/// The records and notes of `domain` as a master file: `$ORIGIN` and
/// `$TTL` first, every record absolute and preceded by its reason, notes as
/// comments at the end. Records and notes of other domains are left out. A
/// record whose name lies outside the zone (the server's address when the
/// hostname is in another zone) is written as a comment. No SOA or NS is
/// written: the DNS provider owns those (see [`with_soa_ns`]).
pub fn to_zone(domain: &DomainName, records: &[DnsRecord], notes: &[Note]) -> String {
    let records: Vec<&DnsRecord> = records
        .iter()
        .filter(|record| &record.domain == domain)
        .collect();
    let notes: Vec<&Note> = notes.iter().filter(|note| &note.domain == domain).collect();
    let width = records
        .iter()
        .filter(|record| record.is_within(domain))
        .map(|record| record.fqdn().len())
        .max()
        .unwrap_or(0);

    let mut zone = String::new();
    zone.push_str(&comment(&format!(
        "Mail DNS records for {}.",
        domain.display_both()
    )));
    zone.push('\n');
    zone.push_str(&comment(&format!(
        "Import into the zone of {domain} at its DNS provider, which keeps its own SOA and NS records."
    )));
    zone.push('\n');
    zone.push_str(&format!("$ORIGIN {domain}.\n$TTL {DEFAULT_TTL}\n"));
    for record in &records {
        zone.push('\n');
        zone.push_str(&comment(&record.reason));
        zone.push('\n');
        if record.is_within(domain) {
            zone.push_str(&record_line(record, width));
        } else {
            zone.push_str(&comment(&format!(
                "`{}` is outside this zone: publish this record in the zone that holds it",
                record.name
            )));
            zone.push('\n');
            zone.push_str(&comment(&record_line(record, 0)));
        }
        zone.push('\n');
    }
    if !notes.is_empty() {
        zone.push_str("\n; Notes:\n");
        for note in &notes {
            zone.push_str(&comment(&format!("- {}", note.message)));
            zone.push('\n');
            if let Some(record) = &note.record {
                zone.push_str(&comment(&format!("    {}", record_line(record, 0))));
                zone.push('\n');
            }
        }
    }
    zone
}

/// `name ttl IN type rdata`, the name padded to `width`.
fn record_line(record: &DnsRecord, width: usize) -> String {
    format!(
        "{:<width$} {} IN {:<5} {}",
        record.fqdn(),
        record.ttl,
        record.record_type().as_str(),
        rdata(&record.value)
    )
}

/// `zone` with an SOA and an NS record for `domain` added after `$TTL`,
/// so that `named-checkzone` or a test name server loads it. An NS name
/// inside the zone also needs an address record, which the caller appends.
pub fn with_soa_ns(zone: &str, domain: &DomainName, ns_name: &str) -> String {
    let ns_name = ns_name.trim().trim_end_matches('.');
    let records = format!(
        "{domain}. {DEFAULT_TTL} IN SOA {ns_name}. hostmaster.{domain}. 1 7200 900 1209600 300\n\
         {domain}. {DEFAULT_TTL} IN NS {ns_name}.\n"
    );
    let mut output = String::with_capacity(zone.len() + records.len());
    let mut inserted = false;
    for line in zone.split_inclusive('\n') {
        output.push_str(line);
        if !inserted && line.starts_with("$TTL") {
            if !line.ends_with('\n') {
                output.push('\n');
            }
            output.push_str(&records);
            inserted = true;
        }
    }
    if !inserted {
        output = format!("$TTL {DEFAULT_TTL}\n{records}{zone}");
    }
    output
}

const VALUE_WIDTH: usize = 48;
const REASON_WIDTH: usize = 60;
const NOTE_WIDTH: usize = 100;

/// An aligned table: per domain (Unicode form first for IDNs) its records
/// with name, type, value and reason, long values and reasons wrapped, and
/// the Unicode form of an internationalised name on the line below it.
pub fn to_table(records: &[DnsRecord], notes: &[Note]) -> String {
    let mut domains: Vec<&DomainName> = Vec::new();
    for domain in records
        .iter()
        .map(|record| &record.domain)
        .chain(notes.iter().map(|note| &note.domain))
    {
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }

    let rows: Vec<Row> = records.iter().map(Row::new).collect();
    let name_width = rows
        .iter()
        .flat_map(|row| row.name.iter())
        .map(|line| line.chars().count())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    let value_width = rows
        .iter()
        .flat_map(|row| row.value.iter())
        .map(|line| line.chars().count())
        .max()
        .unwrap_or(0)
        .max("VALUE".len());

    let mut table = String::new();
    for (index, domain) in domains.iter().enumerate() {
        if index > 0 {
            table.push('\n');
        }
        table.push_str(&domain.display_both());
        table.push('\n');
        let domain_rows: Vec<&Row> = rows.iter().filter(|row| row.domain == **domain).collect();
        if !domain_rows.is_empty() {
            push_line(
                &mut table,
                ["NAME", "TYPE", "VALUE", "REASON"],
                name_width,
                value_width,
            );
            for row in domain_rows {
                let height = row.name.len().max(row.value.len()).max(row.reason.len());
                for line in 0..height {
                    let cell =
                        |cells: &[String]| cells.get(line).map_or("", String::as_str).to_owned();
                    let kind = if line == 0 { row.kind } else { "" };
                    push_line(
                        &mut table,
                        [
                            &cell(&row.name),
                            kind,
                            &cell(&row.value),
                            &cell(&row.reason),
                        ],
                        name_width,
                        value_width,
                    );
                }
            }
        }
        for note in notes.iter().filter(|note| &note.domain == *domain) {
            for (line, text) in wrap(&note.message, NOTE_WIDTH).iter().enumerate() {
                let prefix = if line == 0 { "  note: " } else { "        " };
                table.push_str(&format!("{prefix}{text}\n"));
            }
            if let Some(record) = &note.record {
                table.push_str(&format!(
                    "        {} {} {}\n",
                    record.fqdn(),
                    record.record_type().as_str(),
                    record.value.text()
                ));
            }
        }
    }
    table
}

/// One record's cells, each a list of lines.
struct Row {
    domain: DomainName,
    name: Vec<String>,
    kind: &'static str,
    value: Vec<String>,
    reason: Vec<String>,
}

impl Row {
    fn new(record: &DnsRecord) -> Row {
        let mut name = vec![record.name.clone()];
        let unicode = record.unicode_name();
        if unicode != record.name {
            name.push(format!("({unicode})"));
        }
        Row {
            domain: record.domain.clone(),
            name,
            kind: record.record_type().as_str(),
            value: wrap(&record.value.text(), VALUE_WIDTH),
            reason: wrap(&record.reason, REASON_WIDTH),
        }
    }
}

fn push_line(table: &mut String, cells: [&str; 4], name_width: usize, value_width: usize) {
    let [name, kind, value, reason] = cells;
    let line = format!(
        "  {}  {}  {}  {reason}",
        pad(name, name_width),
        pad(kind, 5),
        pad(value, value_width)
    );
    table.push_str(line.trim_end());
    table.push('\n');
}

fn pad(text: &str, width: usize) -> String {
    let length = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(length)))
}

/// Word-wraps `text` to `width` characters; a word longer than a line (a
/// DKIM key) is cut into pieces of the full width.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut current: Vec<char> = Vec::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let space = usize::from(!current.is_empty());
            if current.len() + space + word.len() <= width {
                if space == 1 {
                    current.push(' ');
                }
                current.append(&mut word);
                break;
            }
            if word.len() <= width || current.len() + space >= width {
                // Start a new line: the word fits there, or nothing fits here.
                lines.push(current.drain(..).collect());
                continue;
            }
            // A word longer than a line fills the rest of this one.
            let room = width - current.len() - space;
            if space == 1 {
                current.push(' ');
            }
            current.extend(word.drain(..room));
            lines.push(current.drain(..).collect());
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current.into_iter().collect());
    }
    lines
}

/// `{"records": [...], "notes": [...]}` with stable field names: each
/// record has `domain`, `name` (no trailing dot), `type`, `ttl`, `value`
/// (TXT unquoted and whole, other types in master-file syntax) and
/// `reason`; each note has `domain`, `message` and `record` (or null).
pub fn to_json(records: &[DnsRecord], notes: &[Note]) -> serde_json::Value {
    json!({
        "records": records.iter().map(record_json).collect::<Vec<_>>(),
        "notes": notes
            .iter()
            .map(|note| {
                json!({
                    "domain": note.domain.as_str(),
                    "message": note.message,
                    "record": note.record.as_ref().map(record_json),
                })
            })
            .collect::<Vec<_>>(),
    })
}

fn record_json(record: &DnsRecord) -> serde_json::Value {
    json!({
        "domain": record.domain.as_str(),
        "name": record.name,
        "type": record.record_type().as_str(),
        "ttl": record.ttl,
        "value": record.value.text(),
        "reason": record.reason,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::dns::records::{character_strings, RecordType, RecordValue};

    fn domain() -> DomainName {
        DomainName::parse("example.com").unwrap()
    }

    fn txt(name: &str, text: &str) -> DnsRecord {
        DnsRecord {
            domain: domain(),
            name: name.to_owned(),
            ttl: DEFAULT_TTL,
            value: RecordValue::Txt(text.to_owned()),
            reason: "A test record".to_owned(),
        }
    }

    /// Reads back the character-strings of a TXT rdata and joins them.
    fn unquote(rdata: &str) -> Vec<String> {
        let mut strings = Vec::new();
        let mut chars = rdata.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                continue;
            }
            let mut current = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => current.push(chars.next().unwrap()),
                    '"' => break,
                    other => current.push(other),
                }
            }
            strings.push(current);
        }
        strings
    }

    #[test]
    fn txt_is_split_at_255_octets() {
        let text = "x".repeat(600);
        let strings = unquote(&character_strings(&text));
        assert_eq!(
            strings.iter().map(String::len).collect::<Vec<_>>(),
            vec![255, 255, 90]
        );
        assert_eq!(strings.concat(), text);
        assert_eq!(unquote(&character_strings(&"y".repeat(255))).len(), 1);
        assert_eq!(unquote(&character_strings(&"y".repeat(256))).len(), 2);
        assert_eq!(character_strings("v=spf1 mx -all"), "\"v=spf1 mx -all\"");
    }

    #[test]
    fn txt_escapes_quotes_and_backslashes() {
        assert_eq!(character_strings(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(character_strings("é"), "\"\\195\\169\"");
        // The split counts raw octets, before escaping.
        let text = format!("{}\"", "z".repeat(254));
        let quoted = character_strings(&text);
        assert_eq!(unquote(&quoted), vec![text]);
    }

    #[test]
    fn zone_has_origin_ttl_reasons_and_absolute_names() {
        let records = vec![
            txt("example.com", "v=spf1 mx -all"),
            txt("_dmarc.example.com", "v=DMARC1; p=none"),
        ];
        let zone = to_zone(&domain(), &records, &[]);
        assert!(zone.contains("$ORIGIN example.com.\n$TTL 3600\n"), "{zone}");
        assert!(zone.contains(
            "\n; A test record\n_dmarc.example.com. 3600 IN TXT   \"v=DMARC1; p=none\"\n"
        ));
        assert!(zone
            .contains("\n; A test record\nexample.com.        3600 IN TXT   \"v=spf1 mx -all\"\n"));
        assert!(!zone.contains("IN SOA"));
    }

    #[test]
    fn out_of_zone_records_and_notes_are_comments() {
        let mut outside = txt("mail.other.example", "x");
        outside.value = RecordValue::A("192.0.2.1".parse().unwrap());
        let note = Note {
            domain: domain(),
            message: "set the PTR\nat the provider".to_owned(),
            record: None,
        };
        let zone = to_zone(&domain(), &[outside], &[note]);
        assert!(
            zone.contains("\n; mail.other.example. 3600 IN A     192.0.2.1\n"),
            "{zone}"
        );
        assert!(zone.contains("; - set the PTR at the provider\n"));
        assert!(zone
            .lines()
            .all(|line| line.is_empty() || line.starts_with(';') || line.starts_with('$')));
    }

    #[test]
    fn soa_and_ns_follow_ttl() {
        let zone = to_zone(&domain(), &[txt("example.com", "v=spf1 mx -all")], &[]);
        let with = with_soa_ns(&zone, &domain(), "ns1.example.net.");
        assert!(with.contains(
            "$TTL 3600\nexample.com. 3600 IN SOA ns1.example.net. hostmaster.example.com. 1 7200 900 1209600 300\n\
             example.com. 3600 IN NS ns1.example.net.\n"
        ));
    }

    #[test]
    fn other_rdata_forms() {
        let target = DomainName::parse("mail.example.com").unwrap();
        let srv = RecordValue::Srv {
            priority: 0,
            weight: 1,
            port: 465,
            target: Some(target.clone()),
        };
        assert_eq!(rdata(&srv), "0 1 465 mail.example.com.");
        let off = RecordValue::Srv {
            priority: 0,
            weight: 0,
            port: 0,
            target: None,
        };
        assert_eq!(rdata(&off), "0 0 0 .");
        let caa = RecordValue::Caa {
            flags: 0,
            tag: "issue".to_owned(),
            value: "letsencrypt.org".to_owned(),
        };
        assert_eq!(rdata(&caa), "0 issue \"letsencrypt.org\"");
        assert_eq!(rdata(&RecordValue::Cname(target)), "mail.example.com.");
        assert_eq!(RecordValue::Txt("a\"b".to_owned()).text(), "a\"b");
        assert_eq!(srv.record_type(), RecordType::Srv);
    }

    #[test]
    fn table_wraps_and_shows_unicode_names() {
        let idn = DomainName::parse("bücher.example").unwrap();
        let mut record = txt(
            "rsa1._domainkey.xn--bcher-kva.example",
            &format!("v=DKIM1; k=rsa; p={}", "A".repeat(392)),
        );
        record.domain = idn;
        let table = to_table(&[record], &[]);
        assert!(
            table.starts_with("bücher.example (xn--bcher-kva.example)\n"),
            "{table}"
        );
        assert!(table.contains("(rsa1._domainkey.bücher.example)"));
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines.len() > 4);
        let joined: String = lines[2..]
            .iter()
            .map(|line| {
                line.split_whitespace()
                    .find(|word| word.starts_with('A') || word.starts_with("p="))
                    .unwrap_or("")
            })
            .collect();
        assert!(joined.contains(&"A".repeat(300)), "{table}");
        assert!(lines.iter().all(|line| line.chars().count() <= 200));
    }

    #[test]
    fn wrap_breaks_words_and_long_tokens() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("p=abcdefgh", 4), vec!["p=ab", "cdef", "gh"]);
        assert_eq!(wrap("x p=abcdefgh", 4), vec!["x p=", "abcd", "efgh"]);
        assert_eq!(wrap("", 4), vec![""]);
    }

    #[test]
    fn json_field_names() {
        let note = Note {
            domain: domain(),
            message: "m".to_owned(),
            record: None,
        };
        let value = to_json(&[txt("example.com", "v=spf1 mx -all")], &[note]);
        assert_eq!(
            value,
            json!({
                "records": [{
                    "domain": "example.com", "name": "example.com", "type": "TXT", "ttl": 3600,
                    "value": "v=spf1 mx -all", "reason": "A test record",
                }],
                "notes": [{"domain": "example.com", "message": "m", "record": null}],
            })
        );
    }
}
