//! `mailctl domain …`: the domains mail is received for. `add` creates the
//! DKIM keys and role aliases and prints the records to publish; `remove`
//! refuses to orphan mailboxes unless told to purge them.

use super::Global;
use crate::cli::DomainCommand;
use crate::config::{self, Config, Domain};
use crate::error::user_error;
use crate::live;
use crate::names::DomainName;
use crate::output;
use crate::project::Project;
use crate::{dkim, dns};

pub fn run(global: &Global, command: &DomainCommand) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    match command {
        DomainCommand::List => list(global, &project.load_config()?),
        DomainCommand::Add { domain } => add(&project, domain),
        DomainCommand::Remove {
            domain,
            purge,
            delete_mail,
        } => remove(global, &project, domain, *purge, *delete_mail),
    }
}

fn parse(input: &str) -> anyhow::Result<DomainName> {
    DomainName::parse(input).map_err(|error| {
        user_error(
            format!("`{input}`: {}", error.reason),
            error
                .hint
                .unwrap_or_else(|| "give a domain such as `example.com`".into()),
        )
    })
}

fn add(project: &Project, input: &str) -> anyhow::Result<()> {
    let domain = parse(input)?;
    let _lock = project.lock()?;
    let mut config = project.load_config()?;
    if config.domain(domain.as_str()).is_some() {
        return Err(user_error(
            format!("domain `{}` is already configured", domain.display_both()),
            format!("`mailctl dns {domain}` shows its records"),
        ));
    }
    let selectors = crate::dkim::new_selectors();
    for selector in &selectors {
        dkim::ensure_key(
            &project.dkim_key_path(domain.as_str(), &selector.selector),
            selector.algorithm,
        )?;
    }
    config.domains.push(Domain {
        name: domain.as_str().to_owned(),
        dmarc: config::Dmarc::default(),
        mta_sts: config::MtaSts::default(),
        tls_rpt_address: None,
        dkim: selectors,
    });
    if let Some(postmaster) = config.role_mailbox() {
        let roles = config::role_aliases(domain.as_str(), &postmaster, |address| {
            config.receives(address)
        });
        config.aliases.extend(roles);
    }
    let (config, _) = live::apply_change(project, &config)?;
    output::status(format!(
        "added domain `{}`; publish these records at its DNS provider:",
        domain.display_both()
    ));
    let keys = crate::dns::read_public_keys(
        project,
        &config,
        &crate::cert::published_tls_keys(project, &config)?,
    )?;
    let expected = dns::expected_records(&config, &keys)?.for_domain(&domain);
    output::data(dns::to_zone(&domain, &expected.records, &expected.notes));
    Ok(())
}

fn on_domain(address: &str, domain: &str) -> bool {
    address
        .rsplit_once('@')
        .is_some_and(|(_, rest)| rest == domain)
}

fn remove(
    global: &Global,
    project: &Project,
    input: &str,
    purge: bool,
    delete_mail: bool,
) -> anyhow::Result<()> {
    let domain = parse(input)?;
    let _lock = project.lock()?;
    let mut config = project.load_config()?;
    let name = domain.as_str();
    if config.domain(name).is_none() {
        return Err(user_error(
            format!("domain `{}` is not configured", domain.display_both()),
            "`mailctl domain list` shows the domains",
        ));
    }
    if config.primary_domain == name {
        return Err(user_error(
            format!("`{name}` is the primary domain"),
            "make another domain primary first (`primary_domain` in mailctl.yaml)",
        ));
    }
    let mailboxes: Vec<String> = config
        .mailboxes
        .iter()
        .filter(|mailbox| on_domain(&mailbox.address, name))
        .map(|mailbox| mailbox.address.clone())
        .collect();
    let aliases: Vec<String> = config
        .aliases
        .iter()
        .filter(|alias| on_domain(&alias.source, name))
        .map(|alias| alias.source.clone())
        .collect();
    // Role aliases made by `domain add` alone do not hold the domain back.
    let owned: Vec<&String> = aliases
        .iter()
        .filter(|source| !config::is_role_address(source))
        .collect();
    if !purge && (!mailboxes.is_empty() || !owned.is_empty()) {
        return Err(user_error(
            format!(
                "domain `{name}` still has {} mailbox(es) and {} alias(es)",
                mailboxes.len(),
                owned.len()
            ),
            "remove them first, or pass `--purge` to remove them with the domain (mail stays on disk unless `--delete-mail`)",
        ));
    }
    if purge && (!mailboxes.is_empty() || !aliases.is_empty() || delete_mail) {
        let mut what = format!(
            "removing `{name}` removes {} mailbox(es) [{}] and {} alias(es) [{}] from the configuration",
            mailboxes.len(),
            mailboxes.join(", "),
            aliases.len(),
            aliases.join(", ")
        );
        if delete_mail {
            what.push_str(&format!(", and deletes all mail under /var/mail/{name}"));
        } else {
            what.push_str("; their mail stays in the `mail` volume");
        }
        crate::prompt::confirm_destructive(
            global.yes,
            &what,
            "Remove the domain and these accounts?",
            "pass `--yes` to confirm without a terminal",
            "nothing was removed",
        )?;
    }
    config
        .mailboxes
        .retain(|mailbox| !on_domain(&mailbox.address, name));
    config
        .aliases
        .retain(|alias| !on_domain(&alias.source, name));
    for alias in &mut config.aliases {
        alias
            .destinations
            .retain(|destination| !on_domain(destination, name));
    }
    config
        .aliases
        .retain(|alias| !alias.destinations.is_empty());
    for mailbox in &mut config.mailboxes {
        mailbox
            .send_as
            .retain(|grant| !on_domain(grant, name) && grant != &format!("@{name}"));
    }
    config.domains.retain(|candidate| candidate.name != name);
    live::apply_change(project, &config)?;
    if delete_mail {
        let path = format!("/var/mail/{name}");
        live::exec_in(project, &config, "imap", &["rm", "-rf", "--", &path])?;
    }
    output::status(format!(
        "removed domain `{}`; its DKIM keys stay in dkim/{name}/ (remove the directory when its DNS records are gone)",
        domain.display_both()
    ));
    Ok(())
}

fn list(global: &Global, config: &Config) -> anyhow::Result<()> {
    let mut domains = Vec::new();
    for domain in &config.domains {
        let name = DomainName::parse(&domain.name)
            .map(|d| d.display_both())
            .unwrap_or_else(|_| domain.name.clone());
        let mailboxes: Vec<&str> = config
            .mailboxes
            .iter()
            .filter(|mailbox| on_domain(&mailbox.address, &domain.name))
            .map(|mailbox| mailbox.address.as_str())
            .collect();
        let aliases: Vec<serde_json::Value> = config
            .aliases
            .iter()
            .filter(|alias| on_domain(&alias.source, &domain.name))
            .map(|alias| serde_json::json!({"source": alias.source, "destinations": alias.destinations}))
            .collect();
        if !global.json {
            output::data(format!(
                "{name}{}",
                if domain.name == config.primary_domain {
                    " (primary)"
                } else {
                    ""
                }
            ));
            for mailbox in &mailboxes {
                output::data(format!("  mailbox  {mailbox}"));
            }
            for alias in config
                .aliases
                .iter()
                .filter(|alias| on_domain(&alias.source, &domain.name))
            {
                output::data(format!(
                    "  alias    {} → {}",
                    alias.source,
                    alias.destinations.join(", ")
                ));
            }
        }
        domains.push(serde_json::json!({
            "domain": domain.name,
            "unicode": DomainName::parse(&domain.name).map(|d| d.unicode()).unwrap_or_default(),
            "primary": domain.name == config.primary_domain,
            "mailboxes": mailboxes,
            "aliases": aliases,
            "dkim": domain.dkim.iter().map(|s| serde_json::json!({"selector": s.selector, "algorithm": s.algorithm.as_str()})).collect::<Vec<_>>(),
        }));
    }
    if global.json {
        output::json(&serde_json::Value::Array(domains))?;
    }
    Ok(())
}
