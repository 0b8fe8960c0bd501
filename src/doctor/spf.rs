//! SPF (RFC 7208) as far as `doctor` needs it: parse a record, evaluate it
//! for one address against DNS answers the caller already fetched, and
//! count the DNS-querying terms against the limit of 10 (§4.6.4). Pure: a
//! missing answer makes the evaluation `Pending` with the queries to make.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The most DNS-querying terms one evaluation may use (RFC 7208 §4.6.4).
pub const LOOKUP_LIMIT: usize = 10;
/// The most lookups that may return nothing (RFC 7208 §4.6.4).
pub const VOID_LOOKUP_LIMIT: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(String),
    A {
        domain: Option<String>,
        v4: u8,
        v6: u8,
    },
    Mx {
        domain: Option<String>,
        v4: u8,
        v6: u8,
    },
    Ptr(Option<String>),
    Ip(IpNet),
    Exists(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub terms: Vec<(Qualifier, Mechanism)>,
    pub redirect: Option<String>,
}

/// Whether a TXT string is an SPF record (RFC 7208 §4.5: `v=spf1` alone or
/// followed by a space, case-insensitive).
pub fn is_spf(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower == "v=spf1" || lower.starts_with("v=spf1 ")
}

/// Parses one SPF record; the error names the offending term.
pub fn parse(text: &str) -> Result<Record, String> {
    if !is_spf(text) {
        return Err("does not start with `v=spf1`".to_owned());
    }
    let mut record = Record {
        terms: Vec::new(),
        redirect: None,
    };
    for term in text.split_ascii_whitespace().skip(1) {
        if let Some((name, value)) = term.split_once('=') {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                || name.is_empty()
            {
                return Err(format!("`{term}` is not a valid modifier"));
            }
            if name.eq_ignore_ascii_case("redirect") {
                if record.redirect.is_some() {
                    return Err("`redirect=` appears twice (RFC 7208 §6)".to_owned());
                }
                record.redirect = Some(domain_spec(value, term)?);
            }
            continue;
        }
        let (qualifier, rest) = match term.chars().next() {
            Some('+') => (Qualifier::Pass, &term[1..]),
            Some('-') => (Qualifier::Fail, &term[1..]),
            Some('~') => (Qualifier::SoftFail, &term[1..]),
            Some('?') => (Qualifier::Neutral, &term[1..]),
            _ => (Qualifier::Pass, term),
        };
        let (name, argument) = match rest.find([':', '/']) {
            Some(index) => (&rest[..index], Some(&rest[index..])),
            None => (rest, None),
        };
        let mechanism = match (name.to_ascii_lowercase().as_str(), argument) {
            ("all", None) => Mechanism::All,
            ("include", Some(arg)) if arg.starts_with(':') => {
                Mechanism::Include(domain_spec(&arg[1..], term)?)
            }
            ("exists", Some(arg)) if arg.starts_with(':') => {
                Mechanism::Exists(domain_spec(&arg[1..], term)?)
            }
            ("a", arg) | ("mx", arg) => {
                let (domain, v4, v6) = domain_and_cidr(arg, term)?;
                if name.eq_ignore_ascii_case("a") {
                    Mechanism::A { domain, v4, v6 }
                } else {
                    Mechanism::Mx { domain, v4, v6 }
                }
            }
            ("ptr", None) => Mechanism::Ptr(None),
            ("ptr", Some(arg)) if arg.starts_with(':') => {
                Mechanism::Ptr(Some(domain_spec(&arg[1..], term)?))
            }
            ("ip4", Some(arg)) if arg.starts_with(':') => {
                let value = &arg[1..];
                let network = if value.contains('/') {
                    value.parse::<Ipv4Net>().ok()
                } else {
                    value.parse::<std::net::Ipv4Addr>().ok().map(Ipv4Net::from)
                }
                .ok_or_else(|| format!("`{term}` is not a valid IPv4 network"))?;
                Mechanism::Ip(IpNet::V4(network))
            }
            ("ip6", Some(arg)) if arg.starts_with(':') => {
                let value = &arg[1..];
                let network = if value.contains('/') {
                    value.parse::<Ipv6Net>().ok()
                } else {
                    value.parse::<std::net::Ipv6Addr>().ok().map(Ipv6Net::from)
                }
                .ok_or_else(|| format!("`{term}` is not a valid IPv6 network"))?;
                Mechanism::Ip(IpNet::V6(network))
            }
            _ => return Err(format!("`{term}` is not a valid SPF mechanism")),
        };
        record.terms.push((qualifier, mechanism));
    }
    Ok(record)
}

fn domain_spec(value: &str, term: &str) -> Result<String, String> {
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(format!("`{term}` has no valid domain"));
    }
    Ok(value.trim_end_matches('.').to_ascii_lowercase())
}

fn domain_and_cidr(argument: Option<&str>, term: &str) -> Result<(Option<String>, u8, u8), String> {
    let Some(argument) = argument else {
        return Ok((None, 32, 128));
    };
    let (domain, cidr) = match argument.strip_prefix(':') {
        Some(rest) => match rest.find('/') {
            Some(index) => (Some(&rest[..index]), &rest[index..]),
            None => (Some(rest), ""),
        },
        None => (None, argument),
    };
    let domain = domain.map(|d| domain_spec(d, term)).transpose()?;
    let mut v4 = 32u8;
    let mut v6 = 128u8;
    if !cidr.is_empty() {
        let (first, second) = match cidr.split_once("//") {
            Some((first, second)) => (first, Some(second)),
            None => (cidr, None),
        };
        let bad = || format!("`{term}` has an invalid prefix length");
        if let Some(length) = first.strip_prefix('/') {
            if !length.is_empty() {
                v4 = length.parse().ok().filter(|n| *n <= 32).ok_or_else(bad)?;
            }
        }
        if let Some(length) = second {
            v6 = length.parse().ok().filter(|n| *n <= 128).ok_or_else(bad)?;
        }
    }
    Ok((domain, v4, v6))
}

/// A DNS question the evaluation needs answered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Query {
    Txt(String),
    /// A and AAAA of the name.
    Address(String),
    Mx(String),
}

/// Answers fetched so far: `None` in a map entry means "no such records"
/// (NXDOMAIN or no data), `Err` a failed lookup.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub txt: BTreeMap<String, Result<Vec<String>, String>>,
    pub addresses: BTreeMap<String, Result<Vec<IpAddr>, String>>,
    pub mx: BTreeMap<String, Result<Vec<String>, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    /// No SPF record at the domain.
    None,
    PermError(String),
    TempError(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// `Err` with the queries still to make when an answer is missing.
    pub outcome: Result<Outcome, Vec<Query>>,
    /// DNS-querying terms counted (include, a, mx, ptr, exists, redirect).
    pub lookups: usize,
}

/// Evaluates `check_host(ip, domain)` (RFC 7208 §4) with `answers`.
pub fn evaluate(domain: &str, ip: IpAddr, answers: &Answers) -> Evaluation {
    let mut state = State {
        ip,
        answers,
        lookups: 0,
        voids: 0,
        missing: Vec::new(),
    };
    let result = state.check_host(domain, 0);
    let outcome = if state.missing.is_empty() {
        Ok(result)
    } else {
        let mut missing = state.missing;
        missing.sort();
        missing.dedup();
        Err(missing)
    };
    Evaluation {
        outcome,
        lookups: state.lookups,
    }
}

struct State<'a> {
    ip: IpAddr,
    answers: &'a Answers,
    lookups: usize,
    voids: usize,
    missing: Vec<Query>,
}

/// A lookup's result inside the evaluation.
enum Got<T> {
    Some(T),
    Missing,
    Error(Outcome),
}

impl State<'_> {
    fn count(&mut self) -> Option<Outcome> {
        self.lookups += 1;
        (self.lookups > LOOKUP_LIMIT).then(|| {
            Outcome::PermError(format!(
                "more than {LOOKUP_LIMIT} DNS lookups (RFC 7208 §4.6.4)"
            ))
        })
    }

    fn void(&mut self, empty: bool) -> Option<Outcome> {
        if empty {
            self.voids += 1;
        }
        (self.voids > VOID_LOOKUP_LIMIT).then(|| {
            Outcome::PermError(format!(
                "more than {VOID_LOOKUP_LIMIT} lookups returned nothing (RFC 7208 §4.6.4)"
            ))
        })
    }

    fn get<T: Clone>(
        map: &BTreeMap<String, Result<Vec<T>, String>>,
        name: &str,
        query: Query,
        missing: &mut Vec<Query>,
    ) -> Got<Vec<T>> {
        match map.get(name) {
            Some(Ok(values)) => Got::Some(values.clone()),
            Some(Err(error)) => Got::Error(Outcome::TempError(format!(
                "lookup of `{name}` failed: {error}"
            ))),
            None => {
                missing.push(query);
                Got::Missing
            }
        }
    }

    fn check_host(&mut self, domain: &str, depth: usize) -> Outcome {
        if depth > LOOKUP_LIMIT {
            return Outcome::PermError("include loop".to_owned());
        }
        let txt = match Self::get(
            &self.answers.txt,
            domain,
            Query::Txt(domain.to_owned()),
            &mut self.missing,
        ) {
            Got::Some(txt) => txt,
            Got::Missing => return Outcome::Neutral,
            Got::Error(error) => return error,
        };
        let records: Vec<&String> = txt.iter().filter(|text| is_spf(text)).collect();
        let record = match records.as_slice() {
            [] => return Outcome::None,
            [one] => match parse(one) {
                Ok(record) => record,
                Err(error) => return Outcome::PermError(format!("`{domain}`: {error}")),
            },
            _ => {
                return Outcome::PermError(format!(
                    "`{domain}` has {} SPF records; there must be one (RFC 7208 §4.5)",
                    records.len()
                ))
            }
        };
        for (qualifier, mechanism) in &record.terms {
            match self.matches(mechanism, domain, depth) {
                Ok(true) => {
                    return match qualifier {
                        Qualifier::Pass => Outcome::Pass,
                        Qualifier::Fail => Outcome::Fail,
                        Qualifier::SoftFail => Outcome::SoftFail,
                        Qualifier::Neutral => Outcome::Neutral,
                    }
                }
                Ok(false) => {}
                Err(outcome) => return outcome,
            }
        }
        if let Some(target) = &record.redirect {
            if let Some(error) = self.count() {
                return error;
            }
            if target.contains('%') {
                return Outcome::Neutral;
            }
            return match self.check_host(target, depth + 1) {
                Outcome::None => {
                    Outcome::PermError(format!("redirect target `{target}` has no SPF record"))
                }
                other => other,
            };
        }
        Outcome::Neutral
    }

    /// Whether a mechanism matches; `Err` ends the evaluation.
    fn matches(
        &mut self,
        mechanism: &Mechanism,
        domain: &str,
        depth: usize,
    ) -> Result<bool, Outcome> {
        let ip = self.ip;
        let target = |name: &Option<String>| name.clone().unwrap_or_else(|| domain.to_owned());
        match mechanism {
            Mechanism::All => Ok(true),
            Mechanism::Ip(network) => Ok(network.contains(&ip)),
            Mechanism::Include(name) => {
                if let Some(error) = self.count() {
                    return Err(error);
                }
                if name.contains('%') {
                    return Ok(false);
                }
                match self.check_host(name, depth + 1) {
                    Outcome::Pass => Ok(true),
                    Outcome::Fail | Outcome::SoftFail | Outcome::Neutral => Ok(false),
                    Outcome::None => Err(Outcome::PermError(format!(
                        "included `{name}` has no SPF record"
                    ))),
                    other => Err(other),
                }
            }
            Mechanism::A {
                domain: name,
                v4,
                v6,
            } => {
                if let Some(error) = self.count() {
                    return Err(error);
                }
                let name = target(name);
                let addresses = self.addresses(&name)?;
                Ok(addresses
                    .iter()
                    .any(|address| in_prefix(*address, ip, *v4, *v6)))
            }
            Mechanism::Mx {
                domain: name,
                v4,
                v6,
            } => {
                if let Some(error) = self.count() {
                    return Err(error);
                }
                let name = target(name);
                let exchanges = match Self::get(
                    &self.answers.mx,
                    &name,
                    Query::Mx(name.clone()),
                    &mut self.missing,
                ) {
                    Got::Some(exchanges) => exchanges,
                    Got::Missing => return Ok(false),
                    Got::Error(error) => return Err(error),
                };
                if let Some(error) = self.void(exchanges.is_empty()) {
                    return Err(error);
                }
                if exchanges.len() > LOOKUP_LIMIT {
                    return Err(Outcome::PermError(format!(
                        "`{name}` has more than {LOOKUP_LIMIT} MX names (RFC 7208 §4.6.4)"
                    )));
                }
                let mut matched = false;
                for exchange in exchanges {
                    let addresses = self.addresses(&exchange)?;
                    matched |= addresses
                        .iter()
                        .any(|address| in_prefix(*address, ip, *v4, *v6));
                }
                Ok(matched)
            }
            // Not recommended (RFC 7208 §5.5) and not evaluated here: it
            // counts as a lookup and never matches.
            Mechanism::Ptr(_) | Mechanism::Exists(_) => match self.count() {
                Some(error) => Err(error),
                None => Ok(false),
            },
        }
    }

    fn addresses(&mut self, name: &str) -> Result<Vec<IpAddr>, Outcome> {
        match Self::get(
            &self.answers.addresses,
            name,
            Query::Address(name.to_owned()),
            &mut self.missing,
        ) {
            Got::Some(addresses) => {
                if let Some(error) = self.void(addresses.is_empty()) {
                    return Err(error);
                }
                Ok(addresses)
            }
            Got::Missing => Ok(Vec::new()),
            Got::Error(error) => Err(error),
        }
    }
}

fn in_prefix(candidate: IpAddr, ip: IpAddr, v4: u8, v6: u8) -> bool {
    match (candidate, ip) {
        (IpAddr::V4(candidate), IpAddr::V4(ip)) => Ipv4Net::new(candidate, v4)
            .map(|net| net.contains(&ip))
            .unwrap_or(false),
        (IpAddr::V6(candidate), IpAddr::V6(ip)) => Ipv6Net::new(candidate, v6)
            .map(|net| net.contains(&ip))
            .unwrap_or(false),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(
        txt: &[(&str, &[&str])],
        addresses: &[(&str, &[&str])],
        mx: &[(&str, &[&str])],
    ) -> Answers {
        let mut all = Answers::default();
        for (name, values) in txt {
            all.txt.insert(
                (*name).to_owned(),
                Ok(values.iter().map(|v| (*v).to_owned()).collect()),
            );
        }
        for (name, values) in addresses {
            all.addresses.insert(
                (*name).to_owned(),
                Ok(values.iter().map(|v| v.parse().unwrap()).collect()),
            );
        }
        for (name, values) in mx {
            all.mx.insert(
                (*name).to_owned(),
                Ok(values.iter().map(|v| (*v).to_owned()).collect()),
            );
        }
        all
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_mechanisms_and_modifiers() {
        let record = parse("v=spf1 a:mail.example.org/24//64 mx ip4:192.0.2.0/24 ip6:2001:db8::1 include:_spf.example.net ~all exp=explain.example.org").unwrap();
        assert_eq!(record.terms.len(), 6);
        assert_eq!(
            record.terms[0].1,
            Mechanism::A {
                domain: Some("mail.example.org".into()),
                v4: 24,
                v6: 64
            }
        );
        assert_eq!(record.terms[5].0, Qualifier::SoftFail);
        assert!(parse("v=spf1 ip4:300.1.1.1 -all").is_err());
        assert!(parse("v=spf1 mx foo -all").is_err());
        assert!(parse("v=spf10 mx").is_err());
        assert!(parse("v=spf1 redirect=a.example redirect=b.example").is_err());
    }

    #[test]
    fn mx_passes_the_server_and_fails_others() {
        let data = answers(
            &[(
                "example.org",
                &["v=spf1 mx -all", "google-site-verification=x"],
            )],
            &[("mail.example.org", &["192.0.2.10"])],
            &[("example.org", &["mail.example.org"])],
        );
        let evaluation = evaluate("example.org", ip("192.0.2.10"), &data);
        assert_eq!(evaluation.outcome, Ok(Outcome::Pass));
        assert_eq!(evaluation.lookups, 1);
        assert_eq!(
            evaluate("example.org", ip("198.51.100.1"), &data).outcome,
            Ok(Outcome::Fail)
        );
    }

    #[test]
    fn missing_answers_are_asked_for() {
        let data = answers(
            &[("example.org", &["v=spf1 include:_spf.example.net -all"])],
            &[],
            &[],
        );
        let evaluation = evaluate("example.org", ip("192.0.2.10"), &data);
        assert_eq!(
            evaluation.outcome,
            Err(vec![Query::Txt("_spf.example.net".into())])
        );
    }

    #[test]
    fn two_records_are_a_permanent_error() {
        let data = answers(
            &[("example.org", &["v=spf1 mx -all", "v=spf1 a -all"])],
            &[],
            &[],
        );
        assert!(matches!(
            evaluate("example.org", ip("192.0.2.10"), &data).outcome,
            Ok(Outcome::PermError(_))
        ));
    }

    #[test]
    fn more_than_ten_lookups_is_a_permanent_error() {
        let includes: Vec<String> = (0..11)
            .map(|n| format!("include:i{n}.example.net"))
            .collect();
        let top = format!("v=spf1 {} -all", includes.join(" "));
        let mut data = answers(&[], &[], &[]);
        data.txt.insert("example.org".into(), Ok(vec![top]));
        for n in 0..11 {
            data.txt
                .insert(format!("i{n}.example.net"), Ok(vec!["v=spf1 -all".into()]));
        }
        let evaluation = evaluate("example.org", ip("192.0.2.10"), &data);
        assert!(
            matches!(evaluation.outcome, Ok(Outcome::PermError(ref m)) if m.contains("10 DNS lookups"))
        );
        assert_eq!(evaluation.lookups, 11);
    }

    #[test]
    fn include_redirect_and_ip_ranges() {
        let data = answers(
            &[
                (
                    "example.org",
                    &["v=spf1 include:_spf.example.net redirect=_r.example.net"],
                ),
                ("_spf.example.net", &["v=spf1 ip4:198.51.100.0/24 -all"]),
                ("_r.example.net", &["v=spf1 ip6:2001:db8::/32 -all"]),
            ],
            &[],
            &[],
        );
        assert_eq!(
            evaluate("example.org", ip("198.51.100.7"), &data).outcome,
            Ok(Outcome::Pass)
        );
        assert_eq!(
            evaluate("example.org", ip("2001:db8::5"), &data).outcome,
            Ok(Outcome::Pass)
        );
        let other = evaluate("example.org", ip("203.0.113.1"), &data);
        assert_eq!(other.outcome, Ok(Outcome::Fail));
        assert_eq!(other.lookups, 2);
    }

    #[test]
    fn no_record_is_none() {
        let data = answers(&[("example.org", &["something else"])], &[], &[]);
        assert_eq!(
            evaluate("example.org", ip("192.0.2.1"), &data).outcome,
            Ok(Outcome::None)
        );
    }
}
