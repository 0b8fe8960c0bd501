//! The zone files `mailctl dns` writes, for an ASCII and an IDN domain with
//! real DKIM keys, loaded by BIND's own `named-checkzone` (from
//! bind9-utils; the test fails when it is missing), and the DKIM key read
//! back from the zone compared with the private key's public half.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use mailctl::config::{Config, DkimAlgorithm};
use mailctl::dns::{self, PublicKeys};
use mailctl::names::DomainName;
use rcgen::PublicKeyData;

fn config() -> Config {
    let hash = mailctl::passwords::hash_argon2id("correct horse battery staple").unwrap();
    let source = format!(
        "\
version: 1
hostname: mail.example.com
primary_domain: example.com
ports:
  submissions: 4465
  pop3s: 995
domains:
  - name: example.com
    dmarc: {{ policy: reject, report_address: postmaster@example.com }}
    tls_rpt_address: postmaster@example.com
    dkim:
      - {{ selector: rsa2026, algorithm: rsa }}
      - {{ selector: ed2026, algorithm: ed25519 }}
  - name: bücher.example
    dmarc: {{ policy: quarantine, report_address: dmarc@example.com }}
    mta_sts: {{ mode: enforce }}
    dkim:
      - {{ selector: rsa2026, algorithm: rsa }}
mailboxes:
  - address: admin@example.com
    password_hash: '{hash}'
"
    );
    let mut config = mailctl::config::parse_str(&source, Path::new("test.yaml")).unwrap();
    // Documentation addresses, which validation refuses as public ones.
    config.network.public_addresses = vec![
        "192.0.2.25".parse().unwrap(),
        "2001:db8::25".parse().unwrap(),
    ];
    config
}

/// Private keys by (domain, selector), and the public values the zone needs.
fn keys(config: &Config) -> (Vec<(String, String, DkimAlgorithm, String)>, PublicKeys) {
    let mut private = Vec::new();
    let mut public = PublicKeys::new();
    for domain in &config.domains {
        for selector in &domain.dkim {
            let pem = mailctl::dkim::generate(selector.algorithm).unwrap();
            let value = mailctl::dkim::public_key_value(&pem, selector.algorithm).unwrap();
            public.insert(&domain.name, &selector.selector, value);
            private.push((
                domain.name.clone(),
                selector.selector.clone(),
                selector.algorithm,
                pem,
            ));
        }
    }
    (private, public)
}

/// The character-strings of a master-file TXT rdata, unescaped.
fn character_strings(rdata: &str) -> Vec<Vec<u8>> {
    let mut strings = Vec::new();
    let mut bytes = rdata.bytes();
    while let Some(byte) = bytes.next() {
        if byte.is_ascii_whitespace() {
            continue;
        }
        assert_eq!(byte, b'"', "unquoted TXT data in `{rdata}`");
        let mut current = Vec::new();
        loop {
            match bytes.next().unwrap() {
                b'"' => break,
                b'\\' => {
                    let next = bytes.next().unwrap();
                    if next.is_ascii_digit() {
                        let digits = [next, bytes.next().unwrap(), bytes.next().unwrap()];
                        current.push(std::str::from_utf8(&digits).unwrap().parse::<u8>().unwrap());
                    } else {
                        current.push(next);
                    }
                }
                other => current.push(other),
            }
        }
        strings.push(current);
    }
    strings
}

/// The rdata of the one `name TTL IN type` line in `zone`.
fn rdata<'a>(zone: &'a str, name: &str, kind: &str) -> &'a str {
    let lines: Vec<&str> = zone
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(name))
        .filter(|line| line.split_whitespace().nth(3) == Some(kind))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one {kind} record at {name} in\n{zone}"
    );
    let line = lines[0];
    let start = line.find(&format!(" IN {kind}")).unwrap() + " IN ".len() + kind.len();
    line[start..].trim()
}

fn named_checkzone(domain: &DomainName, file: &Path) -> String {
    let output = Command::new("named-checkzone")
        // `-i local`: names outside the zone are not looked up, so the
        // result does not depend on the network.
        .args(["-i", "local", "-k", "fail", "-M", "fail", "-S", "fail", "-n", "fail"])
        .arg(domain.as_str())
        .arg(file)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run `named-checkzone` ({error}); install it with `apt-get install bind9-utils`")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let zone = std::fs::read_to_string(file).unwrap();
    assert!(
        output.status.success(),
        "named-checkzone refused the zone for {domain}:\n{stdout}{stderr}\n--- zone ---\n{zone}"
    );
    assert!(stdout.contains("OK"), "{stdout}");
    assert!(!stdout.contains("out-of-zone"), "{stdout}");
    stdout
}

#[test]
fn zones_load_in_named_checkzone_and_carry_the_dkim_keys() {
    let config = config();
    let (private, public) = keys(&config);
    let expected = dns::expected_records(&config, &public).unwrap();
    let directory = tempfile::tempdir().unwrap();

    let mut zones = Vec::new();
    for domain in &config.domains {
        let name = DomainName::parse(&domain.name).unwrap();
        let zone = dns::to_zone(&name, &expected.records, &expected.notes);
        assert!(
            zone.contains(&format!("$ORIGIN {name}.\n$TTL 3600\n")),
            "{zone}"
        );
        assert!(
            !zone.contains("IN SOA"),
            "the DNS provider owns SOA and NS:\n{zone}"
        );
        let zone = dns::with_soa_ns(&zone, &name, "ns1.example.net");
        let file = directory.path().join(format!("{name}.zone"));
        std::fs::write(&file, &zone).unwrap();
        named_checkzone(&name, &file);
        zones.push((name, zone));
    }

    let idn = &zones[1];
    assert_eq!(idn.0.as_str(), "xn--bcher-kva.example");
    assert!(
        idn.1.contains("bücher.example"),
        "the Unicode form is named in a comment"
    );
    for line in idn
        .1
        .lines()
        .filter(|line| !line.starts_with(';') && !line.is_empty())
    {
        assert!(line.is_ascii(), "non-ASCII record line: {line}");
    }
    assert_eq!(
        rdata(&idn.1, "xn--bcher-kva.example.", "MX"),
        "10 mail.example.com."
    );
    assert_eq!(
        rdata(&idn.1, "_submissions._tcp.xn--bcher-kva.example.", "SRV"),
        "0 1 4465 mail.example.com."
    );
    assert_eq!(
        rdata(&idn.1, "_imap._tcp.xn--bcher-kva.example.", "SRV"),
        "0 0 0 ."
    );
    // Reports for bücher.example go to example.com, whose zone authorises them.
    assert_eq!(
        rdata(
            &zones[0].1,
            "xn--bcher-kva.example._report._dmarc.example.com.",
            "TXT"
        ),
        "\"v=DMARC1\""
    );
    assert_eq!(rdata(&zones[0].1, "mail.example.com.", "A"), "192.0.2.25");
    assert_eq!(
        rdata(&zones[0].1, "mail.example.com.", "AAAA"),
        "2001:db8::25"
    );
    assert!(zones[0]
        .1
        .contains("; - set at your hosting provider: the reverse DNS (PTR) of 192.0.2.25"));
    assert!(zones[0]
        .1
        .contains(";     25.2.0.192.in-addr.arpa. 3600 IN PTR   mail.example.com."));

    for (domain, selector, algorithm, pem) in &private {
        let name = DomainName::parse(domain).unwrap();
        let zone = &zones
            .iter()
            .find(|(zone_name, _)| *zone_name == name)
            .unwrap()
            .1;
        let strings = character_strings(rdata(
            zone,
            &format!("{selector}._domainkey.{domain}."),
            "TXT",
        ));
        assert!(strings.iter().all(|string| string.len() <= 255));
        let text = String::from_utf8(strings.concat()).unwrap();
        let key = text.rsplit_once("p=").unwrap().1;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap();
        let pair = rcgen::KeyPair::from_pem(pem).unwrap();
        match algorithm {
            DkimAlgorithm::Rsa => {
                assert!(strings.len() >= 2, "an RSA key does not fit one string");
                assert!(text.starts_with("v=DKIM1; k=rsa; p="));
                assert_eq!(decoded, pair.subject_public_key_info());
            }
            DkimAlgorithm::Ed25519 => {
                assert!(text.starts_with("v=DKIM1; k=ed25519; p="));
                assert_eq!(decoded, pair.public_key_raw());
            }
        }
    }
}

#[test]
fn hostname_outside_every_domain_stays_out_of_the_zone() {
    let mut config = config();
    config.hostname = "mx.hosting.example".to_owned();
    let (_, public) = keys(&config);
    let expected = dns::expected_records(&config, &public).unwrap();
    let name = DomainName::parse("example.com").unwrap();
    let zone = dns::with_soa_ns(
        &dns::to_zone(&name, &expected.records, &expected.notes),
        &name,
        "ns1.example.net.",
    );
    assert!(
        zone.contains("; mx.hosting.example. 3600 IN A     192.0.2.25"),
        "{zone}"
    );
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("example.com.zone");
    std::fs::write(&file, &zone).unwrap();
    named_checkzone(&name, &file);
}
