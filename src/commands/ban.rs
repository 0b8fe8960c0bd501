//! `mailctl ban …`: the bans the guard holds. Listing, banning by hand and
//! lifting a ban act on the running guard at once; nothing in mailctl.yaml
//! changes (the addresses never banned are `security.bans.allow`).

use super::Global;
use crate::bans::{self, Ban};
use crate::cli::BanCommand;
use crate::config::{parse_duration, Config};
use crate::docker::{self, Docker};
use crate::error::user_error;
use crate::output;
use crate::project::Project;
use crate::service::Service;

pub fn run(global: &Global, command: &BanCommand) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let container = guard_container(&project, &config)?;
    match command {
        BanCommand::List => {
            let list = docker::block_on(async {
                let docker = Docker::connect().await?;
                docker::guard::list(&docker, &container).await
            })??;
            print_list(global, &list)
        }
        BanCommand::Add { address, duration } => {
            let network = ban_network(&config, address)?;
            let text = duration
                .clone()
                .unwrap_or_else(|| config.security.bans.duration.clone());
            let seconds = parse_duration(&text)
                .filter(|seconds| *seconds > 0)
                .ok_or_else(|| {
                    user_error(
                        format!("`{text}` is not a duration"),
                        "write a number with a unit: `90s`, `10m`, `1h`, `7d` or `2w`",
                    )
                })?;
            let ban = docker::block_on(async {
                let docker = Docker::connect().await?;
                docker::guard::add(&docker, &container, &network, seconds, "added by hand").await
            })??;
            output::status(format!(
                "banned {} on every published port until {}",
                ban.network,
                timestamp(ban.until)
            ));
            Ok(())
        }
        BanCommand::Remove { address } => {
            let network = parse(address)?.to_string();
            let removed = docker::block_on(async {
                let docker = Docker::connect().await?;
                docker::guard::remove(&docker, &container, &network).await
            })??;
            if removed {
                output::status(format!(
                    "lifted the ban of {network}; its earlier bans are forgotten"
                ));
            } else {
                output::status(format!(
                    "{network} was not banned; its earlier bans are forgotten"
                ));
            }
            Ok(())
        }
    }
}

/// The guard's container, or why there is none.
fn guard_container(project: &Project, config: &Config) -> anyhow::Result<String> {
    if !config.runs(Service::Guard) {
        return Err(user_error(
            "bans are off in this project (`security.bans.enabled: false`)",
            "set `security.bans.enabled: true` in mailctl.yaml and run `mailctl up`",
        ));
    }
    let spec = crate::stack::desired_stack(project, config)?;
    spec.service(Service::Guard.name())
        .map(|service| service.container_name.clone())
        .ok_or_else(|| anyhow::anyhow!("the stack has no guard service"))
}

/// The network a ban of `text` covers (an address's ban unit, or the
/// network as written).
fn parse(text: &str) -> anyhow::Result<ipnet::IpNet> {
    let hint = "write an address (`203.0.113.7`, `2001:db8::1`) or a network (`203.0.113.0/24`)";
    if let Ok(address) = text.trim().parse::<std::net::IpAddr>() {
        return Ok(bans::ban_unit(address));
    }
    crate::net::parse_network(text)
        .ok_or_else(|| user_error(format!("`{text}` is not an address or network"), hint))
}

/// `text` as a network that may be banned, or why it may not.
fn ban_network(config: &Config, text: &str) -> anyhow::Result<String> {
    let network = parse(text)?;
    let protected = bans::protected(config);
    if let Some(entry) = bans::refusal(&protected, &network) {
        return Err(user_error(
            format!("{network} is never banned: {}", entry.reason),
            if entry.allowed_by_config {
                "remove it from `security.bans.allow` in mailctl.yaml first if it must be banned"
            } else {
                "ban the client's own address instead"
            },
        ));
    }
    Ok(network.to_string())
}

fn timestamp(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp(seconds).ok())
        .and_then(|moment| {
            moment
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn print_list(global: &Global, list: &[Ban]) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    if global.json {
        return output::json(&serde_json::json!(list
            .iter()
            .map(|ban| serde_json::json!({
                "network": ban.network,
                "since": timestamp(ban.since),
                "until": timestamp(ban.until),
                "seconds_left": ban.until.saturating_sub(now),
                "offences": ban.offences,
                "reason": ban.reason,
            }))
            .collect::<Vec<_>>()));
    }
    if list.is_empty() {
        output::status("no address is banned");
        return Ok(());
    }
    output::data(format!(
        "{:<24} {:<22} {:>9} {:>3}  REASON",
        "NETWORK", "UNTIL", "LEFT", "#"
    ));
    for ban in list {
        output::data(format!(
            "{:<24} {:<22} {:>8}s {:>3}  {}",
            ban.network,
            timestamp(ban.until),
            ban.until.saturating_sub(now),
            ban.offences,
            ban.reason
        ));
    }
    Ok(())
}
