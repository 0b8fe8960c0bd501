//! The values templates see: the config flattened into what each service
//! needs (maps, sender ownership, per-domain policies), computed once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use super::RenderInput;
use crate::config::Config;
use crate::names::DomainName;
use crate::service::PortName;
use crate::spec;

#[derive(Debug, Serialize)]
pub struct TemplateContext {
    pub name: String,
    pub hostname: String,
    pub primary_domain: String,
    pub postmaster: String,
    pub domains: Vec<DomainContext>,
    pub mailboxes: Vec<MailboxContext>,
    pub aliases: Vec<AliasContext>,
    /// For Postfix's `smtpd_sender_login_maps`: each address (or `@domain`)
    /// and the logins allowed to send as it.
    pub sender_logins: Vec<SenderLogin>,
    pub network: NetworkContext,
    /// Ports as clients see them (published numbers), or none when off.
    pub ports: BTreeMap<String, Option<u16>>,
    pub limits: LimitsContext,
    /// DNS blocklists whose listed clients port 25 refuses.
    pub reject_blocklists: Vec<String>,
    /// Every address blocklist (`security.reject_blocklists` and
    /// `doctor.blocklists`) postscreen weighs, one point each.
    pub postscreen_blocklists: Vec<String>,
    /// Local parts that receive mail even from listed clients (RFC 2142).
    pub role_addresses: Vec<&'static str>,
    pub paths: PathsContext,
    pub rspamd: RspamdContext,
    /// Names served with a certificate other than the first (more names
    /// than one certificate holds): name → its directory under
    /// `<certs>/extra/`.
    pub extra_certificates: BTreeMap<String, String>,
    /// The autodiscover names, one nginx server per certificate.
    pub autodiscover_groups: Vec<AutodiscoverGroup>,
    /// OpenSSL's list of the TLS 1.2 ciphers offered where TLS is required.
    pub tls_ciphers: &'static str,
    /// Recipients per hour and day after which a sender's mail is held.
    pub outbound_alert: OutboundAlertContext,
    pub bans: BansContext,
}

/// What Dovecot and nginx need to report logins to the guard, and the
/// guard's own settings.
#[derive(Serialize)]
pub struct BansContext {
    pub enabled: bool,
    /// Where the guard listens (the network's gateway).
    pub address: Ipv4Addr,
    pub port: u16,
    /// Shared by the guard and the services reporting to it.
    pub token: String,
    /// The guard's `guard.json`.
    pub settings_json: String,
}

/// Never prints the token.
impl std::fmt::Debug for BansContext {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BansContext")
            .field("enabled", &self.enabled)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
pub struct OutboundAlertContext {
    pub per_hour: u32,
    pub per_day: u32,
    /// Mailboxes with thresholds of their own (the rest use the defaults).
    pub mailboxes: Vec<OutboundAlertMailbox>,
}

#[derive(Debug, Serialize)]
pub struct OutboundAlertMailbox {
    pub address: String,
    pub per_hour: u32,
    pub per_day: u32,
}

fn outbound_alert(config: &Config) -> OutboundAlertContext {
    let security = &config.security;
    OutboundAlertContext {
        per_hour: security.outbound_alert_per_hour,
        per_day: security.outbound_alert_per_day,
        mailboxes: config
            .mailboxes
            .iter()
            .filter_map(|mailbox| {
                let own = mailbox.outbound_alert.as_ref()?;
                Some(OutboundAlertMailbox {
                    address: mailbox.address.to_lowercase(),
                    per_hour: own.per_hour.unwrap_or(security.outbound_alert_per_hour),
                    per_day: own.per_day.unwrap_or(security.outbound_alert_per_day),
                })
            })
            .collect(),
    }
}

#[derive(Debug, Serialize)]
pub struct AutodiscoverGroup {
    /// The directory under `<certs>/extra/`, or none for the first certificate.
    pub certificate: Option<String>,
    pub names: Vec<String>,
}

/// Autodiscover names grouped by the certificate that covers them, the
/// first certificate's group first.
fn autodiscover_groups(
    config: &Config,
    extra: &BTreeMap<String, String>,
) -> Vec<AutodiscoverGroup> {
    let mut groups: Vec<AutodiscoverGroup> = Vec::new();
    for domain in &config.domains {
        let name = format!("autodiscover.{}", domain.name);
        let certificate = extra.get(&name.to_ascii_lowercase()).cloned();
        match groups
            .iter_mut()
            .find(|group| group.certificate == certificate)
        {
            Some(group) => group.names.push(name),
            None => groups.push(AutodiscoverGroup {
                certificate,
                names: vec![name],
            }),
        }
    }
    groups.sort_by_key(|group| group.certificate.is_some());
    groups
}

#[derive(Debug, Serialize)]
pub struct DomainContext {
    pub name: String,
    pub unicode: String,
    pub dkim: Vec<DkimContext>,
    /// The RSA selector that seals ARC (RFC 8617 allows rsa-sha256 only).
    pub arc_selector: Option<String>,
    pub dmarc_policy: String,
    pub mta_sts_mode: String,
    pub mta_sts_max_age: u32,
    /// The exact policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
    pub mta_sts_policy: String,
}

#[derive(Debug, Serialize)]
pub struct DkimContext {
    pub selector: String,
    pub algorithm: String,
    /// The key's path inside the antispam container.
    pub key_path: String,
}

#[derive(Debug, Serialize)]
pub struct MailboxContext {
    pub address: String,
    pub local: String,
    pub domain: String,
    pub password_hash: String,
    /// Quota in bytes, 0 for none.
    pub quota_bytes: u64,
    /// Quota as Dovecot writes sizes (`2G`, `500M`, `1048577b`), empty for none.
    pub quota_rule: String,
    pub name: String,
    pub enabled: bool,
    /// Whether mailctl wrote a Sieve script (forwarding, automatic reply).
    pub sieve: bool,
}

#[derive(Debug, Serialize)]
pub struct AliasContext {
    pub source: String,
    pub destinations: Vec<String>,
    pub catch_all: bool,
}

#[derive(Debug, Serialize)]
pub struct SenderLogin {
    pub address: String,
    pub logins: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct NetworkContext {
    pub subnet: String,
    pub ipv6_subnet: Option<String>,
    pub gateway: Ipv4Addr,
    pub resolver_address: Ipv4Addr,
    pub imap_address: Ipv4Addr,
    pub internal_submission_port: u16,
    pub held_mail_port: u16,
    pub offline_dns: bool,
    /// Unbound's `forward-addr` values (`IP@PORT`).
    pub dns_forwarders: Vec<String>,
    pub dns_trust_anchors: Vec<String>,
    /// A trust anchor for `.` replaces the built-in root key.
    pub private_dns_root: bool,
}

#[derive(Debug, Serialize)]
pub struct LimitsContext {
    pub message_size_bytes: u64,
    pub messages_per_hour_per_user: u32,
    pub recipients_per_message: u32,
    pub connections_per_minute_per_client: u32,
}

#[derive(Debug, Serialize)]
pub struct PathsContext {
    pub config: &'static str,
    pub certificate: String,
    pub key: String,
    pub dkim: &'static str,
}

#[derive(Serialize)]
pub struct RspamdContext {
    /// The controller password, hashed as `rspamadm pw` does.
    pub controller_password_hash: String,
    /// The same in plain text, for Dovecot's Junk training (a 0600 file).
    pub controller_password: String,
}

/// Never prints the password, not even in a debug dump of the context.
impl std::fmt::Debug for RspamdContext {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RspamdContext")
            .field("controller_password_hash", &self.controller_password_hash)
            .field("controller_password", &"<redacted>")
            .finish()
    }
}

pub fn build_context(input: &RenderInput) -> anyhow::Result<TemplateContext> {
    let config = input.config;
    let subnet: Ipv4Net = config.network.subnet.parse().map_err(|_| {
        anyhow::anyhow!("network.subnet `{}` is not a subnet", config.network.subnet)
    })?;
    let ports = PortName::ALL
        .into_iter()
        .map(|port| (port.as_str().to_owned(), config.ports.get(port).number()))
        .collect();
    let extra_certificates = crate::cert::extra_certificate_names(config);
    let gateway = Ipv4Addr::from(u32::from(subnet.network()) + 1);
    Ok(TemplateContext {
        name: config.name.clone(),
        hostname: config.hostname.clone(),
        tls_ciphers: crate::tls::INTERMEDIATE_CIPHERS,
        outbound_alert: outbound_alert(config),
        primary_domain: config.primary_domain.clone(),
        postmaster: postmaster(config),
        domains: config
            .domains
            .iter()
            .map(|domain| DomainContext {
                name: domain.name.clone(),
                unicode: DomainName::parse(&domain.name)
                    .map(|name| name.unicode())
                    .unwrap_or_else(|_| domain.name.clone()),
                dkim: domain
                    .dkim
                    .iter()
                    .map(|selector| DkimContext {
                        selector: selector.selector.clone(),
                        algorithm: selector.algorithm.as_str().to_owned(),
                        key_path: format!(
                            "{}/{}/{}.key",
                            spec::DKIM_MOUNT,
                            domain.name,
                            selector.selector
                        ),
                    })
                    .collect(),
                arc_selector: domain
                    .dkim
                    .iter()
                    .find(|selector| selector.algorithm == crate::config::DkimAlgorithm::Rsa)
                    .map(|selector| selector.selector.clone()),
                dmarc_policy: domain.dmarc.policy.as_str().to_owned(),
                mta_sts_mode: domain.mta_sts.mode.as_str().to_owned(),
                mta_sts_max_age: domain.mta_sts.max_age,
                mta_sts_policy: crate::dns::mta_sts_policy(config, domain),
            })
            .collect(),
        mailboxes: config
            .mailboxes
            .iter()
            .map(|mailbox| {
                let (local, domain) = mailbox
                    .address
                    .rsplit_once('@')
                    .unwrap_or((&mailbox.address, ""));
                MailboxContext {
                    address: mailbox.address.clone(),
                    local: local.to_owned(),
                    domain: domain.to_owned(),
                    password_hash: mailbox.password_hash.clone(),
                    quota_bytes: mailbox.quota.map(|quota| quota.bytes()).unwrap_or(0),
                    quota_rule: mailbox.quota.map(dovecot_size).unwrap_or_default(),
                    name: mailbox.name.clone().unwrap_or_default(),
                    enabled: mailbox.enabled,
                    sieve: mailbox.forward.is_some() || mailbox.autoreply.is_some(),
                }
            })
            .collect(),
        aliases: config
            .aliases
            .iter()
            .map(|alias| AliasContext {
                source: alias.source.clone(),
                destinations: alias.destinations.clone(),
                catch_all: alias.is_catch_all(),
            })
            .collect(),
        sender_logins: sender_logins(config),
        network: NetworkContext {
            subnet: subnet.to_string(),
            ipv6_subnet: config.network.ipv6_subnet.clone(),
            gateway,
            resolver_address: spec::resolver_address(subnet),
            imap_address: spec::imap_address(subnet),
            internal_submission_port: spec::INTERNAL_SUBMISSION_PORT,
            held_mail_port: spec::HELD_MAIL_PORT,
            offline_dns: config.network.offline_dns,
            dns_forwarders: config
                .network
                .dns_forwarders
                .iter()
                .filter_map(|forwarder| crate::net::ip_and_port(forwarder, 53))
                .map(|address| format!("{}@{}", address.ip(), address.port()))
                .collect(),
            dns_trust_anchors: config.network.dns_trust_anchors.clone(),
            private_dns_root: config.network.dns_trust_anchors.iter().any(|anchor| {
                crate::config::trust_anchor_owner(anchor).is_some_and(|(owner, _)| owner == ".")
            }),
        },
        ports,
        role_addresses: crate::config::ROLE_ADDRESSES.to_vec(),
        // Without DNS (`offline_dns`) no list can answer: ask none.
        reject_blocklists: if config.network.offline_dns {
            Vec::new()
        } else {
            config.security.reject_blocklists.clone()
        },
        postscreen_blocklists: if config.network.offline_dns {
            Vec::new()
        } else {
            let mut zones: Vec<String> = config.security.reject_blocklists.clone();
            for list in &config.doctor.blocklists {
                if !zones.contains(&list.zone) {
                    zones.push(list.zone.clone());
                }
            }
            zones
        },
        limits: LimitsContext {
            message_size_bytes: config.limits.message_size.bytes(),
            messages_per_hour_per_user: config.limits.messages_per_hour_per_user,
            recipients_per_message: config.limits.recipients_per_message,
            connections_per_minute_per_client: config.limits.connections_per_minute_per_client,
        },
        paths: PathsContext {
            config: spec::CONFIG_MOUNT,
            certificate: format!("{}/{}", spec::CERTS_MOUNT, crate::tls::CERTIFICATE_FILE),
            key: format!("{}/{}", spec::CERTS_MOUNT, crate::tls::KEY_FILE),
            dkim: spec::DKIM_MOUNT,
        },
        rspamd: RspamdContext {
            controller_password_hash: crate::rspamd_password::hash(
                &input.secrets.rspamd_controller_password,
                &derived_salt(&input.secrets.rspamd_controller_password),
            ),
            controller_password: input.secrets.rspamd_controller_password.clone(),
        },
        bans: bans_context(config, input.secrets, gateway)?,
        autodiscover_groups: autodiscover_groups(config, &extra_certificates),
        extra_certificates,
    })
}

fn bans_context(
    config: &Config,
    secrets: &crate::secrets::Secrets,
    gateway: Ipv4Addr,
) -> anyhow::Result<BansContext> {
    let settings = crate::bans::GuardSettings::new(config, gateway);
    Ok(BansContext {
        enabled: config.security.bans.enabled,
        address: gateway,
        port: spec::GUARD_PORT,
        token: crate::bans::guard_token(secrets),
        settings_json: serde_json::to_string_pretty(&settings)?,
    })
}

/// A size in Dovecot's notation: binary units, `b` for plain bytes (a bare
/// number would be read as kilobytes by quota rules).
fn dovecot_size(size: crate::config::Size) -> String {
    let bytes = size.bytes();
    if bytes.is_multiple_of(1024) {
        size.to_string()
    } else {
        format!("{bytes}b")
    }
}

/// A salt derived from the (random, unique) secret, so that rendering is
/// repeatable and an unchanged secret gives an unchanged file.
fn derived_salt(secret: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("mailctl rspamd controller salt\0{secret}").as_bytes());
    digest[..20].to_vec()
}

/// Where postmaster, abuse and DMARC/TLS reports go: the first mailbox on
/// the primary domain, else the first mailbox.
fn postmaster(config: &Config) -> String {
    config
        .mailboxes
        .iter()
        .find(|mailbox| {
            mailbox
                .address
                .ends_with(&format!("@{}", config.primary_domain))
        })
        .or_else(|| config.mailboxes.first())
        .map(|mailbox| mailbox.address.clone())
        .unwrap_or_else(|| format!("postmaster@{}", config.primary_domain))
}

/// Who may send as what: a mailbox as itself; the local mailboxes an alias
/// delivers to as the alias (a catch-all's as the whole domain); explicit
/// `send_as` grants. RFC 5321 leaves this to policy; without it any user
/// could forge any colleague's address.
fn sender_logins(config: &Config) -> Vec<SenderLogin> {
    let mailboxes: BTreeSet<&str> = config
        .mailboxes
        .iter()
        .map(|m| m.address.as_str())
        .collect();
    let mut owners: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for mailbox in &config.mailboxes {
        owners
            .entry(mailbox.address.clone())
            .or_default()
            .insert(mailbox.address.clone());
        for grant in &mailbox.send_as {
            owners
                .entry(grant.clone())
                .or_default()
                .insert(mailbox.address.clone());
        }
    }
    for alias in &config.aliases {
        for destination in &alias.destinations {
            if mailboxes.contains(destination.as_str()) {
                owners
                    .entry(alias.source.clone())
                    .or_default()
                    .insert(destination.clone());
            }
        }
    }
    owners
        .into_iter()
        .map(|(address, logins)| SenderLogin {
            address,
            logins: logins.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_controller_password() {
        let context = RspamdContext {
            controller_password_hash: "$2$hash".to_owned(),
            controller_password: "plain-secret-value".to_owned(),
        };
        let shown = format!("{context:?}");
        assert!(!shown.contains("plain-secret-value"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
