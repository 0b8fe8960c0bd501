//! The stack as the lifecycle commands see it: the desired spec of a
//! project, the container that serves a service among those observed, the
//! error for a service name the stack lacks, and one error for services
//! that did not become healthy (their health output and logs printed).

use std::time::Duration;

use crate::config::Config;
use crate::docker::{Docker, ServiceFailure};
use crate::error::user_error;
use crate::output;
use crate::plan::{ContainerState, Health, Observed, ObservedContainer};
use crate::project::Project;
use crate::spec::{ServiceSpec, StackSpec};

/// The desired stack of the project, built from its config alone: names,
/// containers, network, volumes. Nothing is rendered, so its services carry
/// no definition hashes; what plans or creates containers takes the spec
/// that rendering returns instead.
pub fn desired_stack(project: &Project, config: &Config) -> anyhow::Result<StackSpec> {
    StackSpec::build(config, project.root())
}

/// The container serving `service`: the one with the spec's name, or any
/// with the service's label.
pub fn container_for<'a>(
    observed: &'a Observed,
    service: &ServiceSpec,
) -> Option<&'a ObservedContainer> {
    let candidates = || {
        observed
            .containers
            .iter()
            .filter(|container| container.service.as_deref() == Some(service.name.as_str()))
    };
    candidates()
        .find(|container| container.name == service.container_name)
        .or_else(|| candidates().next())
}

/// How long one run of a service's health command may take here.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Docker runs its first scheduled health check an interval after a
/// container starts; until then it says `starting`. For each running
/// container in that state, runs the same health command now and, when it
/// passes, counts the container healthy, as `up` does before it starts the
/// services that depend on it.
pub async fn confirm_starting(docker: &Docker, observed: &mut Observed) {
    for container in &mut observed.containers {
        if container.state != ContainerState::Running || container.health != Health::Starting {
            continue;
        }
        let probe = docker.exec(&container.name, &[crate::spec::HEALTH_COMMAND]);
        let passed = tokio::time::timeout(HEALTH_PROBE_TIMEOUT, probe)
            .await
            .is_ok_and(|result| result.is_ok_and(|output| output.exit_code == 0));
        if passed {
            container.health = Health::Healthy;
        }
    }
}

/// The error for a named service that is not part of the stack.
pub fn unknown_service(name: &str, spec: &StackSpec) -> anyhow::Error {
    let names: Vec<&str> = spec
        .services
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    user_error(
        format!("there is no service `{name}` in this stack"),
        format!("the services are: {}", names.join(", ")),
    )
}

/// Prints each failed service's health output and log, and returns the
/// summary error.
pub fn report_failures(failures: Vec<ServiceFailure>) -> anyhow::Error {
    let failed: Vec<&ServiceFailure> = failures.iter().filter(|failure| !failure.skipped).collect();
    let skipped: Vec<String> = failures
        .iter()
        .filter(|failure| failure.skipped)
        .map(|failure| failure.service.clone())
        .collect();
    // A single Docker error (e.g. a port in use) keeps its own message and hint.
    if failed.len() == 1 && failed[0].log.is_empty() && failed[0].last_health.is_none() {
        if let Some(failure) = failures.into_iter().find(|failure| !failure.skipped) {
            if !skipped.is_empty() {
                output::status(format!(
                    "not started because `{}` failed: {}",
                    failure.service,
                    skipped.join(", ")
                ));
            }
            return failure.error;
        }
        return anyhow::anyhow!("a service failed");
    }
    for failure in &failed {
        let mut block = format!("error: {:#}", failure.error);
        if failure.last_health.is_none() && !failure.log.is_empty() {
            block.push_str(
                "\n  no health check result yet (the container restarted or just started)",
            );
        }
        if let Some((code, text)) = &failure.last_health {
            block.push_str(&format!("\n  last health check (exit {code}):"));
            if text.is_empty() {
                block.push_str(" no output");
            }
            for line in text.lines() {
                block.push_str(&format!("\n    {line}"));
            }
        }
        if !failure.log.is_empty() {
            block.push_str(&format!(
                "\n  last {} log line(s) of `{}`:",
                failure.log.len(),
                failure.service
            ));
            for line in &failure.log {
                block.push_str(&format!("\n    | {line}"));
            }
        }
        eprintln!("{block}");
    }
    let names: Vec<String> = failed
        .iter()
        .map(|failure| format!("`{}`", failure.service))
        .collect();
    let mut message = format!(
        "{} service(s) did not become healthy: {}",
        failed.len(),
        names.join(", ")
    );
    if !skipped.is_empty() {
        message.push_str(&format!("; not started: {}", skipped.join(", ")));
    }
    let first = failed
        .first()
        .map(|failure| failure.service.as_str())
        .unwrap_or("smtp");
    user_error(
        message,
        format!(
            "see the health output and logs above (`mailctl logs {first}` shows more), fix the cause, then run `mailctl up` again"
        ),
    )
}
