//! The DNS records each configured mail domain needs, decided from the
//! `Config` and the DKIM public keys alone: MX, SPF, DKIM, DMARC, TLS-RPT,
//! MTA-STS, SRV (RFC 6186 / RFC 8314), autoconfiguration names, CAA, the
//! server's address records, and notes for what cannot be a record (PTR).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::config::{Config, DkimAlgorithm, Domain, MtaStsMode, Ports, TlsMode};
use crate::dkim;
use crate::names::{Address, DomainName};
use crate::service::PortName;

/// The TTL of every generated record, in seconds; the zone file's `$TTL`.
pub const DEFAULT_TTL: u32 = 3600;

/// The record types mailctl publishes, plus PTR, which only appears in notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    A,
    Aaaa,
    Mx,
    Txt,
    Srv,
    Cname,
    Caa,
    Tlsa,
    Ptr,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Srv => "SRV",
            RecordType::Cname => "CNAME",
            RecordType::Caa => "CAA",
            RecordType::Tlsa => "TLSA",
            RecordType::Ptr => "PTR",
        }
    }
}

/// A record's data, typed so each form prints correctly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordValue {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx {
        preference: u16,
        exchange: DomainName,
    },
    /// The whole text; it is split into 255-octet strings only when written
    /// (RFC 1035 §3.3.14, RFC 7208 §3.3).
    Txt(String),
    /// `target: None` is the root name `.`: the service is decidedly not
    /// available at this domain (RFC 2782).
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: Option<DomainName>,
    },
    Cname(DomainName),
    Caa {
        flags: u8,
        tag: String,
        value: String,
    },
    Ptr(DomainName),
    /// DANE (RFC 6698): usage, selector, matching type, data as hex.
    Tlsa {
        usage: u8,
        selector: u8,
        matching: u8,
        data: String,
    },
}

impl RecordValue {
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordValue::A(_) => RecordType::A,
            RecordValue::Aaaa(_) => RecordType::Aaaa,
            RecordValue::Mx { .. } => RecordType::Mx,
            RecordValue::Txt(_) => RecordType::Txt,
            RecordValue::Srv { .. } => RecordType::Srv,
            RecordValue::Cname(_) => RecordType::Cname,
            RecordValue::Caa { .. } => RecordType::Caa,
            RecordValue::Ptr(_) => RecordType::Ptr,
            RecordValue::Tlsa { .. } => RecordType::Tlsa,
        }
    }

    /// The value as a person types it into a DNS provider's form: TXT as one
    /// unquoted text, everything else in master-file syntax with absolute
    /// names (`10 mail.example.com.`).
    pub fn text(&self) -> String {
        match self {
            RecordValue::Txt(text) => text.clone(),
            other => rdata(other),
        }
    }
}

/// One record the domain owner publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// The configured domain whose zone holds this record.
    pub domain: DomainName,
    /// The owner name: fully qualified, A-labels, lower case, without the
    /// trailing dot (see [`DnsRecord::fqdn`]).
    pub name: String,
    pub ttl: u32,
    pub value: RecordValue,
    /// Why the record is needed, in one sentence.
    pub reason: String,
}

impl DnsRecord {
    fn new(
        domain: &DomainName,
        name: impl Into<String>,
        value: RecordValue,
        reason: String,
    ) -> Self {
        DnsRecord {
            domain: domain.clone(),
            name: name.into(),
            ttl: DEFAULT_TTL,
            value,
            reason,
        }
    }

    pub fn record_type(&self) -> RecordType {
        self.value.record_type()
    }

    /// The owner name with its trailing dot, as written in a zone file.
    pub fn fqdn(&self) -> String {
        format!("{}.", self.name)
    }

    /// The owner name with internationalised labels shown in Unicode.
    pub fn unicode_name(&self) -> String {
        unicode_name(&self.name)
    }

    /// Whether the owner name lies in the zone of `domain`.
    pub fn is_within(&self, domain: &DomainName) -> bool {
        name_is_within(&self.name, domain)
    }
}

/// Something the domain owner must know or do that is not a record in their
/// zone, such as reverse DNS, which the address's owner sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The configured domain the note concerns.
    pub domain: DomainName,
    pub message: String,
    /// A record to be published elsewhere (a PTR at the hosting provider, a
    /// DMARC report authorisation at another organisation), when there is one.
    pub record: Option<DnsRecord>,
}

/// Every expected record and note, domain by domain in the config's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedRecords {
    pub records: Vec<DnsRecord>,
    pub notes: Vec<Note>,
}

impl ExpectedRecords {
    /// Only the records and notes that belong to `domain`.
    pub fn for_domain(&self, domain: &DomainName) -> ExpectedRecords {
        ExpectedRecords {
            records: self
                .records
                .iter()
                .filter(|record| &record.domain == domain)
                .cloned()
                .collect(),
            notes: self
                .notes
                .iter()
                .filter(|note| &note.domain == domain)
                .cloned()
                .collect(),
        }
    }
}

/// The public keys DNS publishes, read by the caller: the DKIM keys
/// (`p=` values from [`dkim::public_key_value`]) by domain (A-label) and
/// selector, and, where the server keeps its TLS key (`tls.reuse_key`),
/// the SHA-256 of the current and the next key for TLSA `3 1 1` records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeys {
    keys: BTreeMap<(String, String), String>,
    tls: Vec<String>,
}

impl PublicKeys {
    pub fn new() -> Self {
        PublicKeys::default()
    }

    pub fn insert(&mut self, domain: &str, selector: &str, public_key: impl Into<String>) {
        self.keys.insert(
            (domain.to_ascii_lowercase(), selector.to_ascii_lowercase()),
            public_key.into(),
        );
    }

    pub fn get(&self, domain: &str, selector: &str) -> Option<&str> {
        self.keys
            .get(&(domain.to_ascii_lowercase(), selector.to_ascii_lowercase()))
            .map(String::as_str)
    }

    /// Adds a TLS key's SPKI SHA-256 (hex), once.
    pub fn add_tls_key(&mut self, sha256: &str) {
        let sha256 = sha256.to_ascii_lowercase();
        if !self.tls.contains(&sha256) {
            self.tls.push(sha256);
        }
    }

    /// The TLS keys' SPKI SHA-256 values: the current key first.
    pub fn tls_keys(&self) -> &[String] {
        &self.tls
    }
}

/// The MTA-STS policy file served at
/// `https://mta-sts.<domain>/.well-known/mta-sts.txt`, with CRLF line
/// endings as RFC 8461 §3.2 shows.
pub fn mta_sts_policy(config: &Config, domain: &Domain) -> String {
    let hostname = DomainName::parse(&config.hostname).map_or_else(
        |_| config.hostname.to_ascii_lowercase(),
        |name| name.as_str().to_owned(),
    );
    format!(
        "version: STSv1\r\nmode: {}\r\nmx: {hostname}\r\nmax_age: {}\r\n",
        domain.mta_sts.mode.as_str(),
        domain.mta_sts.max_age
    )
}

/// The `id=` of the `_mta-sts` TXT record: the first 16 hex digits of the
/// policy's SHA-256, so the id changes exactly when the policy text does
/// (RFC 8461 §3.1 allows 1 to 32 letters and digits).
pub fn mta_sts_id(policy: &str) -> String {
    let digest = hex::encode(Sha256::digest(policy.as_bytes()));
    digest.chars().take(16).collect()
}

/// The reverse-DNS name of `address` without the trailing dot:
/// `4.3.2.1.in-addr.arpa` (RFC 1035 §3.5) or the nibble form under
/// `ip6.arpa` (RFC 3596 §2.5).
pub fn reverse_name(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = Vec::with_capacity(33);
            for byte in v6.octets().iter().rev() {
                labels.push(format!("{:x}", byte & 0x0f));
                labels.push(format!("{:x}", byte >> 4));
            }
            labels.push("ip6.arpa".to_owned());
            labels.join(".")
        }
    }
}

/// `name` with each `xn--` label decoded to Unicode (labels that do not
/// decode are kept as they are).
pub fn unicode_name(name: &str) -> String {
    name.split('.')
        .map(|label| {
            label
                .strip_prefix("xn--")
                .and_then(idna::punycode::decode_to_string)
                .unwrap_or_else(|| label.to_owned())
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn name_is_within(name: &str, domain: &DomainName) -> bool {
    name == domain.as_str() || name.ends_with(&format!(".{}", domain.as_str()))
}

/// The services published as SRV records: the RFC 6186 / RFC 8314 label,
/// the `ports:` name that carries it (none: never offered) and what it is.
const SRV_SERVICES: [(&str, Option<PortName>, &str, &str); 7] = [
    (
        "_submissions._tcp",
        Some(PortName::Submissions),
        "mail submission with implicit TLS",
        "RFC 8314 §5.1",
    ),
    (
        "_submission._tcp",
        Some(PortName::Submission),
        "mail submission with STARTTLS",
        "RFC 6186 §3.1",
    ),
    (
        "_imaps._tcp",
        Some(PortName::Imaps),
        "IMAP with implicit TLS",
        "RFC 6186 §3.2",
    ),
    ("_imap._tcp", None, "IMAP without TLS", "RFC 6186 §3.2"),
    (
        "_pop3s._tcp",
        Some(PortName::Pop3s),
        "POP3 with implicit TLS",
        "RFC 6186 §3.3",
    ),
    ("_pop3._tcp", None, "POP3 without TLS", "RFC 6186 §3.3"),
    (
        "_sieve._tcp",
        Some(PortName::Sieve),
        "ManageSieve filter editing",
        "RFC 5804 §1.8",
    ),
];

/// Every record and note the configured domains need. `dkim_keys` holds the
/// public key of each configured selector; a missing one becomes a note.
pub fn expected_records(
    config: &Config,
    dkim_keys: &PublicKeys,
) -> anyhow::Result<ExpectedRecords> {
    let hostname = DomainName::parse(&config.hostname)
        .with_context(|| format!("hostname `{}` is not a valid domain name", config.hostname))?;
    let mut domains = Vec::with_capacity(config.domains.len());
    for domain in &config.domains {
        let name = DomainName::parse(&domain.name)
            .with_context(|| format!("domain `{}` is not a valid domain name", domain.name))?;
        domains.push((name, domain));
    }
    let Some(host_owner) = host_owner(config, &hostname, &domains) else {
        return Ok(ExpectedRecords::default());
    };

    let mut sections: Vec<(Vec<DnsRecord>, Vec<Note>)> =
        vec![(Vec::new(), Vec::new()); domains.len()];
    for (index, (name, domain)) in domains.iter().enumerate() {
        let mut section = Section {
            config,
            hostname: &hostname,
            name,
            domain,
            records: Vec::new(),
            notes: Vec::new(),
            elsewhere: Vec::new(),
        };
        if *name == host_owner {
            section.server_records();
            section.tlsa(dkim_keys);
        }
        section.mail_records(dkim_keys);
        section.reporting(&domains);
        section.mta_sts();
        section.srv_records();
        section.autoconfiguration();
        section.caa();
        let Section {
            records,
            notes,
            elsewhere,
            ..
        } = section;
        if let Some(slot) = sections.get_mut(index) {
            slot.0.extend(records);
            slot.1.extend(notes);
        }
        for (owner, record) in elsewhere {
            if let Some(slot) = sections.get_mut(owner) {
                slot.0.push(record);
            }
        }
    }
    let mut expected = ExpectedRecords::default();
    for (records, notes) in sections {
        expected.records.extend(records);
        expected.notes.extend(notes);
    }
    Ok(expected)
}

/// The domain whose section carries the server's address records: the most
/// specific configured domain containing the hostname, else the primary one.
fn host_owner(
    config: &Config,
    hostname: &DomainName,
    domains: &[(DomainName, &Domain)],
) -> Option<DomainName> {
    domains
        .iter()
        .map(|(name, _)| name)
        .filter(|name| hostname.is_within(name))
        .max_by_key(|name| name.as_str().len())
        .or_else(|| {
            let primary = DomainName::parse(&config.primary_domain).ok()?;
            domains
                .iter()
                .map(|(name, _)| name)
                .find(|name| **name == primary)
        })
        .or_else(|| domains.first().map(|(name, _)| name))
        .cloned()
}

/// The records of one configured domain while they are being collected.
struct Section<'a> {
    config: &'a Config,
    hostname: &'a DomainName,
    name: &'a DomainName,
    domain: &'a Domain,
    records: Vec<DnsRecord>,
    notes: Vec<Note>,
    /// Records that belong in another configured domain's zone, by its index.
    elsewhere: Vec<(usize, DnsRecord)>,
}

impl Section<'_> {
    fn record(&mut self, name: impl Into<String>, value: RecordValue, reason: String) {
        self.records
            .push(DnsRecord::new(self.name, name, value, reason));
    }

    fn note(&mut self, message: String, record: Option<DnsRecord>) {
        self.notes.push(Note {
            domain: self.name.clone(),
            message,
            record,
        });
    }

    /// TLSA `3 1 1` for the hostname's port 25 where the server keeps its
    /// TLS key (`tls.reuse_key`): the current key's, and the next key's,
    /// published before `mailctl cert rollover` puts it in service, so a
    /// sender that uses DANE (RFC 7672) never meets an unpublished key.
    fn tlsa(&mut self, keys: &PublicKeys) {
        if !self.config.tls.reuse_key || self.config.ports.smtp.number().is_none() {
            return;
        }
        let owner = format!("_25._tcp.{}", self.hostname.as_str());
        for (index, sha256) in keys.tls_keys().iter().enumerate() {
            let which = if index == 0 {
                "the key the server uses now"
            } else {
                "the next key, published ahead so `mailctl cert rollover` can switch to it once DNS serves this record"
            };
            self.record(
                owner.clone(),
                RecordValue::Tlsa {
                    usage: 3,
                    selector: 1,
                    matching: 1,
                    data: sha256.clone(),
                },
                format!(
                    "DANE (RFC 7672): senders that validate DNSSEC accept only a certificate with this key; {which}. Publish only in a DNSSEC-signed zone"
                ),
            );
        }
    }

    /// A/AAAA for the hostname, PTR notes, and notes on ports other servers
    /// and clients cannot find elsewhere.
    fn server_records(&mut self) {
        let host = self.hostname.as_str().to_owned();
        let addresses = self.config.public_addresses();
        if addresses.is_empty() {
            self.note(
                format!(
                    "no public address is known for `{host}`: add its A record (and AAAA for IPv6) by hand, \
                     or set `network.public_addresses` in the configuration"
                ),
                None,
            );
        }
        for address in &addresses {
            let (value, family) = match address {
                IpAddr::V4(v4) => (RecordValue::A(*v4), "IPv4"),
                IpAddr::V6(v6) => (RecordValue::Aaaa(*v6), "IPv6"),
            };
            self.record(
                host.clone(),
                value,
                format!(
                    "Other servers and mail clients reach `{host}` at this {family} address; \
                     the MX, SRV and CNAME records point at this name"
                ),
            );
        }
        // The name the server greets with (HELO/EHLO) is checked by SPF too
        // (RFC 7208 §2.3), alone for bounces, whose envelope sender is empty.
        if !self
            .config
            .domains
            .iter()
            .any(|domain| domain.name.eq_ignore_ascii_case(&host))
        {
            self.record(
                host.clone(),
                RecordValue::Txt("v=spf1 a -all".to_owned()),
                format!(
                    "SPF for `{host}`, the name the server greets with: receivers check it for \
                     bounces (empty envelope sender) and score a HELO name without SPF (RFC 7208 §2.3)"
                ),
            );
        }
        for address in &addresses {
            let ptr = DnsRecord::new(
                self.name,
                reverse_name(*address),
                RecordValue::Ptr(self.hostname.clone()),
                format!("Receivers check that {address} maps back to `{host}` (RFC 1912 §2.1)"),
            );
            self.note(
                format!(
                    "set at your hosting provider: the reverse DNS (PTR) of {address} must be `{host}`, \
                     or many receivers reject or junk the server's mail (RFC 1912 §2.1)"
                ),
                Some(ptr),
            );
        }
        if self.config.ports.smtp.number() != Some(25) {
            let state = port_state(&self.config.ports, PortName::Smtp);
            self.note(
                format!(
                    "`smtp` is {state}, but other servers deliver mail to port 25 only (RFC 5321): \
                     the MX record works only if port 25 of `{host}` reaches the server"
                ),
                None,
            );
        }
        if self.config.ports.https.number() != Some(443) {
            let state = port_state(&self.config.ports, PortName::Https);
            self.note(
                format!(
                    "`https` is {state}, but senders fetch MTA-STS policies and clients fetch \
                     autoconfiguration from port 443 (RFC 8461 §3.3)"
                ),
                None,
            );
        }
    }

    /// MX, SPF and DKIM.
    fn mail_records(&mut self, dkim_keys: &PublicKeys) {
        let domain = self.name.as_str().to_owned();
        let host = self.hostname.as_str().to_owned();
        self.record(
            domain.clone(),
            RecordValue::Mx {
                preference: 10,
                exchange: self.hostname.clone(),
            },
            format!("Other servers deliver mail for `{domain}` to `{host}` (RFC 5321 §5.1)"),
        );
        self.record(
            domain.clone(),
            RecordValue::Txt("v=spf1 mx -all".to_owned()),
            format!(
                "SPF: only the hosts named by the MX record may send mail from `{domain}`, \
                 all others fail (RFC 7208 §5.4, §5.1)"
            ),
        );
        for selector in &self.domain.dkim {
            let key_name = format!("{}._domainkey.{domain}", selector.selector);
            let (algorithm, rfc) = match selector.algorithm {
                DkimAlgorithm::Rsa => ("RSA", "RFC 6376 §3.6.2"),
                DkimAlgorithm::Ed25519 => ("Ed25519", "RFC 8463 §4"),
            };
            match dkim_keys.get(&domain, &selector.selector) {
                Some(public_key) => self.record(
                    key_name,
                    RecordValue::Txt(dkim::record_text(selector.algorithm, public_key)),
                    format!(
                        "DKIM: receivers verify the {algorithm} signatures made with selector `{}` \
                         against this public key ({rfc})",
                        selector.selector
                    ),
                ),
                None => self.note(
                    format!(
                        "no DKIM key was found for selector `{}` of `{domain}`, so its TXT record at \
                         `{key_name}` cannot be shown; check `dkim/{domain}/{}.key`",
                        selector.selector, selector.selector
                    ),
                    None,
                ),
            }
        }
    }

    /// DMARC, the report authorisation RFC 7489 §7.1 asks of another
    /// domain that receives the reports, and TLS-RPT.
    fn reporting(&mut self, domains: &[(DomainName, &Domain)]) {
        let domain = self.name.as_str().to_owned();
        let dmarc = &self.domain.dmarc;
        let mut text = format!("v=DMARC1; p={}", dmarc.policy.as_str());
        if let Some(address) = &dmarc.report_address {
            text.push_str(&format!("; rua={}", mailto(address)));
        }
        let reports = match &dmarc.report_address {
            Some(address) => format!("; aggregate reports go to {address}"),
            None => String::new(),
        };
        self.record(
            format!("_dmarc.{domain}"),
            RecordValue::Txt(text),
            format!(
                "DMARC: receivers apply `p={}` to mail whose From is `{domain}` but which passes neither \
                 aligned SPF nor DKIM; alignment is left relaxed (RFC 7489 §6.3 default) so mail \
                 from subdomains still aligns{reports}",
                dmarc.policy.as_str()
            ),
        );
        if let Some(report_domain) = dmarc
            .report_address
            .as_deref()
            .and_then(|address| Address::parse(address).ok())
            .map(|address| address.domain)
        {
            let same_organisation =
                report_domain.is_within(self.name) || self.name.is_within(&report_domain);
            if !same_organisation {
                let record = DnsRecord::new(
                    &report_domain,
                    format!("{domain}._report._dmarc.{report_domain}"),
                    RecordValue::Txt("v=DMARC1".to_owned()),
                    format!(
                        "`{report_domain}` agrees to receive DMARC reports for `{domain}` (RFC 7489 §7.1)"
                    ),
                );
                match domains.iter().position(|(name, _)| *name == report_domain) {
                    Some(owner) => self.elsewhere.push((owner, record)),
                    None => self.note(
                        format!(
                            "DMARC reports for `{domain}` go to `{report_domain}`, another domain: it must \
                             publish this record or receivers will not send the reports (RFC 7489 §7.1)"
                        ),
                        Some(DnsRecord { domain: self.name.clone(), ..record }),
                    ),
                }
            }
        }
        if let Some(address) = &self.domain.tls_rpt_address {
            self.record(
                format!("_smtp._tls.{domain}"),
                RecordValue::Txt(format!("v=TLSRPTv1; rua={}", mailto(address))),
                format!(
                    "TLS-RPT: sending servers report TLS and MTA-STS failures for `{domain}` daily to \
                     {address} (RFC 8460 §3)"
                ),
            );
        }
    }

    /// The `_mta-sts` TXT and the policy host name. With mode `none` both
    /// stay published: a new id with a `none` policy is how RFC 8461 §8.3
    /// withdraws a policy that senders have cached.
    fn mta_sts(&mut self) {
        let domain = self.name.as_str().to_owned();
        let policy = mta_sts_policy(self.config, self.domain);
        let id = mta_sts_id(&policy);
        let mode = self.domain.mta_sts.mode;
        let purpose = match mode {
            MtaStsMode::None => {
                "mode `none` withdraws the policy, so senders that cached one stop applying it (RFC 8461 §8.3)"
                    .to_owned()
            }
            _ => format!(
                "mode `{}` tells senders to {} TLS with a valid certificate for `{}` (RFC 8461 §5)",
                mode.as_str(),
                if mode == MtaStsMode::Enforce { "require" } else { "report failures of" },
                self.hostname
            ),
        };
        self.record(
            format!("_mta-sts.{domain}"),
            RecordValue::Txt(format!("v=STSv1; id={id}")),
            format!(
                "MTA-STS: senders fetch the policy again when this id changes; it is a hash of the policy \
                 text (RFC 8461 §3.1); {purpose}"
            ),
        );
        self.alias(
            "mta-sts",
            format!("Senders fetch the MTA-STS policy from https://mta-sts.{domain}/.well-known/mta-sts.txt, served by this server (RFC 8461 §3.3)"),
        );
    }

    /// A CNAME `<prefix>.<domain>` to the hostname, unless that name is the
    /// hostname itself (a CNAME cannot sit beside its A records, RFC 1034 §3.6.2).
    fn alias(&mut self, prefix: &str, reason: String) {
        let name = format!("{prefix}.{}", self.name);
        if name != self.hostname.as_str() {
            self.record(name, RecordValue::Cname(self.hostname.clone()), reason);
        }
    }

    /// Client service discovery (RFC 6186, RFC 8314 §5.1) with the
    /// published port numbers; services not offered get the `.` target.
    fn srv_records(&mut self) {
        let domain = self.name.as_str().to_owned();
        for (label, port_name, service, rfc) in SRV_SERVICES {
            let port = port_name.and_then(|name| self.config.ports.get(name).number());
            let (value, reason) = match (port_name, port) {
                (_, Some(port)) => (
                    RecordValue::Srv {
                        priority: 0,
                        weight: 1,
                        port,
                        target: Some(self.hostname.clone()),
                    },
                    format!(
                        "Mail clients find {service} for `{domain}` on port {port} of `{}` ({rfc})",
                        self.hostname
                    ),
                ),
                (Some(name), None) => (
                    not_offered(),
                    format!(
                        "`{name}` is turned off: the target `.` tells mail clients {service} is not offered \
                         (RFC 2782, {rfc})"
                    ),
                ),
                (None, None) => (
                    not_offered(),
                    format!(
                        "{service} is never offered: the target `.` tells mail clients not to try it \
                         (RFC 2782, RFC 8314 §4.1)"
                    ),
                ),
            };
            self.record(format!("{label}.{domain}"), value, reason);
        }
    }

    fn autoconfiguration(&mut self) {
        let domain = self.name.as_str().to_owned();
        self.alias(
            "autoconfig",
            format!(
                "Thunderbird and similar clients fetch their settings from \
                 https://autoconfig.{domain}/mail/config-v1.1.xml on this server"
            ),
        );
        self.alias(
            "autodiscover",
            format!(
                "Outlook and similar clients fetch their settings from \
                 https://autodiscover.{domain}/autodiscover/autodiscover.xml on this server"
            ),
        );
    }

    /// CAA naming the CA that `tls.acme_directory` belongs to (RFC 8659).
    fn caa(&mut self) {
        let tls = &self.config.tls;
        if tls.mode != TlsMode::Letsencrypt {
            return;
        }
        let domain = self.name.as_str().to_owned();
        match acme_ca_domain(&tls.acme_directory) {
            Some(ca) => self.record(
                domain.clone(),
                RecordValue::Caa {
                    flags: 0,
                    tag: "issue".to_owned(),
                    value: ca.to_owned(),
                },
                format!(
                    "CAA: only {ca} may issue certificates for `{domain}` and its subdomains (RFC 8659 §4); \
                     if other services under `{domain}` use another CA, add an `issue` record for it too"
                ),
            ),
            None => self.note(
                format!(
                    "certificates come from the ACME server at `{}`: if you publish CAA records for `{domain}`, \
                     name that CA's issuer domain from its documentation (RFC 8659 §4), or issuance fails",
                    tls.acme_directory
                ),
                None,
            ),
        }
    }
}

fn not_offered() -> RecordValue {
    RecordValue::Srv {
        priority: 0,
        weight: 0,
        port: 0,
        target: None,
    }
}

fn port_state(ports: &Ports, name: PortName) -> String {
    match ports.get(name).number() {
        Some(number) => format!("published on port {number}"),
        None => "turned off".to_owned(),
    }
}

/// A `mailto:` URI for a report address, with the characters that DMARC
/// (RFC 7489 §6.4: `,` and `!`) and URIs (RFC 6068 §2) reserve escaped.
fn mailto(address: &str) -> String {
    let mut uri = String::from("mailto:");
    for character in address.chars() {
        match character {
            '%' | ',' | '!' | ';' | ' ' | '"' | '?' | '#' | '&' | '/' | ':' => {
                let mut buffer = [0u8; 4];
                for byte in character.encode_utf8(&mut buffer).bytes() {
                    uri.push_str(&format!("%{byte:02X}"));
                }
            }
            other => uri.push(other),
        }
    }
    uri
}

/// The CAA issuer domain for a known ACME directory URL: Let's Encrypt's
/// production and staging directories both answer to `letsencrypt.org`.
fn acme_ca_domain(directory: &str) -> Option<&'static str> {
    let rest = directory.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let host = authority
        .rsplit('@')
        .next()?
        .split(':')
        .next()?
        .to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    if host == "letsencrypt.org" || host.ends_with(".letsencrypt.org") {
        Some("letsencrypt.org")
    } else {
        None
    }
}

/// The longest character-string a TXT record may hold (RFC 1035 §3.3).
pub const MAX_CHARACTER_STRING: usize = 255;

/// The record data in master-file syntax, names absolute with their
/// trailing dot.
pub fn rdata(value: &RecordValue) -> String {
    match value {
        RecordValue::A(address) => address.to_string(),
        RecordValue::Aaaa(address) => address.to_string(),
        RecordValue::Mx {
            preference,
            exchange,
        } => format!("{preference} {exchange}."),
        RecordValue::Txt(text) => character_strings(text),
        RecordValue::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            let target = target
                .as_ref()
                .map_or_else(|| ".".to_owned(), |name| format!("{name}."));
            format!("{priority} {weight} {port} {target}")
        }
        RecordValue::Cname(target) | RecordValue::Ptr(target) => format!("{target}."),
        RecordValue::Caa { flags, tag, value } => {
            format!("{flags} {tag} {}", quote(value.as_bytes()))
        }
        RecordValue::Tlsa {
            usage,
            selector,
            matching,
            data,
        } => format!("{usage} {selector} {matching} {data}"),
    }
}

/// `text` as quoted character-strings of at most 255 octets each,
/// separated by spaces; receivers join them without a separator
/// (RFC 7208 §3.3, RFC 6376 §3.6.2.2). The limit counts octets on the wire,
/// so the text is split before it is escaped.
pub fn character_strings(text: &str) -> String {
    if text.is_empty() {
        return "\"\"".to_owned();
    }
    text.as_bytes()
        .chunks(MAX_CHARACTER_STRING)
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One quoted character-string: `"` and `\` escaped with a backslash,
/// anything outside printable ASCII as `\DDD` (RFC 1035 §5.1).
pub(crate) fn quote(bytes: &[u8]) -> String {
    let mut quoted = String::with_capacity(bytes.len() + 2);
    quoted.push('"');
    for &byte in bytes {
        match byte {
            b'"' | b'\\' => {
                quoted.push('\\');
                quoted.push(char::from(byte));
            }
            0x20..=0x7e => quoted.push(char::from(byte)),
            other => quoted.push_str(&format!("\\{other:03}")),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::{DmarcPolicy, Port, LETSENCRYPT_STAGING_DIRECTORY};

    const CONFIG: &str = "\
version: 1
hostname: mail.example.com
primary_domain: example.com
domains:
  - name: example.com
    dkim:
      - { selector: rsa1, algorithm: rsa }
  - name: bücher.example
    dkim:
      - { selector: rsa1, algorithm: rsa }
";

    /// The test configuration, parsed and validated like a real one, with
    /// documentation addresses (which validation refuses) set afterwards.
    fn config() -> Config {
        let mut config =
            crate::config::parse_str(CONFIG, std::path::Path::new("test.yaml")).unwrap();
        config.network.public_addresses = vec![
            "203.0.113.10".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ];
        config
    }

    fn keys() -> PublicKeys {
        let mut keys = PublicKeys::new();
        keys.insert("example.com", "rsa1", "A".repeat(392));
        keys.insert("xn--bcher-kva.example", "rsa1", "B".repeat(392));
        keys
    }

    fn find<'a>(expected: &'a ExpectedRecords, name: &str, kind: RecordType) -> Vec<&'a DnsRecord> {
        expected
            .records
            .iter()
            .filter(|record| record.name == name && record.record_type() == kind)
            .collect()
    }

    fn txt(expected: &ExpectedRecords, name: &str) -> String {
        let found = find(expected, name, RecordType::Txt);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0].value.text()
    }

    #[test]
    fn spf_dmarc_and_mx() {
        let mut config = config();
        config.domains[0].dmarc.policy = DmarcPolicy::Reject;
        config.domains[0].dmarc.report_address = Some("dmarc@example.com".to_owned());
        let expected = expected_records(&config, &keys()).unwrap();
        assert_eq!(txt(&expected, "example.com"), "v=spf1 mx -all");
        assert_eq!(
            txt(&expected, "_dmarc.example.com"),
            "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"
        );
        assert_eq!(
            txt(&expected, "_dmarc.xn--bcher-kva.example"),
            "v=DMARC1; p=quarantine"
        );
        let mx = find(&expected, "example.com", RecordType::Mx);
        assert_eq!(mx[0].value.text(), "10 mail.example.com.");
        assert!(expected
            .records
            .iter()
            .all(|record| !record.reason.is_empty()));
    }

    #[test]
    fn dmarc_reports_to_another_configured_domain_are_authorised_there() {
        let mut config = config();
        config.domains[1].dmarc.report_address = Some("dmarc@example.com".to_owned());
        let expected = expected_records(&config, &keys()).unwrap();
        let name = "xn--bcher-kva.example._report._dmarc.example.com";
        assert_eq!(txt(&expected, name), "v=DMARC1");
        let record = find(&expected, name, RecordType::Txt)[0];
        assert_eq!(record.domain.as_str(), "example.com");

        config.domains[1].dmarc.report_address = Some("reports@other.example".to_owned());
        let expected = expected_records(&config, &keys()).unwrap();
        let note = expected
            .notes
            .iter()
            .find(|note| {
                note.record
                    .as_ref()
                    .is_some_and(|record| record.name.ends_with("._report._dmarc.other.example"))
            })
            .unwrap();
        assert_eq!(note.domain.as_str(), "xn--bcher-kva.example");
    }

    #[test]
    fn mailto_escapes_dmarc_separators() {
        assert_eq!(mailto("a!b,c@example.com"), "mailto:a%21b%2Cc@example.com");
    }

    #[test]
    fn tls_rpt_only_with_an_address() {
        let mut config = config();
        config.domains[0].tls_rpt_address = Some("tls@example.com".to_owned());
        let expected = expected_records(&config, &keys()).unwrap();
        assert_eq!(
            txt(&expected, "_smtp._tls.example.com"),
            "v=TLSRPTv1; rua=mailto:tls@example.com"
        );
        assert!(find(
            &expected,
            "_smtp._tls.xn--bcher-kva.example",
            RecordType::Txt
        )
        .is_empty());
    }

    #[test]
    fn mta_sts_policy_text_and_id() {
        let mut config = config();
        let policy = mta_sts_policy(&config, &config.domains[0]);
        assert_eq!(
            policy,
            "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"
        );
        let id = mta_sts_id(&policy);
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        let expected = expected_records(&config, &keys()).unwrap();
        assert_eq!(
            txt(&expected, "_mta-sts.example.com"),
            format!("v=STSv1; id={id}")
        );

        let mut ids = vec![id];
        for mode in [MtaStsMode::Enforce, MtaStsMode::None] {
            config.domains[0].mta_sts.mode = mode;
            let policy = mta_sts_policy(&config, &config.domains[0]);
            assert!(policy.contains(&format!("\r\nmode: {}\r\n", mode.as_str())));
            let id = mta_sts_id(&policy);
            assert!(
                !ids.contains(&id),
                "id did not change for mode {}",
                mode.as_str()
            );
            let expected = expected_records(&config, &keys()).unwrap();
            // Mode `none` still publishes the TXT record (RFC 8461 §8.3).
            assert_eq!(
                txt(&expected, "_mta-sts.example.com"),
                format!("v=STSv1; id={id}")
            );
            ids.push(id);
        }
        config.domains[0].mta_sts.max_age = 86_400;
        assert!(!ids.contains(&mta_sts_id(&mta_sts_policy(&config, &config.domains[0]))));
    }

    #[test]
    fn srv_for_enabled_disabled_and_moved_ports() {
        let mut config = config();
        config.ports.submissions = Port(Some(4465));
        config.ports.pop3s = Port(None);
        config.ports.imaps = Port(Some(993));
        let expected = expected_records(&config, &keys()).unwrap();
        let srv = |name: &str| {
            let found = find(&expected, name, RecordType::Srv);
            assert_eq!(found.len(), 1, "{name}");
            found[0].value.text()
        };
        assert_eq!(
            srv("_submissions._tcp.example.com"),
            "0 1 4465 mail.example.com."
        );
        assert_eq!(
            srv("_submission._tcp.example.com"),
            "0 1 587 mail.example.com."
        );
        assert_eq!(srv("_imaps._tcp.example.com"), "0 1 993 mail.example.com.");
        assert_eq!(srv("_pop3s._tcp.example.com"), "0 0 0 .");
        assert_eq!(srv("_imap._tcp.example.com"), "0 0 0 .");
        assert_eq!(srv("_pop3._tcp.example.com"), "0 0 0 .");
        assert_eq!(srv("_sieve._tcp.example.com"), "0 1 4190 mail.example.com.");
    }

    #[test]
    fn idn_records_use_a_labels() {
        let expected = expected_records(&config(), &keys()).unwrap();
        let idn = DomainName::parse("bücher.example").unwrap();
        let section = expected.for_domain(&idn);
        assert!(!section.records.is_empty());
        for record in &section.records {
            assert!(record.name.is_ascii(), "{}", record.name);
            assert!(
                record.name.ends_with("xn--bcher-kva.example"),
                "{}",
                record.name
            );
        }
        let dkim = find(
            &expected,
            "rsa1._domainkey.xn--bcher-kva.example",
            RecordType::Txt,
        );
        assert_eq!(
            dkim[0].value.text(),
            format!("v=DKIM1; k=rsa; p={}", "B".repeat(392))
        );
        assert_eq!(dkim[0].unicode_name(), "rsa1._domainkey.bücher.example");
        assert_eq!(
            find(
                &expected,
                "mta-sts.xn--bcher-kva.example",
                RecordType::Cname
            )[0]
            .value
            .text(),
            "mail.example.com."
        );
    }

    #[test]
    fn address_records_once_under_the_hostname_domain() {
        let mut config = config();
        let mut other = config.domains[0].clone();
        other.name = "example.org".to_owned();
        config.domains.insert(0, other);
        config.primary_domain = "example.org".to_owned();
        let expected = expected_records(&config, &keys()).unwrap();
        let a = find(&expected, "mail.example.com", RecordType::A);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].domain.as_str(), "example.com");
        assert_eq!(a[0].value.text(), "203.0.113.10");
        assert_eq!(
            find(&expected, "mail.example.com", RecordType::Aaaa).len(),
            1
        );

        // A hostname outside every domain goes to the primary domain's section.
        config.hostname = "mx.hosting.example".to_owned();
        let expected = expected_records(&config, &keys()).unwrap();
        let a = find(&expected, "mx.hosting.example", RecordType::A);
        assert_eq!(a[0].domain.as_str(), "example.org");
        assert!(!a[0].is_within(&a[0].domain));
    }

    #[test]
    fn missing_public_address_is_a_note() {
        let mut config = config();
        config.network.public_addresses.clear();
        config.network.bind = vec!["10.0.0.5".parse().unwrap()];
        let expected = expected_records(&config, &keys()).unwrap();
        assert!(expected
            .records
            .iter()
            .all(|record| !matches!(record.record_type(), RecordType::A | RecordType::Aaaa)));
        assert!(
            expected
                .notes
                .iter()
                .any(|note| note.message.contains("A record")
                    && note.domain.as_str() == "example.com")
        );
    }

    #[test]
    fn ptr_notes_for_ipv4_and_ipv6() {
        assert_eq!(
            reverse_name("1.2.3.4".parse().unwrap()),
            "4.3.2.1.in-addr.arpa"
        );
        assert_eq!(
            reverse_name("2001:db8::567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        let expected = expected_records(&config(), &keys()).unwrap();
        let ptrs: Vec<(String, String)> = expected
            .notes
            .iter()
            .filter_map(|note| note.record.as_ref())
            .filter(|record| record.record_type() == RecordType::Ptr)
            .map(|record| (record.fqdn(), record.value.text()))
            .collect();
        assert_eq!(
            ptrs,
            vec![
                (
                    "10.113.0.203.in-addr.arpa.".to_owned(),
                    "mail.example.com.".to_owned()
                ),
                (
                    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
                        .to_owned(),
                    "mail.example.com.".to_owned()
                ),
            ]
        );
        assert!(expected
            .records
            .iter()
            .all(|record| record.record_type() != RecordType::Ptr));
    }

    #[test]
    fn tlsa_for_the_current_and_next_key_only_when_the_key_is_kept() {
        let mut config = config();
        let mut keys = keys();
        keys.add_tls_key(&"AB".repeat(32));
        keys.add_tls_key(&"cd".repeat(32));
        keys.add_tls_key(&"ab".repeat(32));
        let tlsa = |config: &Config| {
            let expected = expected_records(config, &keys).unwrap();
            find(&expected, "_25._tcp.mail.example.com", RecordType::Tlsa)
                .iter()
                .map(|record| (record.domain.to_string(), record.value.text()))
                .collect::<Vec<_>>()
        };
        assert!(
            tlsa(&config).is_empty(),
            "a new key at each renewal: no TLSA"
        );
        config.tls.reuse_key = true;
        assert_eq!(
            tlsa(&config),
            vec![
                (
                    "example.com".to_owned(),
                    format!("3 1 1 {}", "ab".repeat(32))
                ),
                (
                    "example.com".to_owned(),
                    format!("3 1 1 {}", "cd".repeat(32))
                ),
            ]
        );
    }

    #[test]
    fn missing_dkim_key_is_a_note() {
        let expected = expected_records(&config(), &PublicKeys::new()).unwrap();
        assert!(find(&expected, "rsa1._domainkey.example.com", RecordType::Txt).is_empty());
        assert!(expected
            .notes
            .iter()
            .any(|note| note.message.contains("rsa1._domainkey.example.com")));
    }

    #[test]
    fn caa_follows_the_acme_directory() {
        let mut config = config();
        let caa = |config: &Config| {
            let expected = expected_records(config, &keys()).unwrap();
            find(&expected, "example.com", RecordType::Caa)
                .iter()
                .map(|record| record.value.text())
                .collect::<Vec<_>>()
        };
        assert_eq!(caa(&config), vec!["0 issue \"letsencrypt.org\""]);
        config.tls.acme_directory = LETSENCRYPT_STAGING_DIRECTORY.to_owned();
        assert_eq!(caa(&config), vec!["0 issue \"letsencrypt.org\""]);
        config.tls.acme_directory = "https://acme.other-ca.example/directory".to_owned();
        assert!(caa(&config).is_empty());
        let expected = expected_records(&config, &keys()).unwrap();
        assert!(expected
            .notes
            .iter()
            .any(|note| note.message.contains("acme.other-ca.example")));
        config.tls.mode = TlsMode::SelfSigned;
        assert!(caa(&config).is_empty());
    }

    #[test]
    fn cname_is_skipped_where_it_would_collide_with_the_hostname() {
        let mut config = config();
        config.hostname = "autoconfig.example.com".to_owned();
        let expected = expected_records(&config, &keys()).unwrap();
        assert!(find(&expected, "autoconfig.example.com", RecordType::Cname).is_empty());
        assert_eq!(
            find(&expected, "autoconfig.example.com", RecordType::A).len(),
            1
        );
        assert_eq!(
            find(&expected, "autodiscover.example.com", RecordType::Cname).len(),
            1
        );
    }

    #[test]
    fn moved_smtp_and_https_ports_are_noted() {
        let mut config = config();
        config.ports.smtp = Port(Some(2525));
        config.ports.https = Port(None);
        let expected = expected_records(&config, &keys()).unwrap();
        assert!(expected
            .notes
            .iter()
            .any(|note| note.message.contains("port 2525")));
        assert!(expected
            .notes
            .iter()
            .any(|note| note.message.contains("`https` is turned off")));
    }
}
