//! `mailctl alias …`: aliases with one or more destinations, local or
//! external; `@domain` as the source is the domain's catch-all.

use super::Global;
use crate::cli::AliasCommand;
use crate::config::{Alias, Config};
use crate::error::user_error;
use crate::live;
use crate::names::{Address, DomainName};
use crate::output;
use crate::project::Project;

pub fn run(global: &Global, command: &AliasCommand) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    if let AliasCommand::List { domain } = command {
        return list(global, &project.load_config()?, domain.as_deref());
    }
    let _lock = project.lock()?;
    let mut config = project.load_config()?;
    match command {
        AliasCommand::Add {
            source,
            destinations,
        } => {
            let source = parse_source(source)?;
            let destinations = destinations
                .iter()
                .map(|destination| {
                    Address::parse(destination)
                        .map(|address| address.to_string())
                        .map_err(|error| {
                            user_error(
                                format!("destination `{destination}`: {}", error.reason),
                                "write destinations as `name@example.com`",
                            )
                        })
                })
                .collect::<anyhow::Result<Vec<String>>>()?;
            let added = match config
                .aliases
                .iter_mut()
                .find(|alias| alias.source == source)
            {
                Some(alias) => {
                    let mut added = Vec::new();
                    for destination in destinations {
                        if !alias.destinations.contains(&destination) {
                            alias.destinations.push(destination.clone());
                            added.push(destination);
                        }
                    }
                    added
                }
                None => {
                    config.aliases.push(Alias {
                        source: source.clone(),
                        destinations: destinations.clone(),
                    });
                    destinations
                }
            };
            live::apply_change(&project, &config)?;
            if added.is_empty() {
                output::status(format!(
                    "alias `{source}` already delivers there; nothing changed"
                ));
            } else {
                output::status(format!("alias `{source}` → {}", added.join(", ")));
            }
        }
        AliasCommand::Remove {
            source,
            destinations,
        } => {
            let source = parse_source(source)?;
            let Some(position) = config
                .aliases
                .iter()
                .position(|alias| alias.source == source)
            else {
                return Err(user_error(
                    format!("no alias `{source}`"),
                    "`mailctl alias list` shows the aliases",
                ));
            };
            if destinations.is_empty() {
                config.aliases.remove(position);
            } else {
                let remove: Vec<String> = destinations
                    .iter()
                    .map(|destination| {
                        Address::parse(destination)
                            .map(|address| address.to_string())
                            .unwrap_or_else(|_| destination.clone())
                    })
                    .collect();
                let alias = &mut config.aliases[position];
                alias
                    .destinations
                    .retain(|destination| !remove.contains(destination));
                if alias.destinations.is_empty() {
                    config.aliases.remove(position);
                }
            }
            live::apply_change(&project, &config)?;
            output::status(format!("updated alias `{source}`"));
        }
        AliasCommand::List { .. } => {}
    }
    Ok(())
}

/// `name@domain` or `@domain`, normalised.
fn parse_source(input: &str) -> anyhow::Result<String> {
    if let Some(domain) = input.strip_prefix('@') {
        return DomainName::parse(domain)
            .map(|domain| format!("@{domain}"))
            .map_err(|error| {
                user_error(
                    format!("`{input}`: {}", error.reason),
                    "a catch-all is written `@example.com`",
                )
            });
    }
    Address::parse(input)
        .map(|address| address.to_string())
        .map_err(|error| {
            user_error(
                format!("`{input}`: {}", error.reason),
                "write the source as `name@example.com`, or `@example.com` for a catch-all",
            )
        })
}

fn list(global: &Global, config: &Config, domain: Option<&str>) -> anyhow::Result<()> {
    let aliases: Vec<&Alias> = config
        .aliases
        .iter()
        .filter(|alias| domain.is_none_or(|domain| alias.source.ends_with(&format!("@{domain}"))))
        .collect();
    if global.json {
        return output::json(&serde_json::json!(aliases
            .iter()
            .map(|alias| serde_json::json!({
                "source": alias.source,
                "destinations": alias.destinations,
                "catch_all": alias.is_catch_all(),
            }))
            .collect::<Vec<_>>()));
    }
    for alias in aliases {
        output::data(format!(
            "{:<40} → {}",
            alias.source,
            alias.destinations.join(", ")
        ));
    }
    Ok(())
}
