//! The `doctor:` section of mailctl.yaml: which blocklists to ask, where
//! to test outbound port 25, extra trust anchors and the per-check timeout.

use serde::{Deserialize, Serialize};

pub use crate::doctor::blocklist::Blocklist;

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
            blocklists: crate::doctor::blocklist::default_address_lists(),
            domain_blocklists: crate::doctor::blocklist::default_domain_lists(),
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
