//! Applying a configuration change to a running stack without restarting
//! anything: save `mailctl.yaml` (validated, atomically), render what
//! changed, and run `mailctl-reload` in each running container whose files
//! changed, in dependency order (Dovecot learns a new user before Postfix
//! accepts mail for it). When the stack is down the change waits for `up`.

use crate::config::{self, Config};
use crate::docker::{self, Docker};
use crate::output;
use crate::plan::{self, Action};
use crate::project::Project;
use crate::render;
use crate::spec::StackSpec;

/// What applying did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Services whose running container reloaded the new files.
    pub reloaded: Vec<String>,
    /// Whether the stack was running at all.
    pub running: bool,
}

/// Saves `config` and applies it live. The caller holds the project lock
/// and read `config` under it.
pub fn apply_change(project: &Project, config: &Config) -> anyhow::Result<(Config, Applied)> {
    let saved = config::save_file(&project.config_path(), config)?;
    let rendered = crate::render::project_in_memory(project, &saved)?;
    render::write(&project.generated_dir(), &rendered.files)?;
    let applied = docker::block_on(reload_running(project, &rendered.spec))??;
    Ok((saved, applied))
}

async fn reload_running(project: &Project, spec: &StackSpec) -> anyhow::Result<Applied> {
    let mut applied = Applied::default();
    let Ok(docker) = Docker::connect().await else {
        output::status("Docker is not reachable: the change takes effect at the next `mailctl up`");
        return Ok(applied);
    };
    let generated = project.generated_dir();
    let mut observed = docker.observe(&spec.project).await?;
    if !observed
        .containers
        .iter()
        .any(|container| container.state.is_up())
    {
        output::status(
            "the stack is not running: the change takes effect at the next `mailctl up`",
        );
        return Ok(applied);
    }
    applied.running = true;
    observed.applied_files = crate::applied::read(&generated);
    let plan = plan::plan(spec, &observed);
    let mut pending = Vec::new();
    for step in &plan.steps {
        match &step.action {
            Action::Reload => {
                docker::reload(&docker, &step.container, &step.service).await?;
                output::detail(format!("reloaded {}", step.service));
                applied.reloaded.push(step.service.clone());
                let services: Vec<&str> = vec![step.service.as_str()];
                crate::applied::record(&generated, spec, &services)?;
            }
            Action::Keep => {}
            other => pending.push(format!("{} ({})", step.service, action_word(other))),
        }
    }
    if !pending.is_empty() {
        output::warning(format!(
            "not applied live: {}; run `mailctl up` to apply",
            pending.join(", ")
        ));
    }
    Ok(applied)
}

fn action_word(action: &Action) -> &'static str {
    match action {
        Action::Create => "to create",
        Action::Recreate { .. } => "to recreate",
        Action::Start => "stopped",
        Action::Remove { .. } => "to remove",
        Action::Reload => "to reload",
        Action::Keep => "up to date",
    }
}

/// Runs `command` in the running container of `service`; fails with a hint
/// when the stack is not running.
pub fn exec_in(
    project: &Project,
    config: &Config,
    service: &str,
    command: &[&str],
) -> anyhow::Result<String> {
    let project_name = config.name.clone();
    let root = project.root().display().to_string();
    docker::block_on(async move {
        let docker = Docker::connect().await?;
        let observed = docker.observe(&project_name).await?;
        let container = observed
            .containers
            .iter()
            .find(|container| {
                container.service.as_deref() == Some(service) && container.state.is_up()
            })
            .ok_or_else(|| {
                crate::error::user_error(
                    format!("`{service}` is not running, so its data cannot be changed"),
                    format!(
                        "start the stack with `mailctl -C {root} up` and run the command again"
                    ),
                )
            })?;
        let output = docker.exec(&container.name, command).await?;
        if output.exit_code != 0 {
            anyhow::bail!(
                "`{}` in `{service}` failed (exit {}): {}{}",
                command.join(" "),
                output.exit_code,
                output.stdout,
                output.stderr
            );
        }
        Ok(output.stdout)
    })?
}
