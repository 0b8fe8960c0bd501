//! Containers through bollard: observe the project's containers (by the
//! `mailctl.project` label), create one from a `ServiceSpec`, start, stop,
//! restart, remove, read health and logs, and run a command inside.

use std::collections::HashMap;
use std::pin::Pin;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointIpamConfig,
    EndpointSettings, HealthConfig, HealthStatusEnum, HostConfig, Mount, MountType,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};

use super::{daemon_message, failed, is_conflict, is_not_found, ports, Docker};
use crate::error::user_error;
use crate::plan::{ContainerState, Health, Observed, ObservedContainer, ObservedPort};
use crate::spec::{labels, MountSpec, NetworkSpec, ServiceSpec};

/// A nanosecond, Docker's unit for health-check durations.
const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Everything `inspect` says about a container that mailctl shows.
#[derive(Debug, Clone)]
pub struct ContainerDetails {
    pub observed: ObservedContainer,
    /// The exit code of the last run, when it exited.
    pub exit_code: Option<i64>,
    /// Docker's own error for the container (e.g. a failed start).
    pub error: Option<String>,
    /// The last health check's exit code and output.
    pub last_health: Option<(i64, String)>,
}

/// Part of a container's log output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub stderr: bool,
    pub text: String,
}

pub type LogStream = Pin<Box<dyn Stream<Item = anyhow::Result<LogChunk>> + Send>>;

/// What a command run inside a container printed, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl Docker {
    /// Every container labelled `mailctl.project=<project>`, running or not.
    pub async fn observe(&self, project: &str) -> anyhow::Result<Observed> {
        let filters = HashMap::from([(
            "label",
            vec![format!("{}={project}", labels::MAILCTL_PROJECT)],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .client
            .list_containers(Some(options))
            .await
            .map_err(|error| {
                failed(
                    error,
                    format!("cannot list the containers of project `{project}`"),
                )
            })?;
        let mut containers = Vec::new();
        for summary in summaries {
            let Some(id) = summary.id else { continue };
            // A container can vanish between the list and the inspect.
            if let Some(details) = self.details(&id).await? {
                containers.push(details.observed);
            }
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Observed {
            containers,
            applied_files: Default::default(),
        })
    }

    /// Inspects one container; `None` when there is no such container.
    pub async fn details(&self, container: &str) -> anyhow::Result<Option<ContainerDetails>> {
        match self.client.inspect_container(container, None).await {
            Ok(response) => Ok(Some(details_from(response))),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(failed(
                error,
                format!("cannot inspect container `{container}`"),
            )),
        }
    }

    /// Creates the container for `service` on `network`; returns its id.
    pub async fn create(
        &self,
        service: &ServiceSpec,
        network: &NetworkSpec,
    ) -> anyhow::Result<String> {
        for mount in &service.mounts {
            if let MountSpec::Bind { source, .. } = mount {
                if !source.is_dir() {
                    return Err(user_error(
                        format!(
                            "`{}` needs the directory `{}`, which does not exist",
                            service.name,
                            source.display()
                        ),
                        "run `mailctl render` to write the generated files (and `mailctl init` for keys and certificates), then `mailctl up` again",
                    ));
                }
            }
        }
        let options = CreateContainerOptionsBuilder::new()
            .name(&service.container_name)
            .build();
        match self.client.create_container(Some(options), container_body(service, network)).await {
            Ok(response) => Ok(response.id),
            Err(error) if is_conflict(&error) => Err(user_error(
                format!(
                    "a container named `{}` exists already and is not one of this project's",
                    service.container_name
                ),
                format!(
                    "remove it (`docker rm -f {}`) or give this project another `name:` in mailctl.yaml",
                    service.container_name
                ),
            )),
            Err(error) if is_not_found(&error) => Err(user_error(
                format!("image `{}` for `{}` is missing", service.image.reference, service.name),
                "run `mailctl up` again to build it, or check the `images:` override in mailctl.yaml",
            )),
            Err(error) => Err(failed(
                error,
                format!("cannot create container `{}` for `{}`", service.container_name, service.name),
            )),
        }
    }

    /// Runs `command` once in a container made like `service` (its image,
    /// mounts, network and confinement) but named `name`, labelled as a
    /// helper, never restarted; waits for it to end, removes it, and
    /// returns its exit code.
    pub async fn run_once(
        &self,
        service: &ServiceSpec,
        network: &NetworkSpec,
        name: &str,
        project: &str,
        command: &[&str],
    ) -> anyhow::Result<i64> {
        self.remove(name).await?;
        let mut body = container_body(service, network);
        body.cmd = Some(command.iter().map(|part| (*part).to_owned()).collect());
        body.healthcheck = Some(HealthConfig {
            test: Some(vec!["NONE".to_owned()]),
            ..Default::default()
        });
        body.labels = Some(HashMap::from([(
            super::HELPER_LABEL.to_owned(),
            project.to_owned(),
        )]));
        if let Some(host) = body.host_config.as_mut() {
            host.restart_policy = None;
            host.port_bindings = None;
        }
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        self.client
            .create_container(Some(options), body)
            .await
            .map_err(|error| {
                failed(
                    error,
                    format!("cannot create the helper container `{name}`"),
                )
            })?;
        let result = async {
            self.client
                .start_container(name, None)
                .await
                .map_err(|error| {
                    failed(error, format!("cannot start the helper container `{name}`"))
                })?;
            let mut waiting = self.client.wait_container(name, None);
            let code = match waiting.next().await {
                Some(Ok(response)) => response.status_code,
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                Some(Err(error)) => {
                    return Err(failed(
                        error,
                        format!("cannot wait for the helper container `{name}`"),
                    ))
                }
                None => -1,
            };
            Ok(code)
        }
        .await;
        self.remove(name).await?;
        result
    }

    /// Starts a container; a port that is taken is named, with its holder.
    pub async fn start(&self, container: &str, service: &str) -> anyhow::Result<()> {
        match self.client.start_container(container, None).await {
            Ok(()) => Ok(()),
            Err(error) => {
                let message = daemon_message(&error);
                if let Some(bind) = ports::parse_bind_error(&message) {
                    let holder = match ports::holder(bind.port) {
                        Some(holder) if holder.contains("docker-proxy") || bind.allocated => {
                            self.container_publishing(bind.port).await.or(Some(holder))
                        }
                        Some(holder) => Some(holder),
                        None if bind.allocated => self.container_publishing(bind.port).await,
                        None => None,
                    };
                    let held = holder
                        .map(|holder| format!(" by {holder}"))
                        .unwrap_or_default();
                    return Err(user_error(
                        format!(
                            "cannot start `{service}`: port {} on {} is in use{held}",
                            bind.port, bind.address
                        ),
                        format!(
                            "stop what holds it, or publish `{service}` on another port under `ports:` in mailctl.yaml, then run `mailctl up` again"
                        ),
                    ));
                }
                Err(failed(
                    error,
                    format!("cannot start container `{container}` for `{service}`"),
                ))
            }
        }
    }

    /// The container that publishes host port `port`, as `container `name``.
    async fn container_publishing(&self, port: u16) -> Option<String> {
        let filters = HashMap::from([("publish", vec![port.to_string()])]);
        let options = ListContainersOptionsBuilder::new()
            .filters(&filters)
            .build();
        let containers = self.client.list_containers(Some(options)).await.ok()?;
        let name = containers
            .first()?
            .names
            .as_ref()?
            .first()?
            .trim_start_matches('/')
            .to_owned();
        Some(format!("container `{name}`"))
    }

    /// Stops a container, giving it `grace_seconds` after SIGTERM. Returns
    /// only after the container stopped; a missing container is fine.
    pub async fn stop(&self, container: &str, grace_seconds: u32) -> anyhow::Result<()> {
        let grace = i32::try_from(grace_seconds).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(grace).build();
        match self.client.stop_container(container, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if is_not_found(&error) => Ok(()),
            Err(error) => Err(failed(
                error,
                format!("cannot stop container `{container}`"),
            )),
        }
    }

    /// Restarts a container with `grace_seconds` to stop.
    pub async fn restart(&self, container: &str, grace_seconds: u32) -> anyhow::Result<()> {
        let grace = i32::try_from(grace_seconds).unwrap_or(i32::MAX);
        let options = RestartContainerOptionsBuilder::new().t(grace).build();
        self.client
            .restart_container(container, Some(options))
            .await
            .map_err(|error| failed(error, format!("cannot restart container `{container}`")))
    }

    /// Removes a stopped container and its anonymous volumes (never named
    /// ones); a missing container is fine.
    pub async fn remove(&self, container: &str) -> anyhow::Result<()> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.client.remove_container(container, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if is_not_found(&error) => Ok(()),
            Err(error) => Err(failed(
                error,
                format!("cannot remove container `{container}`"),
            )),
        }
    }

    /// The container's log, from the last `tail` lines (`None`: all), and
    /// with `follow` every new line until the container stops.
    pub fn logs(&self, container: &str, follow: bool, tail: Option<usize>) -> LogStream {
        let tail = tail
            .map(|lines| lines.to_string())
            .unwrap_or_else(|| "all".to_owned());
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(&tail)
            .build();
        let name = container.to_owned();
        Box::pin(self.client.logs(container, Some(options)).map(move |item| {
            use bollard::container::LogOutput;
            match item {
                Ok(LogOutput::StdErr { message }) => Ok(LogChunk {
                    stderr: true,
                    text: String::from_utf8_lossy(&message).into_owned(),
                }),
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::Console { message }
                    | LogOutput::StdIn { message },
                ) => Ok(LogChunk {
                    stderr: false,
                    text: String::from_utf8_lossy(&message).into_owned(),
                }),
                Err(error) => Err(failed(
                    error,
                    format!("cannot read the log of container `{name}`"),
                )),
            }
        }))
    }

    /// The last `lines` lines of the container's log, both streams.
    pub async fn last_log_lines(&self, container: &str, lines: usize) -> Vec<String> {
        let mut stream = self.logs(container, false, Some(lines));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&chunk.text);
        }
        let all: Vec<String> = text.lines().map(str::to_owned).collect();
        let skip = all.len().saturating_sub(lines);
        all.into_iter().skip(skip).collect()
    }

    /// Runs `command` in the running container and waits for it.
    pub async fn exec(&self, container: &str, command: &[&str]) -> anyhow::Result<ExecOutput> {
        use bollard::exec::StartExecResults;
        use bollard::models::ExecConfig;
        let doing = || {
            format!(
                "cannot run `{}` in container `{container}`",
                command.join(" ")
            )
        };
        let created = self
            .client
            .create_exec(
                container,
                ExecConfig {
                    cmd: Some(command.iter().map(|part| (*part).to_owned()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|error| failed(error, doing()))?;
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let StartExecResults::Attached { mut output, .. } = self
            .client
            .start_exec(&created.id, None)
            .await
            .map_err(|error| failed(error, doing()))?
        {
            while let Some(item) = output.next().await {
                use bollard::container::LogOutput;
                match item.map_err(|error| failed(error, doing()))? {
                    LogOutput::StdErr { message } => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        stdout.push_str(&String::from_utf8_lossy(&message))
                    }
                    LogOutput::StdIn { .. } => {}
                }
            }
        }
        let inspected = self
            .client
            .inspect_exec(&created.id)
            .await
            .map_err(|error| failed(error, doing()))?;
        Ok(ExecOutput {
            exit_code: inspected.exit_code.unwrap_or(-1),
            stdout,
            stderr,
        })
    }
}

/// The create request for `service`: everything the spec says, nothing else.
fn container_body(service: &ServiceSpec, network: &NetworkSpec) -> ContainerCreateBody {
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &service.ports {
        port_bindings
            .entry(format!("{}/tcp", port.container_port))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(port.host_ip.to_string()),
                host_port: Some(port.host_port.to_string()),
            });
    }
    let mut exposed: Vec<String> = port_bindings.keys().cloned().collect();
    exposed.sort();
    let mounts = service
        .mounts
        .iter()
        .map(|mount| match mount {
            MountSpec::Bind {
                source,
                target,
                read_only,
            } => Mount {
                typ: Some(MountType::BIND),
                source: Some(source.to_string_lossy().into_owned()),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                ..Default::default()
            },
            MountSpec::Volume { name, target, .. } => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(name.clone()),
                target: Some(target.clone()),
                read_only: Some(false),
                ..Default::default()
            },
        })
        .collect();
    let health = &service.healthcheck;
    let healthcheck = (!health.test.is_empty()).then(|| HealthConfig {
        test: Some(health.test.clone()),
        interval: Some(i64::from(health.interval_seconds) * NANOS_PER_SECOND),
        timeout: Some(i64::from(health.timeout_seconds) * NANOS_PER_SECOND),
        retries: Some(i64::from(health.retries)),
        start_period: Some(i64::from(health.start_period_seconds) * NANOS_PER_SECOND),
        start_interval: None,
    });
    let endpoint = EndpointSettings {
        ipam_config: service.ipv4_address.map(|address| EndpointIpamConfig {
            ipv4_address: Some(address.to_string()),
            ..Default::default()
        }),
        aliases: Some(vec![service.name.clone()]),
        ..Default::default()
    };
    let confinement = &service.confinement;
    let (network_mode, networking_config) = if confinement.host_network {
        ("host".to_owned(), None)
    } else {
        (
            network.name.clone(),
            Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(network.name.clone(), endpoint)])),
            }),
        )
    };
    let capabilities = !confinement.capabilities.is_empty();
    ContainerCreateBody {
        hostname: (!service.hostname.is_empty()).then(|| service.hostname.clone()),
        image: Some(service.image.reference.clone()),
        env: Some(
            service
                .environment
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect(),
        ),
        labels: Some(service.labels.clone().into_iter().collect()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        stop_timeout: Some(i64::from(service.stop_grace_seconds)),
        host_config: Some(HostConfig {
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: Some(mounts),
            dns: (!service.dns.is_empty())
                .then(|| service.dns.iter().map(ToString::to_string).collect()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            network_mode: Some(network_mode),
            cap_drop: capabilities.then(|| vec!["ALL".to_owned()]),
            cap_add: capabilities.then(|| confinement.capabilities.clone()),
            readonly_rootfs: (!confinement.read_only_with_tmpfs.is_empty()).then_some(true),
            tmpfs: (!confinement.read_only_with_tmpfs.is_empty()).then(|| {
                confinement
                    .read_only_with_tmpfs
                    .iter()
                    .map(|path| (path.clone(), "rw,noexec,nosuid,size=16m".to_owned()))
                    .collect()
            }),
            security_opt: confinement
                .no_new_privileges
                .then(|| vec!["no-new-privileges:true".to_owned()]),
            ..Default::default()
        }),
        networking_config,
        ..Default::default()
    }
}

/// The plain view of an inspected container.
fn details_from(response: ContainerInspectResponse) -> ContainerDetails {
    let config = response.config.unwrap_or_default();
    let container_labels = config.labels.unwrap_or_default();
    let state = response.state.unwrap_or_default();
    let health = state.health.clone().unwrap_or_default();
    let last_health = health
        .log
        .as_ref()
        .and_then(|log| log.last())
        .map(|result| {
            (
                result.exit_code.unwrap_or(-1),
                result.output.clone().unwrap_or_default().trim().to_owned(),
            )
        });
    let status = match state.status {
        Some(ContainerStateStatusEnum::CREATED) => ContainerState::Created,
        Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
        Some(ContainerStateStatusEnum::PAUSED) => ContainerState::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => ContainerState::Restarting,
        Some(ContainerStateStatusEnum::REMOVING) => ContainerState::Removing,
        Some(ContainerStateStatusEnum::DEAD) => ContainerState::Dead,
        _ => ContainerState::Exited,
    };
    let health_state = match (state.health.as_ref(), health.status) {
        (None, _) => Health::None,
        (_, Some(HealthStatusEnum::HEALTHY)) => Health::Healthy,
        (_, Some(HealthStatusEnum::UNHEALTHY)) => Health::Unhealthy,
        (_, Some(HealthStatusEnum::STARTING)) => Health::Starting,
        _ => Health::None,
    };
    let started_at = state
        .started_at
        .clone()
        .filter(|started| !started.starts_with("0001-"));
    let mut observed_ports = Vec::new();
    let live = response
        .network_settings
        .and_then(|settings| settings.ports)
        .unwrap_or_default();
    let configured = response
        .host_config
        .and_then(|host| host.port_bindings)
        .unwrap_or_default();
    let bindings = if live
        .values()
        .any(|bindings| bindings.as_ref().is_some_and(|list| !list.is_empty()))
    {
        live
    } else {
        configured
    };
    for (key, bindings) in bindings {
        let Some(container_port) = key
            .split('/')
            .next()
            .and_then(|port| port.parse::<u16>().ok())
        else {
            continue;
        };
        for binding in bindings.unwrap_or_default() {
            let host_port = binding
                .host_port
                .as_deref()
                .and_then(|port| port.parse::<u16>().ok())
                .unwrap_or(0);
            observed_ports.push(ObservedPort {
                container_port,
                host_ip: binding.host_ip.unwrap_or_default(),
                host_port,
            });
        }
    }
    observed_ports
        .sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
    observed_ports.dedup();
    ContainerDetails {
        observed: ObservedContainer {
            id: response.id.unwrap_or_default(),
            name: response
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            service: container_labels
                .get(labels::MAILCTL_SERVICE)
                .or_else(|| container_labels.get(labels::SERVICE))
                .cloned(),
            config_hash: container_labels.get(labels::CONFIG_HASH).cloned(),
            files_hash: container_labels.get(labels::FILES_HASH).cloned(),
            image: config.image.unwrap_or_default(),
            state: status,
            health: health_state,
            started_at,
            restart_count: response
                .restart_count
                .and_then(|count| u32::try_from(count).ok())
                .unwrap_or(0),
            ports: observed_ports,
        },
        exit_code: state.exit_code,
        error: state.error.filter(|error| !error.is_empty()),
        last_health,
    }
}
