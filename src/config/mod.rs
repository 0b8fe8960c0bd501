//! The project's single source of truth, `mailctl.yaml`: its types, defaults,
//! loading (with file positions for every error) and saving.

mod doctor;
mod load;
mod locate;
pub mod migrate;
mod security;
mod size;
mod validate;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use doctor::{
    default_address_lists, default_domain_lists, doctor_blocklist, Blocklist, Doctor,
};
pub use load::{load_file, parse_str, save_file, ConfigError, CONFIG_FILE, MAX_CONFIG_BYTES};
pub use security::{parse_duration, Bans, OutboundAlert, Security, DEFAULT_REJECT_BLOCKLIST};

use crate::service::PortName;
pub use size::{Size, SizeError};
pub use validate::{validate, Issue};

/// The schema version this build writes and reads.
pub const CURRENT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: u32,
    /// The Compose project name: prefixes containers, networks and volumes.
    #[serde(default = "default_name")]
    pub name: String,
    /// The mail server's own name: the MX target and the name in its certificate.
    pub hostname: String,
    /// The domain whose postmaster receives reports; one of `domains`.
    pub primary_domain: String,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub ports: Ports,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub components: Components,
    /// Per-service image overrides (`smtp: registry.example/postfix:1`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    pub domains: Vec<Domain>,
    #[serde(default)]
    pub mailboxes: Vec<Mailbox>,
    #[serde(default)]
    pub aliases: Vec<Alias>,
    /// What `mailctl doctor` checks against (blocklists, outbound test target).
    #[serde(default, skip_serializing_if = "Doctor::is_default")]
    pub doctor: Doctor,
    /// What port 25 refuses outright (DNS blocklists).
    #[serde(default, skip_serializing_if = "Security::is_default")]
    pub security: Security,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// Host addresses the published ports listen on.
    pub bind: Vec<IpAddr>,
    /// The server's public addresses, for DNS records and checks. Defaults to
    /// the bind addresses that are globally routable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub public_addresses: Vec<IpAddr>,
    /// The Docker bridge network's IPv4 subnet (private, fixed).
    pub subnet: String,
    /// An optional IPv6 subnet for the bridge network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_subnet: Option<String>,
    /// For machines without Internet DNS (tests, demos): outside lookups
    /// fail at once instead of timing out. Blocklist, SPF and DKIM checks
    /// of incoming mail then cannot work.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline_dns: bool,
    /// Resolvers (`IP` or `IP:PORT`) that the stack's Unbound forwards every
    /// query to, instead of asking the root servers itself: a provider's
    /// resolver, or a private network's own DNS. They must pass DNSSEC
    /// records through (Unbound still validates), and DNS blocklists refuse
    /// queries that arrive through the big public resolvers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_forwarders: Vec<String>,
    /// DNSSEC trust anchors, each a DS or DNSKEY record in master-file text
    /// (`example.net. DS 12345 13 2 ABCD…`). An anchor for `.` replaces the
    /// built-in root key: a private DNS root, as on a closed test network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_trust_anchors: Vec<String>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            bind: vec![IpAddr::from([0, 0, 0, 0])],
            public_addresses: Vec::new(),
            subnet: "172.30.53.0/24".to_owned(),
            ipv6_subnet: None,
            offline_dns: false,
            dns_forwarders: Vec::new(),
            dns_trust_anchors: Vec::new(),
        }
    }
}

/// A published port: a number, or `false` when the service is turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(pub Option<u16>);

impl Port {
    pub fn number(self) -> Option<u16> {
        self.0
    }
}

impl Serialize for Port {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(number) => serializer.serialize_u16(number),
            None => serializer.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Port;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a port number from 1 to 65535, or `false` to turn the service off")
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Port, E> {
                match u16::try_from(value) {
                    Ok(number) if number > 0 => Ok(Port(Some(number))),
                    _ => Err(E::custom(format!(
                        "port {value} is out of range; use 1 to 65535, or `false` to turn the service off"
                    ))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Port, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(format!(
                        "port {value} is out of range; use 1 to 65535, or `false` to turn the service off"
                    ))),
                }
            }
            fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Port, E> {
                if value {
                    Err(E::custom(
                        "`true` is not a port; give the number, or `false` to turn the service off",
                    ))
                } else {
                    Ok(Port(None))
                }
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Port, E> {
                match value {
                    "off" | "false" | "disabled" => Ok(Port(None)),
                    other => match other.parse::<u64>() {
                        Ok(number) => self.visit_u64(number),
                        Err(_) => Err(E::custom(format!(
                            "`{other}` is not a port; give a number, or `false` to turn the service off"
                        ))),
                    },
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The published host ports, by the names the command line uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ports {
    pub smtp: Port,
    pub submissions: Port,
    pub submission: Port,
    pub imaps: Port,
    pub pop3s: Port,
    pub sieve: Port,
    pub http: Port,
    pub https: Port,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            smtp: Port(Some(25)),
            submissions: Port(Some(465)),
            submission: Port(Some(587)),
            imaps: Port(Some(993)),
            pop3s: Port(None),
            sieve: Port(Some(4190)),
            http: Port(Some(80)),
            https: Port(Some(443)),
        }
    }
}

impl Ports {
    pub fn get(&self, name: PortName) -> Port {
        match name {
            PortName::Smtp => self.smtp,
            PortName::Submissions => self.submissions,
            PortName::Submission => self.submission,
            PortName::Imaps => self.imaps,
            PortName::Pop3s => self.pop3s,
            PortName::Sieve => self.sieve,
            PortName::Http => self.http,
            PortName::Https => self.https,
        }
    }

    pub fn set(&mut self, name: PortName, port: Port) {
        let slot = match name {
            PortName::Smtp => &mut self.smtp,
            PortName::Submissions => &mut self.submissions,
            PortName::Submission => &mut self.submission,
            PortName::Imaps => &mut self.imaps,
            PortName::Pop3s => &mut self.pop3s,
            PortName::Sieve => &mut self.sieve,
            PortName::Http => &mut self.http,
            PortName::Https => &mut self.https,
        };
        *slot = port;
    }

    /// Every published port with its number, in [`PortName::ALL`]'s order.
    pub fn enabled(&self) -> Vec<(PortName, u16)> {
        PortName::ALL
            .into_iter()
            .filter_map(|name| self.get(name).number().map(|number| (name, number)))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Letsencrypt,
    SelfSigned,
    Custom,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Letsencrypt => "letsencrypt",
            TlsMode::SelfSigned => "self-signed",
            TlsMode::Custom => "custom",
        }
    }
}

pub const LETSENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETSENCRYPT_STAGING_DIRECTORY: &str =
    "https://acme-staging-v02.api.letsencrypt.org/directory";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    pub mode: TlsMode,
    /// Contact address for the ACME account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme_email: Option<String>,
    pub acme_directory: String,
    /// For `custom`: the certificate chain and key, as host paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// The certificate key's type (ACME): `ecdsa-p256` or `rsa-2048`.
    #[serde(skip_serializing_if = "is_default")]
    pub key_type: KeyType,
    /// Which per-domain names the certificate covers besides the hostname.
    #[serde(skip_serializing_if = "is_default")]
    pub names: CertificateNames,
    /// How the ACME server checks control of each name.
    #[serde(skip_serializing_if = "is_default")]
    pub challenge: Challenge,
    /// For `dns-01`: the DNS server that takes RFC 2136 updates, `HOST[:PORT]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_update_server: Option<String>,
    /// For `dns-01`: the TSIG key file (BIND format, as `tsig-keygen` writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_update_key_file: Option<String>,
    /// Renew a certificate this many days before it expires.
    #[serde(skip_serializing_if = "is_default_renew_days")]
    pub renew_before_days: u32,
    /// Keep the private key across renewals (a published TLSA `3 1 1` record stays valid).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reuse_key: bool,
    /// The most names in one certificate (Let's Encrypt allows 100; some CAs fewer).
    #[serde(skip_serializing_if = "is_default_max_names")]
    pub max_names_per_certificate: u32,
}

pub const DEFAULT_MAX_NAMES_PER_CERTIFICATE: u32 = 100;

fn is_default_max_names(names: &u32) -> bool {
    *names == DEFAULT_MAX_NAMES_PER_CERTIFICATE
}

pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn is_default_renew_days(days: &u32) -> bool {
    *days == DEFAULT_RENEW_BEFORE_DAYS
}

/// The key type of ACME certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Rsa2048 => "rsa-2048",
        }
    }
}

/// The ACME challenge type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Challenge {
    /// A file served by `web` on port 80.
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// A TXT record at `_acme-challenge.<name>`, set through RFC 2136.
    #[serde(rename = "dns-01")]
    Dns01,
}

impl Challenge {
    pub fn as_str(self) -> &'static str {
        match self {
            Challenge::Http01 => "http-01",
            Challenge::Dns01 => "dns-01",
        }
    }
}

/// The per-domain names a certificate covers, besides the hostname.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertificateNames {
    /// `mta-sts.<domain>` (needed for an MTA-STS policy)
    pub mta_sts: bool,
    /// `autoconfig.<domain>` (Thunderbird)
    pub autoconfig: bool,
    /// `autodiscover.<domain>` (Outlook)
    pub autodiscover: bool,
}

impl Default for CertificateNames {
    fn default() -> Self {
        CertificateNames {
            mta_sts: true,
            autoconfig: true,
            autodiscover: true,
        }
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            mode: TlsMode::Letsencrypt,
            acme_email: None,
            acme_directory: LETSENCRYPT_DIRECTORY.to_owned(),
            certificate_file: None,
            key_file: None,
            key_type: KeyType::default(),
            names: CertificateNames::default(),
            challenge: Challenge::default(),
            dns_update_server: None,
            dns_update_key_file: None,
            renew_before_days: DEFAULT_RENEW_BEFORE_DAYS,
            reuse_key: false,
            max_names_per_certificate: DEFAULT_MAX_NAMES_PER_CERTIFICATE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted, e.g. `50M`.
    pub message_size: Size,
    /// Messages an authenticated user may send per hour.
    pub messages_per_hour_per_user: u32,
    /// Recipients allowed in one message.
    pub recipients_per_message: u32,
    /// Connections per minute from one client address on port 25.
    pub connections_per_minute_per_client: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_size: Size::from_bytes(50 * 1024 * 1024),
            messages_per_hour_per_user: 300,
            recipients_per_message: 100,
            connections_per_minute_per_client: 60,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Components {
    pub antivirus: bool,
    pub webmail: bool,
    pub webdav: bool,
    pub fetchmail: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

impl DmarcPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtaStsMode {
    None,
    Testing,
    Enforce,
}

impl MtaStsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MtaStsMode::None => "none",
            MtaStsMode::Testing => "testing",
            MtaStsMode::Enforce => "enforce",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    Rsa,
    Ed25519,
}

impl DkimAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::Rsa => "rsa",
            DkimAlgorithm::Ed25519 => "ed25519",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSelector {
    pub selector: String,
    pub algorithm: DkimAlgorithm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dmarc {
    pub policy: DmarcPolicy,
    /// Where aggregate reports go (`rua=mailto:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_address: Option<String>,
}

impl Default for Dmarc {
    fn default() -> Self {
        Dmarc {
            policy: DmarcPolicy::Quarantine,
            report_address: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MtaSts {
    pub mode: MtaStsMode,
    /// Policy lifetime in seconds (RFC 8461 §3.2).
    pub max_age: u32,
}

impl Default for MtaSts {
    fn default() -> Self {
        MtaSts {
            mode: MtaStsMode::Testing,
            max_age: 604_800,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub name: String,
    #[serde(default)]
    pub dmarc: Dmarc,
    #[serde(default)]
    pub mta_sts: MtaSts,
    /// Where TLS reports go (RFC 8460); none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_rpt_address: Option<String>,
    /// The DKIM selectors that sign this domain's mail; keys live in
    /// `dkim/<domain>/<selector>.key`.
    #[serde(default)]
    pub dkim: Vec<DkimSelector>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mailbox {
    pub address: String,
    /// A Dovecot password hash with its scheme prefix, e.g. `{ARGON2ID}$argon2id$…`.
    pub password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "enabled_default", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Further addresses this mailbox may send as, beyond its own and the
    /// aliases that deliver to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send_as: Vec<String>,
    /// Forward every message to other addresses (Sieve `redirect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<Forward>,
    /// Answer messages automatically, optionally within a date window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoreply: Option<AutoReply>,
    /// This mailbox's own thresholds for holding its outbound mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_alert: Option<OutboundAlert>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    pub to: Vec<String>,
    /// Keep a copy in the mailbox too.
    #[serde(default)]
    pub keep: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoReply {
    pub subject: String,
    pub body: String,
    /// First day (`YYYY-MM-DD`, server time) on which replies are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day on which replies are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// The project name when none is given.
pub const DEFAULT_NAME: &str = "mailctl";

fn default_name() -> String {
    DEFAULT_NAME.to_owned()
}

fn enabled_default() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alias {
    /// `name@domain`, or `@domain` for a catch-all.
    pub source: String,
    pub destinations: Vec<String>,
}

impl Alias {
    pub fn is_catch_all(&self) -> bool {
        self.source.starts_with('@')
    }
}

impl Config {
    /// Whether the stack runs `service`: the guard only while bans are on.
    pub fn runs(&self, service: crate::service::Service) -> bool {
        service != crate::service::Service::Guard || self.security.bans.enabled
    }

    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.iter().find(|domain| domain.name == name)
    }

    pub fn mailbox(&self, address: &str) -> Option<&Mailbox> {
        self.mailboxes
            .iter()
            .find(|mailbox| mailbox.address == address)
    }

    /// The mailbox that receives the role mail of new domains: the first
    /// on the primary domain, else the first of all.
    pub fn role_mailbox(&self) -> Option<String> {
        let suffix = format!("@{}", self.primary_domain);
        self.mailboxes
            .iter()
            .find(|mailbox| mailbox.address.ends_with(&suffix))
            .or_else(|| self.mailboxes.first())
            .map(|mailbox| mailbox.address.clone())
    }

    /// Whether a mailbox or an alias already uses `address`.
    pub fn receives(&self, address: &str) -> bool {
        self.mailbox(address).is_some() || self.aliases.iter().any(|alias| alias.source == address)
    }

    /// The addresses the server is reached at publicly: configured, or the
    /// globally routable bind addresses.
    pub fn public_addresses(&self) -> Vec<IpAddr> {
        if !self.network.public_addresses.is_empty() {
            return self.network.public_addresses.clone();
        }
        self.network
            .bind
            .iter()
            .copied()
            .filter(|address| is_global(*address))
            .collect()
    }
}

/// The role addresses every mail domain receives mail for (RFC 2142).
pub const ROLE_ADDRESSES: [&str; 2] = ["postmaster", "abuse"];

/// Whether `address` is one of the [`ROLE_ADDRESSES`] of its domain.
pub fn is_role_address(address: &str) -> bool {
    address
        .split_once('@')
        .is_some_and(|(local, _)| ROLE_ADDRESSES.contains(&local))
}

/// Aliases delivering the [`ROLE_ADDRESSES`] of `domain` to `destination`,
/// leaving out the addresses `taken` says are used already.
pub fn role_aliases(domain: &str, destination: &str, taken: impl Fn(&str) -> bool) -> Vec<Alias> {
    ROLE_ADDRESSES
        .iter()
        .map(|role| format!("{role}@{domain}"))
        .filter(|source| source != destination && !taken(source))
        .map(|source| Alias {
            source,
            destinations: vec![destination.to_owned()],
        })
        .collect()
}

/// A date as the configuration writes it (`2026-12-24`, automatic replies).
pub fn parse_date(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).ok()
}

/// The owner name and record type of a DNSSEC trust anchor in master-file
/// text (`owner [TTL] [IN] DS|DNSKEY data…`), or `None` when it is not one.
pub fn trust_anchor_owner(text: &str) -> Option<(String, String)> {
    let mut fields = text.split_whitespace();
    let owner = fields.next()?;
    if !owner.ends_with('.') {
        return None;
    }
    let mut rest: Vec<&str> = fields.collect();
    while let Some(first) = rest.first() {
        if first.eq_ignore_ascii_case("IN") || first.parse::<u32>().is_ok() {
            rest.remove(0);
        } else {
            break;
        }
    }
    let rtype = rest.first()?.to_ascii_uppercase();
    let data_fields = if rtype == "DS" || rtype == "DNSKEY" {
        4
    } else {
        return None;
    };
    if rest.len() < 1 + data_fields {
        return None;
    }
    Some((owner.to_ascii_lowercase(), rtype))
}

/// Whether an address is routable on the public internet (a conservative
/// reading of the IANA special-purpose registries).
pub fn is_global(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let octets = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || octets[0] == 0
                || (octets[0] == 100 && (octets[1] & 0xc0) == 64)
                || (octets[0] == 198 && (octets[1] & 0xfe) == 18)
                || octets[0] >= 240)
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00
                || (segments[0] & 0xffc0) == 0xfe80
                || (segments[0] == 0x2001 && segments[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_aliases_skip_what_is_taken_and_the_destination_itself() {
        let aliases = role_aliases("example.org", "admin@example.com", |address| {
            address == "abuse@example.org"
        });
        assert_eq!(
            aliases,
            vec![Alias {
                source: "postmaster@example.org".to_owned(),
                destinations: vec!["admin@example.com".to_owned()],
            }]
        );
        assert!(
            role_aliases("example.com", "postmaster@example.com", |_| false)
                .iter()
                .all(|alias| alias.source != "postmaster@example.com")
        );
        assert!(is_role_address("abuse@example.org"));
        assert!(!is_role_address("abuser@example.org"));
    }
}
