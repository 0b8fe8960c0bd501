//! `mailctl dns [DOMAIN]`: every record each domain needs, as a BIND zone,
//! a table or JSON, with the DKIM keys read from `dkim/`.

use super::Global;
use crate::cli::{DnsArgs, DnsFormat};
use crate::dns;
use crate::error::user_error;
use crate::names::DomainName;
use crate::output;
use crate::project::Project;

pub fn run(global: &Global, args: &DnsArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let keys = dns::read_public_keys(
        &project,
        &config,
        &crate::cert::published_tls_keys(&project, &config)?,
    )?;
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
