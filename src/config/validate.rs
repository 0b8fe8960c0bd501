//! Checks a deserialised `Config` and normalises its names (IDNs to
//! A-labels, addresses to lower case). Every problem is collected, not only
//! the first, each with the path of the value it concerns and a hint.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{Config, TlsMode, CURRENT_VERSION};
use crate::names::{Address, DomainName};
use crate::passwords;
use crate::service::PortName;

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Where the value sits, e.g. `domains[1].name`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Issue {
    fn new(path: impl Into<String>, message: impl Into<String>, hint: Option<String>) -> Self {
        Issue {
            path: path.into(),
            message: message.into(),
            hint,
        }
    }
}

/// Docker's default bridge (`docker0`); a project subnet inside it breaks routing.
const DOCKER_DEFAULT_BRIDGE: &str = "172.17.0.0/16";

/// Validates `config`, returning it normalised, or every issue found.
pub fn validate(mut config: Config) -> Result<Config, Vec<Issue>> {
    let mut issues = Vec::new();
    check_version(&config, &mut issues);
    check_name(&config, &mut issues);
    normalise_hostname(&mut config, &mut issues);
    let domains = normalise_domains(&mut config, &mut issues);
    check_primary_domain(&mut config, &domains, &mut issues);
    check_domain_settings(&mut config, &mut issues);
    let mailboxes = check_mailboxes(&mut config, &domains, &mut issues);
    check_aliases(&mut config, &domains, &mailboxes, &mut issues);
    check_send_as(&mut config, &domains, &mut issues);
    check_forwarding(&mut config, &mut issues);
    check_ports(&config, &mut issues);
    check_network(&config, &mut issues);
    check_tls(&config, &mut issues);
    check_limits(&config, &mut issues);
    check_components(&config, &mut issues);
    check_security(&config, &mut issues);
    check_images(&config, &mut issues);
    if issues.is_empty() {
        Ok(config)
    } else {
        Err(issues)
    }
}

fn check_version(config: &Config, issues: &mut Vec<Issue>) {
    if config.version > CURRENT_VERSION {
        issues.push(Issue::new(
            "version",
            format!(
                "version {} was written by a newer mailctl; this one reads version {CURRENT_VERSION}",
                config.version
            ),
            Some("upgrade mailctl".into()),
        ));
    } else if config.version == 0 {
        issues.push(Issue::new(
            "version",
            "version 0 does not exist",
            Some(format!("set `version: {CURRENT_VERSION}`")),
        ));
    }
}

fn check_name(config: &Config, issues: &mut Vec<Issue>) {
    let name = &config.name;
    let valid = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        issues.push(Issue::new(
            "name",
            format!("project name `{name}` is not a valid Compose project name"),
            Some("use up to 40 lower-case letters, digits, `-` and `_`, starting with a letter or digit".into()),
        ));
    }
}

fn normalise_hostname(config: &mut Config, issues: &mut Vec<Issue>) {
    match DomainName::parse(&config.hostname) {
        Ok(name) => config.hostname = name.as_str().to_owned(),
        Err(error) => issues.push(Issue::new(
            "hostname",
            format!("hostname: {}", error.reason),
            Some(error.hint.unwrap_or_else(|| {
                "the hostname is the server's full name, e.g. `mail.example.com`".into()
            })),
        )),
    }
}

fn normalise_domains(config: &mut Config, issues: &mut Vec<Issue>) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    if config.domains.is_empty() {
        issues.push(Issue::new(
            "domains",
            "no domain is configured",
            Some("add one with `mailctl domain add example.com`".into()),
        ));
    }
    for (index, domain) in config.domains.iter_mut().enumerate() {
        let path = format!("domains[{index}].name");
        match DomainName::parse(&domain.name) {
            Ok(name) => {
                if let Some(first) = seen.get(name.as_str()) {
                    issues.push(Issue::new(
                        path,
                        format!(
                            "domain `{}` is listed twice (first as domains[{first}])",
                            name.display_both()
                        ),
                        Some("remove one of the entries".into()),
                    ));
                } else {
                    seen.insert(name.as_str().to_owned(), index);
                }
                domain.name = name.as_str().to_owned();
            }
            Err(error) => issues.push(Issue::new(path, error.reason, error.hint)),
        }
    }
    seen.into_keys().collect()
}

fn check_primary_domain(config: &mut Config, domains: &BTreeSet<String>, issues: &mut Vec<Issue>) {
    match DomainName::parse(&config.primary_domain) {
        Ok(name) => {
            config.primary_domain = name.as_str().to_owned();
            if !domains.contains(name.as_str()) && !config.domains.is_empty() {
                issues.push(Issue::new(
                    "primary_domain",
                    format!(
                        "primary domain `{}` is not in `domains`",
                        name.display_both()
                    ),
                    Some("add it to `domains` or pick one of the configured domains".into()),
                ));
            }
        }
        Err(error) => issues.push(Issue::new("primary_domain", error.reason, error.hint)),
    }
}

fn check_domain_settings(config: &mut Config, issues: &mut Vec<Issue>) {
    for (index, domain) in config.domains.iter_mut().enumerate() {
        let mut selectors = BTreeSet::new();
        for (selector_index, selector) in domain.dkim.iter().enumerate() {
            let path = format!("domains[{index}].dkim[{selector_index}].selector");
            let valid = !selector.selector.is_empty()
                && selector.selector.len() <= 63
                && selector
                    .selector
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !selector.selector.starts_with('-');
            if !valid {
                issues.push(Issue::new(
                    path,
                    format!(
                        "DKIM selector `{}` is not a valid DNS label",
                        selector.selector
                    ),
                    Some("use lower-case letters, digits and hyphens, e.g. `rsa2026`".into()),
                ));
            } else if !selectors.insert(selector.selector.clone()) {
                issues.push(Issue::new(
                    path,
                    format!(
                        "DKIM selector `{}` is listed twice for `{}`",
                        selector.selector, domain.name
                    ),
                    Some("each selector names one key; give the second one another name".into()),
                ));
            }
        }
        if let Some(address) = &mut domain.dmarc.report_address {
            normalise_address(
                address,
                &format!("domains[{index}].dmarc.report_address"),
                issues,
            );
        }
        if let Some(address) = &mut domain.tls_rpt_address {
            normalise_address(
                address,
                &format!("domains[{index}].tls_rpt_address"),
                issues,
            );
        }
        if !(86_400..=31_557_600).contains(&domain.mta_sts.max_age) {
            issues.push(Issue::new(
                format!("domains[{index}].mta_sts.max_age"),
                format!(
                    "MTA-STS max_age {} is outside 86400 (one day) to 31557600 (one year)",
                    domain.mta_sts.max_age
                ),
                Some("RFC 8461 recommends weeks: 604800 is one week".into()),
            ));
        }
    }
}

fn normalise_address(address: &mut String, path: &str, issues: &mut Vec<Issue>) -> Option<Address> {
    match Address::parse(address) {
        Ok(parsed) => {
            *address = parsed.to_string();
            Some(parsed)
        }
        Err(error) => {
            issues.push(Issue::new(path, error.reason, error.hint));
            None
        }
    }
}

fn check_mailboxes(
    config: &mut Config,
    domains: &BTreeSet<String>,
    issues: &mut Vec<Issue>,
) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, mailbox) in config.mailboxes.iter_mut().enumerate() {
        let path = format!("mailboxes[{index}]");
        if let Some(address) =
            normalise_address(&mut mailbox.address, &format!("{path}.address"), issues)
        {
            if !domains.contains(address.domain.as_str()) {
                issues.push(not_configured(
                    &format!("{path}.address"),
                    "mailbox",
                    &address,
                ));
            }
            if let Some(first) = seen.get(&mailbox.address) {
                issues.push(Issue::new(
                    format!("{path}.address"),
                    format!(
                        "mailbox `{}` is listed twice (first as mailboxes[{first}])",
                        mailbox.address
                    ),
                    Some("remove one of the entries".into()),
                ));
            } else {
                seen.insert(mailbox.address.clone(), index);
            }
        }
        let recognised = passwords::recognise(&mailbox.password_hash)
            .and_then(|scheme| check_hash_shape(scheme, &mailbox.password_hash));
        if let Err(problem) = recognised {
            issues.push(Issue::new(
                format!("{path}.password_hash"),
                format!("mailbox `{}`: {problem}", mailbox.address),
                Some(format!(
                    "store a hash, never a password: `mailctl user passwd {}` sets one",
                    mailbox.address
                )),
            ));
        }
        if let Some(name) = &mailbox.name {
            if name.chars().any(|c| c.is_control() || c == ':') {
                issues.push(Issue::new(
                    format!("{path}.name"),
                    format!(
                        "display name `{}` holds a control character or `:`",
                        name.escape_debug()
                    ),
                    Some("use a plain one-line name".into()),
                ));
            }
        }
        if let Some(quota) = mailbox.quota {
            if quota.bytes() < 1 << 20 {
                issues.push(Issue::new(
                    format!("{path}.quota"),
                    format!("quota {quota} is below 1M, too small to receive mail"),
                    Some("write quotas with a unit, e.g. `500M` or `2G`".into()),
                ));
            }
        }
    }
    seen.into_keys().collect()
}

/// The characters of crypt(3)'s base-64 alphabet.
fn is_crypt_base64(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

/// Checks the structure behind a recognised scheme, so that a truncated or
/// mangled hash is refused here rather than silently failing every login.
/// The message never repeats the value.
fn check_hash_shape(scheme: &'static str, value: &str) -> Result<&'static str, String> {
    let body = value.split_once('}').map_or("", |(_, body)| body);
    let malformed = |detail: &str| Err(format!("the `{{{scheme}}}` hash is malformed: {detail}"));
    match scheme {
        // `$6$[rounds=N$]salt$hash`: a salt of 1 to 16 characters and an
        // 86-character (SHA-512) or 43-character (SHA-256) digest.
        "SHA512-CRYPT" | "SHA256-CRYPT" => {
            let digest_length = if scheme == "SHA512-CRYPT" { 86 } else { 43 };
            let mut parts: Vec<&str> = body.split('$').skip(2).collect();
            if parts
                .first()
                .is_some_and(|part| part.starts_with("rounds="))
            {
                parts.remove(0);
            }
            match parts.as_slice() {
                [salt, digest]
                    if (1..=16).contains(&salt.len())
                        && !salt.contains(char::is_whitespace)
                        && digest.len() == digest_length
                        && is_crypt_base64(digest) =>
                {
                    Ok(scheme)
                }
                _ => malformed(&format!(
                    "expected a salt of up to 16 characters and a {digest_length}-character digest"
                )),
            }
        }
        // `$2y$NN$` then 53 characters of salt and digest.
        "BLF-CRYPT" => {
            let parts: Vec<&str> = body.split('$').collect();
            match parts.as_slice() {
                ["", _, cost, rest]
                    if cost.len() == 2
                        && cost.bytes().all(|b| b.is_ascii_digit())
                        && rest.len() == 53
                        && is_crypt_base64(rest) =>
                {
                    Ok(scheme)
                }
                _ => malformed("expected `$2y$NN$` and 53 characters"),
            }
        }
        // PHC strings: `$argon2id$v=19$m=…,t=…,p=…$salt$digest`.
        "ARGON2ID" | "ARGON2I" => {
            let parts: Vec<&str> = body.split('$').collect();
            let fields = match parts.as_slice() {
                ["", _, version, parameters, salt, digest] if version.starts_with("v=") => {
                    Some((parameters, salt, digest))
                }
                ["", _, parameters, salt, digest] => Some((parameters, salt, digest)),
                _ => None,
            };
            match fields {
                Some((parameters, salt, digest))
                    if parameters.contains("m=")
                        && parameters.contains("t=")
                        && parameters.contains("p=")
                        && !salt.is_empty()
                        && digest.len() >= 22
                        && [salt, digest].iter().all(|part| {
                            part.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
                        }) =>
                {
                    Ok(scheme)
                }
                _ => malformed("expected `$argon2id$v=19$m=…,t=…,p=…$salt$digest`"),
            }
        }
        _ => Ok(scheme),
    }
}

fn not_configured(path: &str, what: &str, address: &Address) -> Issue {
    Issue::new(
        path,
        format!(
            "{what} `{address}` is on domain `{}`, which is not configured",
            address.domain.display_both()
        ),
        Some(format!(
            "add the domain first: `mailctl domain add {}`",
            address.domain
        )),
    )
}

fn check_aliases(
    config: &mut Config,
    domains: &BTreeSet<String>,
    mailboxes: &BTreeSet<String>,
    issues: &mut Vec<Issue>,
) {
    let mut sources: HashMap<String, usize> = HashMap::new();
    for (index, alias) in config.aliases.iter_mut().enumerate() {
        let path = format!("aliases[{index}]");
        let source_domain = if let Some(domain) = alias.source.strip_prefix('@') {
            match DomainName::parse(domain) {
                Ok(name) => {
                    alias.source = format!("@{name}");
                    Some(name)
                }
                Err(error) => {
                    issues.push(Issue::new(
                        format!("{path}.source"),
                        error.reason,
                        error.hint,
                    ));
                    None
                }
            }
        } else {
            normalise_address(&mut alias.source, &format!("{path}.source"), issues)
                .map(|address| address.domain)
        };
        if let Some(domain) = &source_domain {
            if !domains.contains(domain.as_str()) {
                issues.push(Issue::new(
                    format!("{path}.source"),
                    format!(
                        "alias `{}` is on domain `{}`, which is not configured",
                        alias.source,
                        domain.display_both()
                    ),
                    Some(format!(
                        "add the domain first: `mailctl domain add {domain}`"
                    )),
                ));
            }
            if let Some(first) = sources.get(&alias.source) {
                issues.push(Issue::new(
                    format!("{path}.source"),
                    format!(
                        "alias `{}` is listed twice (first as aliases[{first}])",
                        alias.source
                    ),
                    Some("merge the destinations into one entry".into()),
                ));
            } else {
                sources.insert(alias.source.clone(), index);
            }
        }
        if alias.destinations.is_empty() {
            issues.push(Issue::new(
                format!("{path}.destinations"),
                format!("alias `{}` has no destination", alias.source),
                Some("list at least one address under `destinations`".into()),
            ));
        }
        for (destination_index, destination) in alias.destinations.iter_mut().enumerate() {
            normalise_address(
                destination,
                &format!("{path}.destinations[{destination_index}]"),
                issues,
            );
        }
        if mailboxes.contains(&alias.source) && !alias.destinations.contains(&alias.source) {
            issues.push(Issue::new(
                format!("{path}.source"),
                format!(
                    "alias `{}` has the same address as a mailbox, so the mailbox would receive nothing",
                    alias.source
                ),
                Some(format!(
                    "to keep a copy in the mailbox, add `{}` to the destinations",
                    alias.source
                )),
            ));
        }
    }
    check_alias_targets(config, domains, mailboxes, issues);
}

/// Every local destination must end in a mailbox, and no chain of aliases
/// may come back to where it started.
fn check_alias_targets(
    config: &Config,
    domains: &BTreeSet<String>,
    mailboxes: &BTreeSet<String>,
    issues: &mut Vec<Issue>,
) {
    let graph: BTreeMap<&str, (usize, &Vec<String>)> = config
        .aliases
        .iter()
        .enumerate()
        .map(|(index, alias)| (alias.source.as_str(), (index, &alias.destinations)))
        .collect();
    let catch_alls: BTreeSet<&str> = config
        .aliases
        .iter()
        .filter(|alias| alias.is_catch_all())
        .map(|alias| alias.source.trim_start_matches('@'))
        .collect();

    for (index, alias) in config.aliases.iter().enumerate() {
        for (destination_index, destination) in alias.destinations.iter().enumerate() {
            let Some((_, domain)) = destination.rsplit_once('@') else {
                continue;
            };
            if !domains.contains(domain) || destination == &alias.source {
                continue;
            }
            let delivers = mailboxes.contains(destination.as_str())
                || graph.contains_key(destination.as_str())
                || catch_alls.contains(domain);
            if !delivers {
                issues.push(Issue::new(
                    format!("aliases[{index}].destinations[{destination_index}]"),
                    format!(
                        "alias `{}` points to `{destination}`, which is neither a mailbox nor an alias",
                        alias.source
                    ),
                    Some(format!("create it with `mailctl user add {destination}` or fix the address")),
                ));
            }
        }
    }

    // Depth-first search for a cycle through alias sources that are not mailboxes.
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for start in graph.keys() {
        let mut path: Vec<&str> = vec![start];
        if let Some(cycle) = find_cycle(&graph, mailboxes, &mut path) {
            let key = cycle.iter().min().copied().unwrap_or(start);
            if reported.insert(key) {
                let (index, _) = graph[cycle[0]];
                issues.push(Issue::new(
                    format!("aliases[{index}].destinations"),
                    format!("aliases form a loop: {}", cycle.join(" → ")),
                    Some("make one of them deliver to a mailbox instead".into()),
                ));
            }
        }
    }
}

fn find_cycle<'a>(
    graph: &BTreeMap<&'a str, (usize, &'a Vec<String>)>,
    mailboxes: &BTreeSet<String>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<&'a str>> {
    let current = *path.last()?;
    let (_, destinations) = graph.get(current)?;
    for destination in destinations.iter() {
        let destination = destination.as_str();
        if destination == current || mailboxes.contains(destination) {
            continue;
        }
        let Some((&next, _)) = graph.get_key_value(destination) else {
            continue;
        };
        if let Some(position) = path.iter().position(|seen| *seen == next) {
            let mut cycle = path[position..].to_vec();
            cycle.push(next);
            return Some(cycle);
        }
        if path.len() > graph.len() {
            return None;
        }
        path.push(next);
        if let Some(cycle) = find_cycle(graph, mailboxes, path) {
            return Some(cycle);
        }
        path.pop();
    }
    None
}

fn check_send_as(config: &mut Config, domains: &BTreeSet<String>, issues: &mut Vec<Issue>) {
    for (index, mailbox) in config.mailboxes.iter_mut().enumerate() {
        for (grant_index, grant) in mailbox.send_as.iter_mut().enumerate() {
            let path = format!("mailboxes[{index}].send_as[{grant_index}]");
            if let Some(domain) = grant.strip_prefix('@') {
                match DomainName::parse(domain) {
                    Ok(name) if domains.contains(name.as_str()) => *grant = format!("@{name}"),
                    Ok(name) => issues.push(Issue::new(
                        path,
                        format!("send-as grant `@{name}` is for a domain that is not configured"),
                        Some(
                            "a mailbox may only send as addresses on this server's domains".into(),
                        ),
                    )),
                    Err(error) => issues.push(Issue::new(path, error.reason, error.hint)),
                }
            } else if let Some(address) = normalise_address(grant, &path, issues) {
                if !domains.contains(address.domain.as_str()) {
                    issues.push(Issue::new(
                        path,
                        format!("send-as grant `{address}` is for a domain that is not configured"),
                        Some(
                            "a mailbox may only send as addresses on this server's domains".into(),
                        ),
                    ));
                }
            }
        }
    }
}

fn check_forwarding(config: &mut Config, issues: &mut Vec<Issue>) {
    for (index, mailbox) in config.mailboxes.iter_mut().enumerate() {
        let own = mailbox.address.clone();
        if let Some(forward) = &mut mailbox.forward {
            if forward.to.is_empty() {
                issues.push(Issue::new(
                    format!("mailboxes[{index}].forward.to"),
                    format!("`{own}` forwards to no address"),
                    Some(format!(
                        "remove forwarding with `mailctl user forward {own} --off`"
                    )),
                ));
            }
            for (target_index, target) in forward.to.iter_mut().enumerate() {
                let path = format!("mailboxes[{index}].forward.to[{target_index}]");
                if normalise_address(target, &path, issues).is_some() && *target == own {
                    issues.push(Issue::new(
                        path,
                        format!("`{own}` forwards to itself"),
                        Some("to keep a copy, use `--keep` instead".into()),
                    ));
                }
            }
        }
        if let Some(reply) = &mailbox.autoreply {
            let path = format!("mailboxes[{index}].autoreply");
            if reply.subject.trim().is_empty() || reply.subject.chars().any(char::is_control) {
                issues.push(Issue::new(
                    format!("{path}.subject"),
                    format!("the automatic reply of `{own}` needs a one-line subject"),
                    None,
                ));
            }
            let mut dates = Vec::new();
            for (field, value) in [("from", &reply.from), ("until", &reply.until)] {
                if let Some(value) = value {
                    match super::parse_date(value) {
                        Some(date) => dates.push(date),
                        None => issues.push(Issue::new(
                            format!("{path}.{field}"),
                            format!("`{value}` is not a date"),
                            Some("write dates as `YYYY-MM-DD`".into()),
                        )),
                    }
                }
            }
            if let [from, until] = dates[..] {
                if from > until {
                    issues.push(Issue::new(
                        format!("{path}.until"),
                        format!("the automatic reply of `{own}` ends before it starts"),
                        Some("`until` must be on or after `from`".into()),
                    ));
                }
            }
        }
    }
}

fn check_ports(config: &Config, issues: &mut Vec<Issue>) {
    let mut used: BTreeMap<u16, PortName> = BTreeMap::new();
    for (port, number) in config.ports.enabled() {
        if let Some(other) = used.get(&number) {
            issues.push(Issue::new(
                format!("ports.{port}"),
                format!("port {number} is given to both `{other}` and `{port}`"),
                Some(
                    "give each published service its own port, or turn one off with `false`".into(),
                ),
            ));
        } else {
            used.insert(number, port);
        }
    }
    if config.ports.smtp.number().is_none() {
        issues.push(Issue::new(
            "ports.smtp",
            "the `smtp` port is turned off, so no mail can arrive",
            Some("publish it, normally on 25".into()),
        ));
    }
}

fn check_network(config: &Config, issues: &mut Vec<Issue>) {
    let mut seen = BTreeSet::new();
    for (index, address) in config.network.bind.iter().enumerate() {
        if !seen.insert(*address) {
            issues.push(Issue::new(
                format!("network.bind[{index}]"),
                format!("bind address {address} is listed twice"),
                Some("remove one of the entries".into()),
            ));
        }
    }
    if config.network.bind.is_empty() {
        issues.push(Issue::new(
            "network.bind",
            "no bind address is given, so no port would be published",
            Some("use `0.0.0.0` for every IPv4 address, or the server's public address".into()),
        ));
    }
    for (index, address) in config.network.public_addresses.iter().enumerate() {
        // Documentation ranges (RFC 5737, RFC 3849) are allowed for examples.
        let documentation = match address {
            IpAddr::V4(v4) => v4.is_documentation(),
            IpAddr::V6(v6) => v6.segments()[0] == 0x2001 && v6.segments()[1] == 0x0db8,
        };
        // Without Internet DNS (tests, demos) the loopback address stands in
        // for the public one, so records and checks can run on one machine.
        let offline_loopback = config.network.offline_dns && address.is_loopback();
        if !super::is_global(*address) && !documentation && !offline_loopback {
            issues.push(Issue::new(
                format!("network.public_addresses[{index}]"),
                format!("{address} is not a public address"),
                Some(
                    "list the addresses the internet reaches this server at, or leave the list out"
                        .into(),
                ),
            ));
        }
    }

    for (index, forwarder) in config.network.dns_forwarders.iter().enumerate() {
        let key = format!("network.dns_forwarders[{index}]");
        match crate::net::ip_and_port(forwarder, 53) {
            None => issues.push(Issue::new(
                key,
                format!("`{forwarder}` is not an IP address with an optional port"),
                Some("write `IP` or `IP:PORT`, e.g. `192.0.2.53` or `192.0.2.53:5353`".into()),
            )),
            Some(address) if address.is_ipv6() => issues.push(Issue::new(
                key,
                format!("`{forwarder}` is an IPv6 address, but the stack's resolver asks over IPv4 only"),
                Some("give the forwarder's IPv4 address".into()),
            )),
            Some(address) if address.ip().is_loopback() => issues.push(Issue::new(
                key,
                format!("`{forwarder}` is a loopback address, which inside the resolver's container is the container itself"),
                Some("give an address the containers reach, e.g. the host's address on the Docker bridge or another server's".into()),
            )),
            Some(address) if address.ip().is_unspecified() || address.port() == 0 => {
                issues.push(Issue::new(
                    key,
                    format!("`{forwarder}` names no resolver"),
                    Some("give the address and port a resolver answers on".into()),
                ))
            }
            Some(_) => {}
        }
    }
    if config.network.offline_dns && !config.network.dns_forwarders.is_empty() {
        issues.push(Issue::new(
            "network.offline_dns",
            "`offline_dns` turns every outside lookup off, but `dns_forwarders` are given",
            Some("remove `offline_dns: true` to use the forwarders, or the forwarders".into()),
        ));
    }
    let private_root = config
        .network
        .dns_trust_anchors
        .iter()
        .any(|anchor| super::trust_anchor_owner(anchor).is_some_and(|(owner, _)| owner == "."));
    if private_root && config.network.dns_forwarders.is_empty() {
        issues.push(Issue::new(
            "network.dns_trust_anchors",
            "a trust anchor for `.` replaces the real root's key, but no `dns_forwarders` serve that private root: every lookup would fail validation",
            Some("add the private network's resolvers to `network.dns_forwarders`, or remove the anchor for `.`".into()),
        ));
    }
    for (index, anchor) in config.network.dns_trust_anchors.iter().enumerate() {
        if super::trust_anchor_owner(anchor).is_none() || anchor.contains(['"', '\n']) {
            issues.push(Issue::new(
                format!("network.dns_trust_anchors[{index}]"),
                format!("`{anchor}` is not a DS or DNSKEY record"),
                Some("write one record in master-file text with an absolute owner name, as `dnssec-dsfromkey` prints it: `example.net. IN DS 12345 13 2 ABCD…`".into()),
            ));
        }
    }

    let subnet = match config.network.subnet.parse::<Ipv4Net>() {
        Ok(subnet) => Some(subnet),
        Err(_) => {
            issues.push(Issue::new(
                "network.subnet",
                format!("`{}` is not an IPv4 subnet", config.network.subnet),
                Some("write it as `172.30.53.0/24`".into()),
            ));
            None
        }
    };
    if let Some(subnet) = subnet {
        if subnet.network() != subnet.addr() {
            issues.push(Issue::new(
                "network.subnet",
                format!(
                    "`{subnet}` has host bits set; the network is `{}`",
                    subnet.trunc()
                ),
                Some(format!("write `{}`", subnet.trunc())),
            ));
        }
        if !subnet.addr().is_private() {
            issues.push(Issue::new(
                "network.subnet",
                format!("subnet {subnet} is not private (RFC 1918)"),
                Some("use a subnet inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16".into()),
            ));
        }
        if subnet.prefix_len() > 28 {
            issues.push(Issue::new(
                "network.subnet",
                format!("subnet {subnet} is too small for the stack's containers"),
                Some("use a /24 (or at most /28)".into()),
            ));
        }
        if let Ok(docker0) = DOCKER_DEFAULT_BRIDGE.parse::<Ipv4Net>() {
            if subnet.contains(&docker0.network()) || docker0.contains(&subnet.network()) {
                issues.push(Issue::new(
                    "network.subnet",
                    format!("subnet {subnet} overlaps Docker's default bridge {docker0}"),
                    Some("pick another private subnet, e.g. `172.30.53.0/24`".into()),
                ));
            }
        }
        for address in config
            .network
            .bind
            .iter()
            .chain(&config.network.public_addresses)
        {
            if IpNet::V4(subnet).contains(address) {
                issues.push(Issue::new(
                    "network.subnet",
                    format!("subnet {subnet} overlaps the host address {address}"),
                    Some("pick a private subnet that the host does not use".into()),
                ));
            }
        }
    }
    if let Some(ipv6) = &config.network.ipv6_subnet {
        match ipv6.parse::<Ipv6Net>() {
            Ok(subnet) => {
                if (subnet.addr().segments()[0] & 0xfe00) != 0xfc00 {
                    issues.push(Issue::new(
                        "network.ipv6_subnet",
                        format!("IPv6 subnet {subnet} is not a unique local (fc00::/7) subnet"),
                        Some("use a ULA subnet such as `fd53:6d61:696c::/64`".into()),
                    ));
                }
                if subnet.prefix_len() > 120 {
                    issues.push(Issue::new(
                        "network.ipv6_subnet",
                        format!("IPv6 subnet {subnet} is too small"),
                        Some("use a /64".into()),
                    ));
                }
                for address in config
                    .network
                    .bind
                    .iter()
                    .filter(|a| matches!(a, IpAddr::V6(_)))
                {
                    if IpNet::V6(subnet).contains(address) {
                        issues.push(Issue::new(
                            "network.ipv6_subnet",
                            format!("IPv6 subnet {subnet} overlaps the host address {address}"),
                            Some("use a ULA subnet such as `fd53:6d61:696c::/64`".into()),
                        ));
                    }
                }
            }
            Err(_) => issues.push(Issue::new(
                "network.ipv6_subnet",
                format!("`{ipv6}` is not an IPv6 subnet"),
                Some("write it as `fd53:6d61:696c::/64`".into()),
            )),
        }
    }
}

fn check_tls(config: &Config, issues: &mut Vec<Issue>) {
    let tls = &config.tls;
    if !tls.acme_directory.starts_with("https://") {
        issues.push(Issue::new(
            "tls.acme_directory",
            format!(
                "ACME directory `{}` is not an https:// URL",
                tls.acme_directory
            ),
            Some(format!(
                "Let's Encrypt's is `{}`",
                super::LETSENCRYPT_DIRECTORY
            )),
        ));
    }
    if let Some(email) = &tls.acme_email {
        if Address::parse(email).is_err() {
            issues.push(Issue::new(
                "tls.acme_email",
                format!("ACME contact `{email}` is not a mail address"),
                Some("write it as `name@example.com`, or leave `acme_email` out".into()),
            ));
        }
    }
    if tls.mode == TlsMode::Custom {
        for (field, value) in [
            ("certificate_file", &tls.certificate_file),
            ("key_file", &tls.key_file),
        ] {
            if value.as_deref().is_none_or(str::is_empty) {
                issues.push(Issue::new(
                    format!("tls.{field}"),
                    format!("TLS mode `custom` needs `tls.{field}`"),
                    Some("give the path of your PEM file, or use `mode: letsencrypt`".into()),
                ));
            }
        }
    }
    if tls.challenge == super::Challenge::Dns01 {
        for (field, value) in [
            ("dns_update_server", &tls.dns_update_server),
            ("dns_update_key_file", &tls.dns_update_key_file),
        ] {
            if value.as_deref().is_none_or(str::is_empty) {
                issues.push(Issue::new(
                    format!("tls.{field}"),
                    format!("challenge `dns-01` needs `tls.{field}`"),
                    Some("give the DNS server that takes RFC 2136 updates (`HOST[:PORT]`) and its TSIG key file, or use `challenge: http-01`".into()),
                ));
            }
        }
    }
    if !(1..=3650).contains(&tls.renew_before_days) {
        issues.push(Issue::new(
            "tls.renew_before_days",
            format!(
                "`renew_before_days: {}` is out of range",
                tls.renew_before_days
            ),
            Some("use 1 to 3650 days; 30 suits Let's Encrypt's 90-day certificates".into()),
        ));
    }
    if !(2..=100).contains(&tls.max_names_per_certificate) {
        issues.push(Issue::new(
            "tls.max_names_per_certificate",
            format!(
                "`max_names_per_certificate: {}` is out of range",
                tls.max_names_per_certificate
            ),
            Some("use 2 to 100 (Let's Encrypt allows 100)".into()),
        ));
    }
}

fn check_limits(config: &Config, issues: &mut Vec<Issue>) {
    let limits = &config.limits;
    let size = limits.message_size.bytes();
    if !(1 << 20..=1 << 31).contains(&size) {
        issues.push(Issue::new(
            "limits.message_size",
            format!(
                "message size limit {} is outside 1M to 2G",
                limits.message_size
            ),
            Some("most providers accept 25M to 50M".into()),
        ));
    }
    for (field, value) in [
        (
            "messages_per_hour_per_user",
            limits.messages_per_hour_per_user,
        ),
        ("recipients_per_message", limits.recipients_per_message),
        (
            "connections_per_minute_per_client",
            limits.connections_per_minute_per_client,
        ),
    ] {
        if value == 0 {
            issues.push(Issue::new(
                format!("limits.{field}"),
                format!("`{field}` is 0, which would block all mail"),
                Some("give a positive number".into()),
            ));
        }
    }
}

fn check_components(config: &Config, issues: &mut Vec<Issue>) {
    let components = &config.components;
    for (name, enabled) in [
        ("antivirus", components.antivirus),
        ("webmail", components.webmail),
        ("webdav", components.webdav),
        ("fetchmail", components.fetchmail),
    ] {
        if enabled {
            issues.push(Issue::new(
                format!("components.{name}"),
                format!(
                    "the optional component `{name}` is not available in this version of mailctl"
                ),
                Some(format!("set `{name}: false`")),
            ));
        }
    }
}

fn check_security(config: &Config, issues: &mut Vec<Issue>) {
    let security = &config.security;
    let mut thresholds = vec![
        (
            "security.outbound_alert_per_hour".to_owned(),
            Some(security.outbound_alert_per_hour),
        ),
        (
            "security.outbound_alert_per_day".to_owned(),
            Some(security.outbound_alert_per_day),
        ),
    ];
    for (index, mailbox) in config.mailboxes.iter().enumerate() {
        if let Some(alert) = &mailbox.outbound_alert {
            let path = format!("mailboxes[{index}].outbound_alert");
            thresholds.push((format!("{path}.per_hour"), alert.per_hour));
            thresholds.push((format!("{path}.per_day"), alert.per_day));
        }
    }
    for (path, value) in thresholds {
        if value == Some(0) {
            issues.push(Issue::new(
                path,
                "0 would hold every message the sender submits".to_owned(),
                Some("give the number of recipients per hour or day after which mail is held, e.g. 100".into()),
            ));
        }
    }
    check_bans(&security.bans, issues);
    for (index, zone) in config.security.reject_blocklists.iter().enumerate() {
        if DomainName::parse(zone).is_err() || !zone.contains('.') {
            issues.push(Issue::new(
                format!("security.reject_blocklists[{index}]"),
                format!("`{zone}` is not the DNS zone of a blocklist"),
                Some("write the zone the list is queried under, e.g. `zen.spamhaus.org`".into()),
            ));
        }
    }
}

fn check_bans(bans: &super::Bans, issues: &mut Vec<Issue>) {
    if bans.max_failures == 0 {
        issues.push(Issue::new(
            "security.bans.max_failures",
            "0 would ban an address before it ever failed",
            Some("give the failed logins that earn a ban, e.g. 10".into()),
        ));
    }
    let mut seconds = Vec::new();
    for (key, text) in [
        ("window", &bans.window),
        ("duration", &bans.duration),
        ("max_duration", &bans.max_duration),
    ] {
        match super::parse_duration(text) {
            Some(value) if value > 0 => seconds.push(value),
            _ => issues.push(Issue::new(
                format!("security.bans.{key}"),
                format!("`{text}` is not a duration"),
                Some("write a number with a unit: `90s`, `10m`, `1h`, `7d` or `2w`".into()),
            )),
        }
    }
    if let [_, duration, max_duration] = seconds[..] {
        if duration > max_duration {
            issues.push(Issue::new(
                "security.bans.max_duration",
                format!(
                    "`{}` is shorter than the first ban (`duration: {}`)",
                    bans.max_duration, bans.duration
                ),
                Some("make max_duration at least as long as duration".into()),
            ));
        }
    }
    for (index, entry) in bans.allow.iter().enumerate() {
        if crate::net::parse_network(entry).is_none() {
            issues.push(Issue::new(
                format!("security.bans.allow[{index}]"),
                format!("`{entry}` is not an address or network"),
                Some("write an address (`198.51.100.7`, `2001:db8::1`) or a network (`198.51.100.0/24`)".into()),
            ));
        }
    }
}

fn check_images(config: &Config, issues: &mut Vec<Issue>) {
    for (service, image) in &config.images {
        if crate::service::Service::parse(service).is_none() {
            let names: Vec<&str> = crate::service::Service::names().collect();
            issues.push(Issue::new(
                format!("images.{service}"),
                format!("`{service}` is not a service of the stack"),
                Some(format!("services are: {}", names.join(", "))),
            ));
        }
        if image.is_empty() || image.chars().any(char::is_whitespace) {
            issues.push(Issue::new(
                format!("images.{service}"),
                format!("image reference `{image}` is not valid"),
                Some("write it as `registry/name:tag`".into()),
            ));
        }
    }
}
