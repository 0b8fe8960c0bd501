//! Talking to the guard service: `mailctl-guard` run in its container
//! answers in JSON (the bans, a ban added or lifted, its firewall).

use super::Docker;
use crate::bans::Ban;
use crate::error::user_error;
use crate::service::Service;
use crate::spec::StackSpec;

/// The guard's command inside its container.
const GUARD_COMMAND: &str = "/usr/local/bin/mailctl-guard";

/// What the guard enforces with.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GuardStatus {
    pub firewall: GuardFirewall,
    /// Whether the jump to the chain is in place.
    pub installed: bool,
    pub bans: usize,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct GuardFirewall {
    /// The iptables variant for IPv4, when the host has Docker's chain.
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub chain: String,
}

async fn call(docker: &Docker, container: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut command = vec![GUARD_COMMAND];
    command.extend_from_slice(args);
    let output = docker.exec(container, &command).await.map_err(|error| {
        user_error(
            format!("cannot reach the guard (container `{container}`): {error:#}"),
            "start the stack with `mailctl up`",
        )
    })?;
    if output.exit_code != 0 {
        let reason = output.stderr.trim();
        return Err(if output.exit_code == 2 {
            user_error(reason.to_owned(), "`mailctl ban list` shows the bans")
        } else {
            user_error(
                format!("the guard did not answer: {reason}"),
                "see `mailctl logs guard`; `mailctl restart guard` starts it again",
            )
        });
    }
    Ok(output.stdout)
}

pub async fn list(docker: &Docker, container: &str) -> anyhow::Result<Vec<Ban>> {
    let text = call(docker, container, &["list"]).await?;
    Ok(serde_json::from_str(&text)?)
}

pub async fn add(
    docker: &Docker,
    container: &str,
    network: &str,
    seconds: u64,
    reason: &str,
) -> anyhow::Result<Ban> {
    let seconds = seconds.to_string();
    let text = call(docker, container, &["add", network, &seconds, reason]).await?;
    Ok(serde_json::from_str(&text)?)
}

/// Lifts the ban of `network` and forgets its earlier offences; whether
/// there was a ban.
pub async fn remove(docker: &Docker, container: &str, network: &str) -> anyhow::Result<bool> {
    let text = call(docker, container, &["remove", network]).await?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    Ok(value["removed"].as_bool().unwrap_or(false))
}

/// Takes the guard's chain out of the host's firewall when the guard could
/// not (it was killed, not stopped): a one-shot container of the guard's
/// image, confined like the guard, runs `mailctl-guard clean`. Nothing to
/// do without a guard in `spec` or without its image.
pub async fn clean_firewall(docker: &Docker, spec: &StackSpec) -> anyhow::Result<()> {
    let Some(guard) = spec.service(Service::Guard.name()) else {
        return Ok(());
    };
    if !docker.image_exists(&guard.image.reference).await? {
        return Ok(());
    }
    let name = format!("{}-guard-clean", spec.project);
    let code = docker
        .run_once(
            guard,
            &spec.network,
            &name,
            &spec.project,
            &[GUARD_COMMAND, "clean"],
        )
        .await?;
    if code != 0 {
        anyhow::bail!(
            "`mailctl-guard clean` ended with {code}: chain {} may be left in the host's firewall (`iptables -S DOCKER-USER` shows it)",
            crate::bans::chain_name(&spec.project)
        );
    }
    Ok(())
}

pub async fn status(docker: &Docker, container: &str) -> anyhow::Result<GuardStatus> {
    let text = call(docker, container, &["status"]).await?;
    Ok(serde_json::from_str(&text)?)
}
