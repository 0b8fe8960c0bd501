//! DNS blocklists: the query name for an address or a domain, and what an
//! answer means. Spamhaus answers with codes in 127.255.255.0/24 when it
//! refuses a query (a public resolver, too many queries) rather than when
//! the address is listed; those are "could not check", never "listed". Pure.

use std::net::IpAddr;

pub use crate::config::Blocklist;

/// The name to look up for `address` in `zone`: reversed octets for IPv4,
/// reversed nibbles for IPv6 (RFC 5782 §2.1, §2.4).
pub fn address_query(address: IpAddr, zone: &str) -> String {
    let reverse = crate::dns::reverse_name(address);
    let stem = reverse
        .trim_end_matches(".in-addr.arpa")
        .trim_end_matches(".ip6.arpa");
    format!("{stem}.{zone}")
}

/// What one blocklist said about one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    NotListed,
    /// Listed, with what the code means where it is known.
    Listed(Vec<String>),
    /// The list refused to answer or answered with an error code.
    Unusable(String),
}

/// Decodes the A records a blocklist returned (`answers` empty: NXDOMAIN,
/// not listed).
pub fn decode(zone: &str, answers: &[std::net::Ipv4Addr]) -> Listing {
    if answers.is_empty() {
        return Listing::NotListed;
    }
    let zone = zone.to_ascii_lowercase();
    let spamhaus = zone.ends_with("spamhaus.org") || zone.ends_with("spamhaus.net");
    let mut reasons = Vec::new();
    for answer in answers {
        let [a, b, c, d] = answer.octets();
        if a != 127 {
            return Listing::Unusable(format!(
                "answered {answer}, outside 127.0.0.0/8: the list is not answering normally (perhaps a wildcard or a resolver that rewrites NXDOMAIN)"
            ));
        }
        if b == 255 && c == 255 {
            let why = match d {
                252 => "the query was malformed (typing error in the zone name)",
                254 => "the query came through a public or open resolver, which the list refuses: use your own resolver (the stack's Unbound) with `--resolver`",
                255 => "too many queries from this resolver: the list wants a (free) data query service key",
                _ => "the list returned an error code",
            };
            return Listing::Unusable(format!("answered {answer}: {why}"));
        }
        let meaning = if spamhaus {
            match (c, d) {
                (0, 2) => "SBL: Spamhaus Block List (spam source)",
                (0, 3) => "CSS: Spamhaus snowshoe spam list",
                (0, 4..=7) => "XBL: exploited or infected host",
                (0, 9) => "DROP: hijacked network",
                (0, 10) => "PBL: the ISP says this range should not send mail directly",
                (0, 11) => "PBL: Spamhaus says this range should not send mail directly",
                (1, 2..=99) => "DBL: the domain is listed for spam",
                (1, 102..=199) => "DBL: abused legitimate domain",
                (1, 255) => "DBL: an IP address was queried in a domain list",
                _ => "listed",
            }
            .to_owned()
        } else {
            format!("listed ({answer})")
        };
        if spamhaus && (c, d) == (1, 255) {
            return Listing::Unusable(meaning);
        }
        reasons.push(meaning);
    }
    reasons.dedup();
    Listing::Listed(reasons)
}

/// The page where an entry can be looked up and delisting requested.
pub fn delisting_hint(zone: &str) -> String {
    let zone = zone.to_ascii_lowercase();
    if zone.ends_with("spamhaus.org") {
        "check https://check.spamhaus.org/ for the listing and its removal form".to_owned()
    } else if zone.ends_with("barracudacentral.org") {
        "request removal at https://www.barracudacentral.org/rbl/removal-request".to_owned()
    } else if zone.ends_with("spamcop.net") {
        "SpamCop entries expire 24 hours after the last report; see https://www.spamcop.net/bl.shtml".to_owned()
    } else {
        format!("find out why `{zone}` lists it and ask its operators for removal, after fixing the cause")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names() {
        assert_eq!(
            address_query("192.0.2.99".parse().unwrap(), "zen.spamhaus.org"),
            "99.2.0.192.zen.spamhaus.org"
        );
        let v6 = address_query("2001:db8::1".parse().unwrap(), "zen.spamhaus.org");
        assert!(v6.starts_with("1.0.0.0."));
        assert!(v6.ends_with(".8.b.d.0.1.0.0.2.zen.spamhaus.org"));
    }

    #[test]
    fn decodes_spamhaus_codes() {
        assert_eq!(decode("zen.spamhaus.org", &[]), Listing::NotListed);
        assert_eq!(
            decode("zen.spamhaus.org", &["127.0.0.2".parse().unwrap()]),
            Listing::Listed(vec!["SBL: Spamhaus Block List (spam source)".into()])
        );
        assert!(
            matches!(decode("zen.spamhaus.org", &["127.0.0.11".parse().unwrap()]), Listing::Listed(r) if r[0].starts_with("PBL"))
        );
        assert!(
            matches!(decode("zen.spamhaus.org", &["127.255.255.254".parse().unwrap()]), Listing::Unusable(m) if m.contains("public"))
        );
        assert!(matches!(
            decode("zen.spamhaus.org", &["127.255.255.255".parse().unwrap()]),
            Listing::Unusable(_)
        ));
        assert!(matches!(
            decode("dbl.spamhaus.org", &["127.0.1.255".parse().unwrap()]),
            Listing::Unusable(_)
        ));
    }

    #[test]
    fn other_lists_and_odd_answers() {
        assert_eq!(
            decode("bl.test", &["127.0.0.2".parse().unwrap()]),
            Listing::Listed(vec!["listed (127.0.0.2)".into()])
        );
        assert!(matches!(
            decode("bl.test", &["192.0.2.1".parse().unwrap()]),
            Listing::Unusable(_)
        ));
    }
}
