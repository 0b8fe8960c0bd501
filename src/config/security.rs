//! The `security:` section of mailctl.yaml: what port 25 refuses before
//! any content check, and the brake on accounts that send too much.

use serde::{Deserialize, Serialize};

/// The blocklist port 25 asks by default: Spamhaus ZEN (SBL, CSS, XBL and
/// PBL), free for small servers that query it through their own resolver,
/// which the stack's Unbound is.
pub const DEFAULT_REJECT_BLOCKLIST: &str = "zen.spamhaus.org";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// DNS blocklists (RFC 5782) of client addresses: a client listed in
    /// one is refused on port 25 with a 5xx that names the list. Only
    /// answers in 127.0.0.2–127.0.0.255 count; lists answer errors (a
    /// query through a public resolver, over quota) with other addresses.
    pub reject_blocklists: Vec<String>,
    /// Recipients an authenticated sender may submit in one clock hour
    /// (UTC) before its further submissions are held in the queue and the
    /// postmaster is told: the brake on a compromised account. A mailbox's
    /// own `outbound_alert` overrides it.
    pub outbound_alert_per_hour: u32,
    /// The same per calendar day (UTC).
    pub outbound_alert_per_day: u32,
}

/// Recipients per hour before a sender's mail is held, by default: far
/// above what a person writes, far below what a spam run sends.
pub const DEFAULT_OUTBOUND_ALERT_PER_HOUR: u32 = 100;
/// Recipients per day before a sender's mail is held, by default.
pub const DEFAULT_OUTBOUND_ALERT_PER_DAY: u32 = 500;

impl Default for Security {
    fn default() -> Self {
        Security {
            reject_blocklists: vec![DEFAULT_REJECT_BLOCKLIST.to_owned()],
            outbound_alert_per_hour: DEFAULT_OUTBOUND_ALERT_PER_HOUR,
            outbound_alert_per_day: DEFAULT_OUTBOUND_ALERT_PER_DAY,
        }
    }
}

/// A mailbox's own thresholds for the brake (`mailboxes[].outbound_alert`),
/// e.g. for a newsletter sender; what it leaves out comes from `security`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundAlert {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u32>,
}

impl Security {
    pub fn is_default(&self) -> bool {
        *self == Security::default()
    }
}
