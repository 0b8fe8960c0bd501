//! The `doctor:` section of mailctl.yaml: which blocklists to ask, where
//! to test outbound port 25, extra trust anchors and the per-check timeout.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Doctor {
    /// Address blocklists (DNSBLs) the server's public addresses are looked up in.
    pub blocklists: Vec<Blocklist>,
    /// Domain blocklists each configured domain is looked up in.
    pub domain_blocklists: Vec<String>,
    /// `host:port` of a mail server outside, for the outbound port 25 test.
    pub outbound_smtp: String,
    /// A PEM file of further trusted CAs for the TLS checks (a private ACME CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Seconds one check may take.
    pub timeout_seconds: u64,
}

impl Default for Doctor {
    fn default() -> Self {
        Doctor {
            blocklists: default_address_lists(),
            domain_blocklists: default_domain_lists(),
            outbound_smtp: "gmail-smtp-in.l.google.com:25".to_owned(),
            ca_file: None,
            timeout_seconds: 20,
        }
    }
}

impl Doctor {
    pub fn is_default(&self) -> bool {
        *self == Doctor::default()
    }
}

/// A blocklist entry for `doctor.blocklists`.
pub fn doctor_blocklist(zone: &str, ipv6: bool) -> Blocklist {
    Blocklist {
        zone: zone.to_owned(),
        ipv6,
    }
}

/// One blocklist zone, as `doctor.blocklists` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocklist {
    pub zone: String,
    /// Whether the list answers for IPv6 addresses (nibble format).
    #[serde(default)]
    pub ipv6: bool,
}

/// The address lists checked unless the configuration says otherwise.
pub fn default_address_lists() -> Vec<Blocklist> {
    [
        ("zen.spamhaus.org", true),
        ("b.barracudacentral.org", false),
        ("bl.spamcop.net", false),
        ("psbl.surriel.com", false),
    ]
    .into_iter()
    .map(|(zone, ipv6)| Blocklist {
        zone: zone.to_owned(),
        ipv6,
    })
    .collect()
}

/// The domain lists checked unless the configuration says otherwise.
pub fn default_domain_lists() -> Vec<String> {
    vec!["dbl.spamhaus.org".to_owned()]
}
