//! `mailctl down`: stop and remove the project's containers (dependents
//! first) and its network. The named volumes hold every mailbox, so they
//! stay unless `--volumes` is given, which asks first on a terminal and
//! needs `--yes` otherwise.

use super::Global;
use crate::cli::DownArgs;
use crate::docker::{self, Docker};
use crate::output;
use crate::plan::{dependency_order, ObservedContainer};
use crate::project::Project;
use crate::spec::StackSpec;
use crate::stack::desired_stack;

/// Grace time for a container whose service the spec does not know.
const DEFAULT_GRACE_SECONDS: u32 = 10;

pub fn run(global: &Global, args: &DownArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let _lock = project.lock()?;
    // Without a spec (a config this build cannot make a stack of) the
    // project's labels still find everything.
    let spec = match desired_stack(&project, &config) {
        Ok(spec) => Some(spec),
        Err(error) => {
            output::warning(format!(
                "cannot build the stack from mailctl.yaml ({error:#}); removing what carries the project's label"
            ));
            None
        }
    };
    docker::block_on(down(global, &config.name, spec.as_ref(), args.volumes))?
}

async fn down(
    global: &Global,
    project: &str,
    spec: Option<&StackSpec>,
    volumes: bool,
) -> anyhow::Result<()> {
    let docker = Docker::connect().await?;
    let observed = docker.observe(project).await?;
    let resources = docker.project_resources(project, spec).await?;

    if volumes && !resources.volumes.is_empty() {
        confirm_volume_removal(global, project, &resources.volumes)?;
    }

    for container in stop_order(&observed.containers, spec) {
        let grace = spec
            .and_then(|spec| {
                container
                    .service
                    .as_deref()
                    .and_then(|service| spec.service(service))
            })
            .map_or(DEFAULT_GRACE_SECONDS, |service| service.stop_grace_seconds);
        output::status(format!("stopping {}", container.name));
        docker.stop(&container.id, grace).await?;
        docker.remove(&container.id).await?;
    }
    // A guard that was killed rather than stopped left its firewall rules.
    if let Some(spec) = spec {
        if let Err(error) = docker::guard::clean_firewall(&docker, spec).await {
            output::warning(format!("{error:#}"));
        }
    }
    for network in &resources.networks {
        docker.remove_network(network).await?;
    }
    let mut summary = format!(
        "removed {} container(s) and {} network(s) of project `{project}`",
        observed.containers.len(),
        resources.networks.len()
    );
    if volumes {
        for volume in &resources.volumes {
            docker.remove_volume(volume).await?;
        }
        summary.push_str(&format!("; deleted {} volume(s)", resources.volumes.len()));
    } else if !resources.volumes.is_empty() {
        summary.push_str(&format!(
            "; kept {} volume(s) with the mail ({})",
            resources.volumes.len(),
            resources.volumes.join(", ")
        ));
    }
    output::status(summary);
    Ok(())
}

/// Containers whose service is not in the spec first, then the spec's in
/// reverse dependency order (smtp before imap before antispam …).
fn stop_order<'a>(
    containers: &'a [ObservedContainer],
    spec: Option<&StackSpec>,
) -> Vec<&'a ObservedContainer> {
    let order: Vec<&str> = spec
        .map(|spec| {
            dependency_order(&spec.services)
                .iter()
                .rev()
                .map(|service| service.name.as_str())
                .collect()
        })
        .unwrap_or_default();
    let rank = |container: &ObservedContainer| {
        container
            .service
            .as_deref()
            .and_then(|service| order.iter().position(|name| *name == service))
            .map_or(0, |position| position + 1)
    };
    let mut sorted: Vec<&ObservedContainer> = containers.iter().collect();
    sorted.sort_by_key(|container| rank(container));
    sorted
}

/// Deleting the volumes deletes all mail: ask on a terminal, else need `--yes`.
fn confirm_volume_removal(
    global: &Global,
    project: &str,
    volumes: &[String],
) -> anyhow::Result<()> {
    if global.yes {
        return Ok(());
    }
    let what = format!(
        "`down --volumes` deletes {} volume(s) of project `{project}` ({}): every mailbox, the mail queue and learned spam data",
        volumes.len(),
        volumes.join(", ")
    );
    crate::prompt::confirm_destructive(
        false,
        &what,
        "Delete these volumes and all mail in them?",
        "pass `--yes` to confirm without a terminal (consider `mailctl backup` first), or leave out `--volumes` to keep the mail",
        "run `mailctl down` without `--volumes` to stop the stack and keep the mail",
    )
}
