//! The `security:` section of mailctl.yaml: what port 25 refuses before
//! any content check, the brake on accounts that send too much, and the
//! bans of addresses that keep failing to log in.

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
    /// Addresses that keep failing to authenticate are refused on every
    /// published port for a while.
    pub bans: Bans,
}

/// `security.bans`: after `max_failures` failed logins within `window`
/// from one address (an IPv6 client by its /64), the address is refused on
/// every published port for `duration`, doubled for each earlier ban of
/// the same address up to `max_duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bans {
    pub enabled: bool,
    pub max_failures: u32,
    /// A duration: `90s`, `10m`, `1h`, `7d` (or plain seconds).
    pub window: String,
    pub duration: String,
    pub max_duration: String,
    /// Addresses and networks never banned (the admin's own).
    pub allow: Vec<String>,
}

impl Default for Bans {
    fn default() -> Self {
        Bans {
            enabled: true,
            max_failures: 10,
            window: "10m".to_owned(),
            duration: "1h".to_owned(),
            max_duration: "7d".to_owned(),
            allow: Vec::new(),
        }
    }
}

/// Seconds in a duration written `90s`, `10m`, `1h`, `7d`, `2w` or as plain
/// seconds; `None` when it is not one.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    number.checked_mul(unit)
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
            bans: Bans::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("10m"), Some(600));
        assert_eq!(parse_duration("1h"), Some(3600));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("2w"), Some(1_209_600));
        for wrong in [
            "",
            "m",
            "10 minutes",
            "1.5h",
            "-1h",
            "10y",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(wrong), None, "{wrong}");
        }
    }
}
