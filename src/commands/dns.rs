//! `mailctl dns [DOMAIN]`: every record each domain needs, as a BIND zone,
//! a table or JSON, with the DKIM keys read from `dkim/`.

use super::Global;
use crate::cli::{DnsArgs, DnsFormat};
use crate::config::Config;
use crate::dns::{self, DkimKeys};
use crate::error::{user_error, WithHint};
use crate::names::DomainName;
use crate::output;
use crate::project::Project;

/// Reads the public half of every configured DKIM key.
pub fn read_dkim_keys(project: &Project, config: &Config) -> anyhow::Result<DkimKeys> {
    let mut keys = DkimKeys::new();
    for domain in &config.domains {
        for selector in &domain.dkim {
            let path = project.dkim_key_path(&domain.name, &selector.selector);
            let pem = fs_err::read_to_string(&path).with_hint(|| {
                format!(
                    "the key for selector `{}` of `{}` is missing; `mailctl init --force` creates missing keys",
                    selector.selector, domain.name
                )
            })?;
            let value = crate::dkim::public_key_value(&pem, selector.algorithm)
                .map_err(|error| anyhow::anyhow!("`{}`: {error}", path.display()))?;
            keys.insert(&domain.name, &selector.selector, value);
        }
    }
    Ok(keys)
}

pub fn run(global: &Global, args: &DnsArgs) -> anyhow::Result<()> {
    if let Some(crate::cli::DnsCommand::Push(push)) = &args.command {
        return super::dns_push::run(global, push);
    }
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let keys = read_dkim_keys(&project, &config)?;
    let expected = dns::expected_records(&config, &keys)?;
    let domains: Vec<DomainName> = match &args.domain {
        Some(name) => {
            let domain = DomainName::parse(name).map_err(|error| {
                user_error(
                    format!("`{name}`: {}", error.reason),
                    "give a configured domain",
                )
            })?;
            if config.domain(domain.as_str()).is_none() {
                let known: Vec<&str> = config.domains.iter().map(|d| d.name.as_str()).collect();
                return Err(user_error(
                    format!("domain `{}` is not configured", domain.display_both()),
                    format!("configured domains: {}", known.join(", ")),
                ));
            }
            vec![domain]
        }
        None => config
            .domains
            .iter()
            .filter_map(|domain| DomainName::parse(&domain.name).ok())
            .collect(),
    };
    let format = if global.json {
        DnsFormat::Json
    } else {
        args.format
    };
    match format {
        DnsFormat::Json => {
            let mut all = Vec::new();
            for domain in &domains {
                let part = expected.for_domain(domain);
                all.push(serde_json::json!({
                    "domain": domain.as_str(),
                    "domain_unicode": domain.unicode(),
                    "records": dns::to_json(&part.records, &part.notes),
                }));
            }
            output::json(&serde_json::Value::Array(all))?;
        }
        DnsFormat::Zone => {
            for domain in &domains {
                let part = expected.for_domain(domain);
                output::data(dns::to_zone(domain, &part.records, &part.notes));
            }
        }
        DnsFormat::Table => {
            for domain in &domains {
                let part = expected.for_domain(domain);
                output::data(dns::to_table(&part.records, &part.notes));
            }
        }
    }
    Ok(())
}
