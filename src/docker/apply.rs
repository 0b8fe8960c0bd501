//! Applying a `Plan`: remove what the spec no longer wants, then for each
//! service, as soon as the services it depends on are healthy, create,
//! recreate or start its container and wait until its health check passes
//! (or it exits, turns unhealthy, or the timeout ends). Independent services
//! proceed in parallel; a failure stops only the services that depend on it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::deliveries;
use super::Docker;
use crate::plan::{Action, ContainerState, Health, Plan, RemoveReason, Step};
use crate::progress::{Progress, Task};
use crate::spec::{ServiceSpec, StackSpec};

/// How often health is polled.
const POLL: Duration = Duration::from_millis(250);
/// Log lines shown for a service that did not become healthy.
const FAILURE_LOG_LINES: usize = 20;
/// Restarts while waiting after which a service counts as crashing.
const CRASH_RESTARTS: u32 = 2;
/// How long an unhealthy status may be one left from before this start:
/// Docker's whole failing streak (interval × retries).
const UNHEALTHY_AFTER: Duration = Duration::from_secs(
    (crate::spec::HEALTH_INTERVAL_SECONDS * crate::spec::HEALTH_RETRIES) as u64,
);
/// Grace time for containers whose service is gone from the spec.
const DEFAULT_GRACE_SECONDS: u32 = 10;

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// How long each started service may take to become healthy.
    pub health_timeout: Duration,
}

/// A service that did not come up, with what the user needs to see.
#[derive(Debug)]
pub struct ServiceFailure {
    pub service: String,
    pub error: anyhow::Error,
    /// The last health check's exit code and output.
    pub last_health: Option<(i64, String)>,
    /// The last lines of the container's log.
    pub log: Vec<String>,
    /// Not tried because a dependency failed.
    pub skipped: bool,
}

impl ServiceFailure {
    fn new(service: &str, error: anyhow::Error) -> ServiceFailure {
        ServiceFailure {
            service: service.to_owned(),
            error,
            last_health: None,
            log: Vec::new(),
            skipped: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    Ready,
    Failed,
}

/// Runs `plan` against the daemon. Docker errors while removing abort the
/// whole apply; a service that fails is reported in the returned list.
pub async fn apply(
    docker: &Docker,
    spec: &StackSpec,
    plan: &Plan,
    options: ApplyOptions,
    progress: &Progress,
) -> anyhow::Result<Vec<ServiceFailure>> {
    for step in &plan.steps {
        if let Action::Remove { reason } = &step.action {
            let task = progress.task(&step.service);
            task.message(format!("removing {} ({reason})", step.container));
            let target = step.existing.as_deref().unwrap_or(&step.container);
            let grace = match reason {
                RemoveReason::Duplicate => spec
                    .service(&step.service)
                    .map_or(DEFAULT_GRACE_SECONDS, |service| service.stop_grace_seconds),
                RemoveReason::NotInSpec => DEFAULT_GRACE_SECONDS,
            };
            docker.stop(target, grace).await?;
            docker.remove(target).await?;
            task.finish(format!("removed {}", step.container));
        }
    }

    let outcomes: Mutex<BTreeMap<String, Outcome>> = Mutex::new(
        plan.steps
            .iter()
            .filter(|step| !matches!(step.action, Action::Remove { .. }))
            .map(|step| (step.service.clone(), Outcome::Pending))
            .collect(),
    );
    let runs = plan
        .steps
        .iter()
        .filter(|step| !matches!(step.action, Action::Remove { .. }))
        .filter_map(|step| spec.service(&step.service).map(|service| (step, service)))
        .map(|(step, service)| {
            run_service(docker, spec, step, service, options, progress, &outcomes)
        });
    let results = join_all(runs).await;
    Ok(results.into_iter().filter_map(Result::err).collect())
}

async fn run_service(
    docker: &Docker,
    spec: &StackSpec,
    step: &Step,
    service: &ServiceSpec,
    options: ApplyOptions,
    progress: &Progress,
    outcomes: &Mutex<BTreeMap<String, Outcome>>,
) -> Result<(), ServiceFailure> {
    let task = progress.task(&service.name);
    let result = run_service_inner(docker, spec, step, service, options, &task, outcomes).await;
    let outcome = if result.is_ok() {
        Outcome::Ready
    } else {
        Outcome::Failed
    };
    if let Ok(mut outcomes) = outcomes.lock() {
        outcomes.insert(service.name.clone(), outcome);
    }
    result
}

async fn run_service_inner(
    docker: &Docker,
    spec: &StackSpec,
    step: &Step,
    service: &ServiceSpec,
    options: ApplyOptions,
    task: &Task,
    outcomes: &Mutex<BTreeMap<String, Outcome>>,
) -> Result<(), ServiceFailure> {
    // Wait for the dependencies in the spec to be healthy; a container that
    // is kept as it is does not depend on anything that happens now.
    if step.action != Action::Keep {
        loop {
            let snapshot = outcomes
                .lock()
                .map(|outcomes| outcomes.clone())
                .unwrap_or_default();
            let states: Vec<(&String, Outcome)> = service
                .depends_on
                .iter()
                .filter_map(|dependency| {
                    snapshot
                        .get(dependency)
                        .map(|outcome| (dependency, *outcome))
                })
                .collect();
            if let Some((failed, _)) = states
                .iter()
                .find(|(_, outcome)| *outcome == Outcome::Failed)
            {
                task.fail(format!("not started: `{failed}` did not become healthy"));
                let mut failure = ServiceFailure::new(
                    &service.name,
                    anyhow::anyhow!(
                        "`{}` was not started because `{failed}` did not become healthy",
                        service.name
                    ),
                );
                failure.skipped = true;
                return Err(failure);
            }
            let waiting: Vec<&str> = states
                .iter()
                .filter(|(_, outcome)| *outcome == Outcome::Pending)
                .map(|(name, _)| name.as_str())
                .collect();
            if waiting.is_empty() {
                break;
            }
            task.message(format!("waiting for {}", waiting.join(", ")));
            tokio::time::sleep(POLL).await;
        }
    }

    // Stopping imap on purpose: hold deliveries to the mailboxes meanwhile.
    let held = match step.action {
        Action::Recreate { .. } => deliveries::hold_for_stop(docker, spec, &service.name).await,
        _ => None,
    };
    let result = async {
        let fail = |error: anyhow::Error| {
            task.fail(format!("failed: {}", first_line(&error)));
            ServiceFailure::new(&service.name, error)
        };
        let name = service.container_name.as_str();
        match &step.action {
            Action::Create => {
                task.message("creating");
                docker.create(service, &spec.network).await.map_err(fail)?;
                task.message("starting");
                docker.start(name, &service.name).await.map_err(fail)?;
            }
            Action::Recreate { reason } => {
                let old = step.existing.as_deref().unwrap_or(name);
                task.message(format!("recreating ({reason})"));
                docker
                    .stop(old, service.stop_grace_seconds)
                    .await
                    .map_err(fail)?;
                docker.remove(old).await.map_err(fail)?;
                docker.create(service, &spec.network).await.map_err(fail)?;
                task.message("starting");
                docker.start(name, &service.name).await.map_err(fail)?;
            }
            Action::Start => {
                task.message("starting");
                docker
                    .start(&step.container, &service.name)
                    .await
                    .map_err(fail)?;
            }
            Action::Reload => {
                task.message("reloading");
                reload(docker, &step.container, &service.name)
                    .await
                    .map_err(fail)?;
            }
            Action::Keep | Action::Remove { .. } => {}
        }
        let verb = match step.action {
            Action::Create => "created",
            Action::Recreate { .. } => "recreated",
            Action::Start => "started",
            Action::Reload => "reloaded",
            _ => "up to date",
        };
        let container = match step.action {
            Action::Start | Action::Keep | Action::Reload => step.container.as_str(),
            _ => name,
        };
        wait_healthy(
            docker,
            &service.name,
            container,
            options.health_timeout,
            task,
            verb,
        )
        .await
    }
    .await;
    deliveries::release_after_start(docker, held).await;
    result
}

/// Waits until `container` is healthy (or running, without a health
/// check). Fails when it exits, turns unhealthy, keeps restarting, or the
/// timeout ends; the failure carries the last health output and log lines.
pub async fn wait_healthy(
    docker: &Docker,
    service: &str,
    container: &str,
    timeout: Duration,
    task: &Task,
    verb: &str,
) -> Result<(), ServiceFailure> {
    let started = Instant::now();
    let mut first_restarts: Option<u32> = None;
    loop {
        let details = match docker.details(container).await {
            Ok(Some(details)) => details,
            Ok(None) => {
                task.fail("the container is gone");
                return Err(ServiceFailure::new(
                    service,
                    anyhow::anyhow!(
                        "container `{container}` of `{service}` disappeared while starting"
                    ),
                ));
            }
            Err(error) => {
                task.fail(format!("failed: {}", first_line(&error)));
                return Err(ServiceFailure::new(service, error));
            }
        };
        let observed = &details.observed;
        let restarts = observed
            .restart_count
            .saturating_sub(*first_restarts.get_or_insert(observed.restart_count));
        let elapsed = started.elapsed();
        let problem = match (observed.state, observed.health) {
            (ContainerState::Running, Health::Healthy | Health::None) => {
                task.finish(format!("{} ({verb})", health_word(observed.health)));
                return Ok(());
            }
            // Docker runs the first check only after its interval (10 s); the
            // same command run now lets dependants start without that wait.
            // It also decides over an unhealthy status: after a crash, Docker
            // can carry the failing streak of before the restart into it.
            (ContainerState::Running, Health::Starting | Health::Unhealthy)
                if docker
                    .exec(container, &[crate::spec::HEALTH_COMMAND])
                    .await
                    .is_ok_and(|output| output.exit_code == 0) =>
            {
                task.finish(format!("healthy ({verb}; checked by mailctl)"));
                return Ok(());
            }
            (ContainerState::Exited | ContainerState::Dead | ContainerState::Created, _) => {
                Some(format!(
                    "`{service}` exited with code {}{}",
                    details.exit_code.unwrap_or(-1),
                    details
                        .error
                        .as_ref()
                        .map(|error| format!(": {error}"))
                        .unwrap_or_default()
                ))
            }
            // Unhealthy for good only once Docker could have counted a whole
            // failing streak since this wait began.
            (_, Health::Unhealthy) if elapsed >= UNHEALTHY_AFTER => {
                Some(format!("`{service}` is unhealthy"))
            }
            _ if restarts >= CRASH_RESTARTS => Some(format!(
                "`{service}` keeps restarting ({restarts} restarts)"
            )),
            _ if elapsed >= timeout => Some(format!(
                "`{service}` did not become healthy within {} s (state {}, health {})",
                timeout.as_secs(),
                observed.state.as_str(),
                observed.health.as_str()
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            task.fail(problem.replace('`', ""));
            let mut failure = ServiceFailure::new(service, anyhow::anyhow!(problem));
            failure.last_health = details.last_health.clone();
            failure.log = docker.last_log_lines(container, FAILURE_LOG_LINES).await;
            return Err(failure);
        }
        // No seconds here: plain output prints a line only when this changes.
        task.message(format!(
            "{}, health {}",
            observed.state.as_str(),
            observed.health.as_str()
        ));
        tokio::time::sleep(POLL).await;
    }
}

/// Runs `mailctl-reload` in a running container: its daemon re-reads the
/// configuration without dropping connections.
pub async fn reload(docker: &Docker, container: &str, service: &str) -> anyhow::Result<()> {
    let output = docker
        .exec(container, &[crate::spec::RELOAD_COMMAND])
        .await?;
    if output.exit_code != 0 {
        let text = format!("{}{}", output.stdout, output.stderr);
        anyhow::bail!(
            "reloading `{service}` failed (exit {}): {}",
            output.exit_code,
            text.trim()
        );
    }
    Ok(())
}

fn health_word(health: Health) -> &'static str {
    match health {
        Health::None => "running (no health check)",
        _ => "healthy",
    }
}

fn first_line(error: &anyhow::Error) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}
