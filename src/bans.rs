//! Bans of addresses that keep failing to log in. The guard service
//! decides and enforces them (in the host's firewall); this module holds
//! what mailctl itself needs: the unit a ban covers, the addresses that may
//! never be banned and why, the guard's settings, and its token.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{parse_duration, Config};
use crate::secrets::Secrets;

/// The length of an IPv6 ban: one customer's network, as providers assign it.
pub const IPV6_BAN_PREFIX: u8 = 64;

/// The network a ban of `address` covers: the address itself for IPv4,
/// its /64 for IPv6.
pub fn ban_unit(address: IpAddr) -> IpNet {
    match address {
        IpAddr::V4(address) => IpNet::V4(Ipv4Net::from(address)),
        IpAddr::V6(address) => IpNet::V6(
            Ipv6Net::new(address, IPV6_BAN_PREFIX)
                .map_or_else(|_| Ipv6Net::from(address), |network| network.trunc()),
        ),
    }
}

/// A network that is never banned, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protected {
    pub network: IpNet,
    pub reason: String,
    /// Listed in `security.bans.allow` (the user's choice, not a rule).
    #[serde(skip)]
    pub allowed_by_config: bool,
}

/// Every network that is never banned: loopback, the stack's own network
/// (its gateway stands for every client Docker's userland proxy forwards,
/// so banning it would lock everyone out), and `security.bans.allow`.
pub fn protected(config: &Config) -> Vec<Protected> {
    let mut out = vec![
        Protected {
            network: IpNet::V4(
                Ipv4Net::new(std::net::Ipv4Addr::LOCALHOST, 8)
                    .unwrap_or_default()
                    .trunc(),
            ),
            reason: "it is loopback".to_owned(),
            allowed_by_config: false,
        },
        Protected {
            network: IpNet::V6(Ipv6Net::from(std::net::Ipv6Addr::LOCALHOST)),
            reason: "it is loopback".to_owned(),
            allowed_by_config: false,
        },
    ];
    for subnet in [
        Some(&config.network.subnet),
        config.network.ipv6_subnet.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(network) = crate::net::parse_network(subnet) {
            out.push(Protected {
                network,
                reason: format!(
                    "it is in the stack's own network {network}, whose gateway stands for every client Docker's proxy forwards"
                ),
                allowed_by_config: false,
            });
        }
    }
    for entry in &config.security.bans.allow {
        if let Some(network) = crate::net::parse_network(entry) {
            out.push(Protected {
                network,
                reason: format!("`security.bans.allow` lists `{entry}`"),
                allowed_by_config: true,
            });
        }
    }
    out
}

/// Why `network` may not be banned, if it may not.
pub fn refusal<'a>(protected: &'a [Protected], network: &IpNet) -> Option<&'a Protected> {
    protected.iter().find(|entry| {
        entry.network.contains(&network.network()) || network.contains(&entry.network.network())
    })
}

/// The shared secret between the guard and the services that report to it,
/// derived from the stack's secret so no new file is needed.
pub fn guard_token(secrets: &Secrets) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"mailctl guard token\0");
    hasher.update(secrets.rspamd_controller_password.as_bytes());
    hex::encode(&hasher.finalize()[..24])
}

/// The firewall chain of the project's bans: `MAILCTL-` and a digest of
/// the project name (iptables allows 28 characters).
pub fn chain_name(project: &str) -> String {
    let digest = Sha256::digest(project.as_bytes());
    format!("MAILCTL-{}", hex::encode(&digest[..5]).to_uppercase())
}

/// The guard's settings file (`guard.json`), rendered into its config
/// directory; the guard re-reads it on reload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardSettings {
    pub project: String,
    pub chain: String,
    /// The address the guard listens on (the network's gateway), TCP for
    /// Dovecot's policy requests and mailctl, UDP for nginx's reports.
    pub listen: String,
    pub port: u16,
    /// The stack's networks: bans refuse traffic to them only.
    pub subnet: String,
    pub ipv6_subnet: Option<String>,
    pub max_failures: u32,
    pub window_seconds: u64,
    pub duration_seconds: u64,
    pub max_duration_seconds: u64,
    pub protected: Vec<Protected>,
}

impl GuardSettings {
    pub fn new(config: &Config, gateway: std::net::Ipv4Addr) -> Self {
        let bans = &config.security.bans;
        let seconds = |text: &str, default: u64| parse_duration(text).unwrap_or(default);
        GuardSettings {
            project: config.name.clone(),
            chain: chain_name(&config.name),
            listen: gateway.to_string(),
            port: crate::spec::GUARD_PORT,
            subnet: config.network.subnet.clone(),
            ipv6_subnet: config.network.ipv6_subnet.clone(),
            max_failures: bans.max_failures,
            window_seconds: seconds(&bans.window, 600),
            duration_seconds: seconds(&bans.duration, 3600),
            max_duration_seconds: seconds(&bans.max_duration, 604_800),
            protected: protected(config),
        }
    }
}

/// One ban as the guard lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The banned network (an address for IPv4, a /64 for IPv6).
    pub network: String,
    /// Unix seconds.
    pub since: u64,
    pub until: u64,
    /// Bans of this network so far, this one included.
    pub offences: u32,
    /// What earned it: the failed logins, or `mailctl ban add`.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allow: &[&str]) -> Config {
        let yaml = "version: 1\nhostname: mail.example.com\nprimary_domain: example.com\ndomains:\n  - name: example.com\n";
        let mut config = crate::config::parse_str(yaml, std::path::Path::new("test.yaml")).unwrap();
        config.network.subnet = "172.30.53.0/24".to_owned();
        config.security.bans.allow = allow.iter().map(|entry| (*entry).to_owned()).collect();
        config
    }

    #[test]
    fn ipv4_is_banned_by_address_and_ipv6_by_its_64() {
        assert_eq!(
            ban_unit("198.51.100.7".parse().unwrap()).to_string(),
            "198.51.100.7/32"
        );
        assert_eq!(
            ban_unit("2001:db8:1:2:3:4:5:6".parse().unwrap()).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn loopback_the_stack_network_and_the_allow_list_are_never_banned() {
        let config = config(&["198.51.100.0/24", "2001:db8::1"]);
        let protected = protected(&config);
        let why = |address: &str| {
            refusal(&protected, &ban_unit(address.parse().unwrap()))
                .map(|entry| entry.reason.clone())
        };
        assert!(why("127.0.0.1").unwrap().contains("loopback"));
        assert!(why("::1").unwrap().contains("loopback"));
        assert!(why("172.30.53.1").unwrap().contains("gateway"));
        assert!(why("198.51.100.9").unwrap().contains("198.51.100.0/24"));
        // The /64 a ban would cover holds an allowed address.
        assert!(why("2001:db8::99").unwrap().contains("2001:db8::1"));
        assert_eq!(why("203.0.113.66"), None);
        assert_eq!(why("2001:db8:5::1"), None);
    }

    #[test]
    fn the_chain_name_fits_iptables() {
        let name = chain_name("a-very-long-project-name-indeed-longer-than-anything");
        assert!(name.len() <= 28, "{name}");
        assert_ne!(chain_name("one"), chain_name("two"));
    }
}
