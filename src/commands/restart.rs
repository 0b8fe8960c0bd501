//! `mailctl restart [SERVICE]`: restart one service's container, or every
//! service's in dependency order, waiting for each to be healthy again. It
//! does not apply configuration changes: that is `mailctl up`'s job.

use std::time::Duration;

use super::Global;
use crate::cli::RestartArgs;
use crate::docker::{self, deliveries, Docker};
use crate::error::user_error;
use crate::output;
use crate::plan::{self, dependency_order, Action};
use crate::progress::Progress;
use crate::project::Project;
use crate::stack::{container_for, report_failures, unknown_service};

pub fn run(global: &Global, args: &RestartArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let _lock = project.lock()?;
    // Rendered in memory: the plan tells whether a container runs an older
    // configuration, which takes the hashes of the rendered files.
    let spec = crate::render::project_in_memory(&project, &config)?.spec;
    let services: Vec<&crate::spec::ServiceSpec> = match &args.service {
        Some(name) => vec![spec
            .service(name)
            .ok_or_else(|| unknown_service(name, &spec))?],
        None => dependency_order(&spec.services),
    };
    let timeout = Duration::from_secs(args.timeout);
    docker::block_on(async {
        let docker = Docker::connect().await?;
        let observed = docker.observe(&spec.project).await?;
        let plan = plan::plan(&spec, &observed);
        let progress = Progress::new();
        let mut failures = Vec::new();
        for service in services {
            let Some(container) = container_for(&observed, service) else {
                return Err(user_error(
                    format!("`{}` has no container to restart", service.name),
                    "start the stack with `mailctl up`",
                ));
            };
            if let Some(step) = plan.step(&service.name) {
                if matches!(step.action, Action::Recreate { .. }) {
                    output::warning(format!(
                        "`{}` runs an older configuration than mailctl.yaml; `mailctl up` applies the new one",
                        service.name
                    ));
                }
            }
            let task = progress.task(&service.name);
            // Stopping imap: hold deliveries to the mailboxes meanwhile.
            let held = deliveries::hold_for_stop(&docker, &spec, &service.name).await;
            task.message("restarting");
            let restarted = docker
                .restart(&container.id, service.stop_grace_seconds)
                .await;
            let waited = match restarted {
                Ok(()) => {
                    docker::wait_healthy(
                        &docker,
                        &service.name,
                        &container.id,
                        timeout,
                        &task,
                        "restarted",
                    )
                    .await
                }
                Err(error) => {
                    deliveries::release_after_start(&docker, held).await;
                    return Err(error);
                }
            };
            deliveries::release_after_start(&docker, held).await;
            if let Err(failure) = waited {
                failures.push(failure);
                break;
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(report_failures(failures))
        }
    })?
}
