//! `mailctl user …`: mailboxes. Every change is validated, saved atomically
//! under the project lock, and applied live (Dovecot and Postfix reload).

use super::password_input;
use super::Global;
use crate::cli::UserCommand;
use crate::config::{Config, Mailbox, Size};
use crate::error::user_error;
use crate::live;
use crate::names::Address;
use crate::output;
use crate::passwords;
use crate::project::Project;

pub fn run(global: &Global, command: &UserCommand) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    if let UserCommand::List { domain } = command {
        return list(global, &project.load_config()?, domain.as_deref());
    }
    let _lock = project.lock()?;
    let mut config = project.load_config()?;
    match command {
        UserCommand::Add {
            address,
            password_stdin,
            quota,
            name,
        } => {
            let address = parse_address(address)?;
            if config.mailbox(&address).is_some() {
                return Err(user_error(
                    format!("mailbox `{address}` already exists"),
                    format!("change its password with `mailctl user passwd {address}`"),
                ));
            }
            let domain = address
                .rsplit_once('@')
                .map(|(_, domain)| domain)
                .unwrap_or_default();
            if config.domain(domain).is_none() {
                return Err(user_error(
                    format!("domain `{domain}` is not configured"),
                    format!("add it first: `mailctl domain add {domain}`"),
                ));
            }
            let quota = quota.as_deref().map(parse_quota).transpose()?.flatten();
            let password = password_input::obtain(&address, *password_stdin, "--password-stdin")?;
            config.mailboxes.push(Mailbox {
                address: address.clone(),
                password_hash: passwords::hash_argon2id(&password.password)?,
                quota,
                name: name.clone(),
                enabled: true,
                send_as: Vec::new(),
                forward: None,
                autoreply: None,
                outbound_alert: None,
            });
            live::apply_change(&project, &config)?;
            output::status(format!("created mailbox `{address}`"));
            password_input::show_generated(&address, &password);
        }
        UserCommand::Remove { address, purge } => {
            let address = existing(&config, address)?;
            config
                .mailboxes
                .retain(|mailbox| mailbox.address != address);
            // Aliases that only pointed here would bounce: drop the destination.
            let mut emptied = Vec::new();
            for alias in &mut config.aliases {
                alias
                    .destinations
                    .retain(|destination| destination != &address);
                if alias.destinations.is_empty() {
                    emptied.push(alias.source.clone());
                }
            }
            config
                .aliases
                .retain(|alias| !alias.destinations.is_empty());
            live::apply_change(&project, &config)?;
            for source in emptied {
                output::status(format!(
                    "removed alias `{source}`, which delivered only to `{address}`"
                ));
            }
            if *purge {
                let (local, domain) = address.rsplit_once('@').unwrap_or_default();
                let path = format!("/var/mail/{domain}/{local}");
                live::exec_in(&project, &config, "imap", &["rm", "-rf", "--", &path])?;
                output::status(format!("removed mailbox `{address}` and deleted its mail"));
            } else {
                output::status(format!(
                    "removed mailbox `{address}`; its mail is kept (delete it with `mailctl user remove {address} --purge` after re-adding, or in the `mail` volume)"
                ));
            }
        }
        UserCommand::Passwd {
            address,
            password_stdin,
        } => {
            let address = existing(&config, address)?;
            let password = password_input::obtain(&address, *password_stdin, "--password-stdin")?;
            let hash = passwords::hash_argon2id(&password.password)?;
            if let Some(mailbox) = config.mailboxes.iter_mut().find(|m| m.address == address) {
                mailbox.password_hash = hash;
            }
            live::apply_change(&project, &config)?;
            output::status(format!("changed the password of `{address}`"));
            password_input::show_generated(&address, &password);
        }
        UserCommand::Quota { address, size } => {
            let address = existing(&config, address)?;
            let quota = parse_quota(size)?;
            if let Some(mailbox) = config.mailboxes.iter_mut().find(|m| m.address == address) {
                mailbox.quota = quota;
            }
            live::apply_change(&project, &config)?;
            match quota {
                Some(quota) => output::status(format!("quota of `{address}` is now {quota}")),
                None => output::status(format!("`{address}` has no quota now")),
            }
        }
        UserCommand::Disable { address } | UserCommand::Enable { address } => {
            let enable = matches!(command, UserCommand::Enable { .. });
            let address = existing(&config, address)?;
            if let Some(mailbox) = config.mailboxes.iter_mut().find(|m| m.address == address) {
                mailbox.enabled = enable;
            }
            live::apply_change(&project, &config)?;
            if enable {
                output::status(format!("`{address}` can log in again"));
            } else {
                output::status(format!(
                    "`{address}` can no longer log in; mail for it is still delivered and kept"
                ));
            }
        }
        UserCommand::Forward {
            address,
            to,
            keep,
            off,
        } => {
            let address = existing(&config, address)?;
            let forward = (!off).then(|| crate::config::Forward {
                to: to.clone(),
                keep: *keep,
            });
            if let Some(mailbox) = config.mailboxes.iter_mut().find(|m| m.address == address) {
                mailbox.forward = forward.clone();
            }
            live::apply_change(&project, &config)?;
            match forward {
                Some(forward) => output::status(format!(
                    "`{address}` forwards to {}{}",
                    forward.to.join(", "),
                    if forward.keep {
                        " and keeps a copy"
                    } else {
                        ""
                    }
                )),
                None => output::status(format!("`{address}` no longer forwards")),
            }
        }
        UserCommand::Autoreply {
            address,
            subject,
            body_file,
            from,
            until,
            off,
        } => {
            let address = existing(&config, address)?;
            let reply = if *off {
                None
            } else {
                let body = match body_file {
                    Some(path) => fs_err::read_to_string(path)?,
                    None => String::new(),
                };
                Some(crate::config::AutoReply {
                    subject: subject.clone().unwrap_or_default(),
                    body: body.trim_end().to_owned(),
                    from: from.clone(),
                    until: until.clone(),
                })
            };
            if let Some(mailbox) = config.mailboxes.iter_mut().find(|m| m.address == address) {
                mailbox.autoreply = reply.clone();
            }
            live::apply_change(&project, &config)?;
            match reply {
                Some(reply) => output::status(format!(
                    "`{address}` answers automatically{}{}",
                    reply
                        .from
                        .map(|date| format!(" from {date}"))
                        .unwrap_or_default(),
                    reply
                        .until
                        .map(|date| format!(" until {date}"))
                        .unwrap_or_default()
                )),
                None => output::status(format!("`{address}` no longer answers automatically")),
            }
        }
        UserCommand::Release { address, delete } => {
            let address = existing(&config, address)?;
            let spec = crate::stack::desired_stack(&project, &config)?;
            let smtp = spec
                .service(crate::service::Service::Smtp.name())
                .map(|service| service.container_name.clone())
                .ok_or_else(|| anyhow::anyhow!("the stack has no smtp service"))?;
            let released = crate::docker::block_on(async {
                let docker = crate::docker::Docker::connect().await?;
                crate::docker::deliveries::release_held_from(&docker, &smtp, &address, *delete)
                    .await
            })??;
            match (released, *delete) {
                (0, _) => output::status(format!(
                    "no mail from `{address}` is held; its counts start from zero"
                )),
                (count, false) => output::status(format!(
                    "{count} held message(s) from `{address}` sent; its counts start from zero"
                )),
                (count, true) => output::status(format!(
                    "{count} held message(s) from `{address}` deleted; its counts start from zero"
                )),
            }
        }
        // Listing needs no lock (above); importing is its own command.
        UserCommand::List { .. } | UserCommand::Import { .. } => {}
    }
    Ok(())
}

fn parse_address(input: &str) -> anyhow::Result<String> {
    Address::parse(input)
        .map(|address| address.to_string())
        .map_err(|error| {
            user_error(
                error.reason,
                error
                    .hint
                    .unwrap_or_else(|| "write it as `name@example.com`".into()),
            )
        })
}

/// The normalised address of an existing mailbox, or an error naming it.
fn existing(config: &Config, input: &str) -> anyhow::Result<String> {
    let address = parse_address(input)?;
    if config.mailbox(&address).is_none() {
        return Err(user_error(
            format!("no mailbox `{address}`"),
            "`mailctl user list` shows the mailboxes",
        ));
    }
    Ok(address)
}

/// `2G`, `500M`, or `none`/`0` for no quota.
fn parse_quota(input: &str) -> anyhow::Result<Option<Size>> {
    if matches!(input.trim(), "none" | "0" | "unlimited") {
        return Ok(None);
    }
    let size: Size = input.parse().map_err(|error: crate::config::SizeError| {
        user_error(error.to_string(), "e.g. `--quota 2G`")
    })?;
    if size.bytes() < 1 << 20 {
        return Err(user_error(
            format!("quota {size} is below 1M, too small to receive mail"),
            "write quotas with a unit, e.g. `500M` or `2G`",
        ));
    }
    Ok(Some(size))
}

fn list(global: &Global, config: &Config, domain: Option<&str>) -> anyhow::Result<()> {
    let mailboxes: Vec<&Mailbox> = config
        .mailboxes
        .iter()
        .filter(|mailbox| {
            domain.is_none_or(|domain| mailbox.address.ends_with(&format!("@{domain}")))
        })
        .collect();
    if global.json {
        return output::json(&serde_json::json!(mailboxes
            .iter()
            .map(|mailbox| serde_json::json!({
                "address": mailbox.address,
                "name": mailbox.name,
                "quota": mailbox.quota.map(|quota| quota.to_string()),
                "enabled": mailbox.enabled,
                "send_as": mailbox.send_as,
            }))
            .collect::<Vec<_>>()));
    }
    for mailbox in mailboxes {
        let quota = mailbox
            .quota
            .map(|quota| quota.to_string())
            .unwrap_or_else(|| "-".into());
        let state = if mailbox.enabled {
            "enabled"
        } else {
            "disabled"
        };
        output::data(format!(
            "{:<40} {:<8} {:<9} {}",
            mailbox.address,
            quota,
            state,
            mailbox.name.as_deref().unwrap_or("")
        ));
    }
    Ok(())
}
