//! The `security:` section of mailctl.yaml: what port 25 refuses before
//! any content check.

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
}

impl Default for Security {
    fn default() -> Self {
        Security {
            reject_blocklists: vec![DEFAULT_REJECT_BLOCKLIST.to_owned()],
        }
    }
}

impl Security {
    pub fn is_default(&self) -> bool {
        *self == Security::default()
    }
}
