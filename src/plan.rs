//! The plan: what `mailctl up` must do to turn the containers that exist
//! (`Observed`, gathered by the Docker adapter) into the desired stack
//! (`StackSpec` as rendering returns it: the hashes of each service's
//! definition and files, which decide recreate and reload, come from the
//! rendered files). Pure: values in, a value out, no Docker and no I/O, so every
//! branch has a unit test. Removals come first, then every service of the
//! spec in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::spec::{ServiceSpec, StackSpec};

/// The containers of one project as Docker reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub containers: Vec<ObservedContainer>,
    /// Per service, the hash of the configuration files last applied to its
    /// running container by a reload (newer than the container's label).
    pub applied_files: BTreeMap<String, String>,
}

/// One container carrying the project's label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedContainer {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    /// The `mailctl.service` label (or Compose's service label).
    pub service: Option<String>,
    /// The `mailctl.config-hash` label.
    pub config_hash: Option<String>,
    /// The `mailctl.files-hash` label: the files when it was created.
    pub files_hash: Option<String>,
    /// The image reference the container was created from.
    pub image: String,
    pub state: ContainerState,
    pub health: Health,
    /// When the container last started (RFC 3339), if it ever did.
    pub started_at: Option<String>,
    /// How often Docker restarted it after it exited.
    pub restart_count: u32,
    /// Published ports, as Docker reports them.
    pub ports: Vec<ObservedPort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedPort {
    pub container_port: u16,
    pub host_ip: String,
    pub host_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
        }
    }

    /// Running in Docker's sense: its process is up, or coming back.
    pub fn is_up(self) -> bool {
        matches!(
            self,
            ContainerState::Running | ContainerState::Paused | ContainerState::Restarting
        )
    }
}

/// The result of the container's health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// The container has no health check.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::None => "none",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// What to do with each container, in the order to do it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub service: String,
    /// The container acted on: the existing one for `Remove`, `Start` and
    /// `Keep`, the one to create for `Create` and `Recreate`.
    pub container: String,
    /// The existing container's id, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// No container for the service yet.
    Create,
    /// The container no longer matches the spec: remove it, create anew.
    Recreate { reason: RecreateReason },
    /// The container matches the spec but is not running.
    Start,
    /// The container runs and matches, but its configuration files changed:
    /// apply them with `mailctl-reload`, without a restart.
    Reload,
    /// A container of this project that the spec does not want.
    Remove { reason: RemoveReason },
    /// The container matches the spec and runs.
    Keep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RecreateReason {
    /// A new image (e.g. a changed Dockerfile, or an `images:` override).
    Image { from: String, to: String },
    /// The same image, but the container's settings or its configuration
    /// files changed.
    Configuration,
    /// The container has no config-hash label (created by another tool).
    Unlabelled,
    /// The container's name is not the one the spec gives.
    Name { from: String },
    /// Docker reports the container dead: it cannot be started again.
    Dead,
}

impl fmt::Display for RecreateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecreateReason::Image { from, to } => write!(f, "image changed: {from} -> {to}"),
            RecreateReason::Configuration => f.write_str("configuration changed"),
            RecreateReason::Unlabelled => f.write_str("not created by mailctl (no config hash)"),
            RecreateReason::Name { from } => write!(f, "named `{from}`"),
            RecreateReason::Dead => f.write_str("the container is dead"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemoveReason {
    /// Its service is no longer part of the stack.
    NotInSpec,
    /// A second container for a service that has one already.
    Duplicate,
}

impl fmt::Display for RemoveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveReason::NotInSpec => f.write_str("service no longer in the stack"),
            RemoveReason::Duplicate => f.write_str("a second container for the service"),
        }
    }
}

impl Plan {
    /// True when applying the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(|step| step.action == Action::Keep)
    }

    /// The steps that change something.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|step| step.action != Action::Keep)
    }

    pub fn step(&self, service: &str) -> Option<&Step> {
        self.steps
            .iter()
            .find(|step| step.service == service && !matches!(step.action, Action::Remove { .. }))
    }
}

impl fmt::Display for Plan {
    /// One line per step, e.g. `recreate  smtp  (configuration changed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "nothing to do: every service is up to date");
        }
        for step in &self.steps {
            let (verb, detail) = match &step.action {
                Action::Create => ("create", String::new()),
                Action::Recreate { reason } => ("recreate", format!("  ({reason})")),
                Action::Start => ("start", String::new()),
                Action::Reload => ("reload", "  (configuration files changed)".to_owned()),
                Action::Remove { reason } => ("remove", format!("  ({reason})")),
                Action::Keep => ("keep", String::new()),
            };
            writeln!(
                f,
                "{verb:<9} {:<9} {}{detail}",
                step.service, step.container
            )?;
        }
        Ok(())
    }
}

/// Decides what to do with each container.
pub fn plan(spec: &StackSpec, observed: &Observed) -> Plan {
    let wanted: BTreeSet<&str> = spec
        .services
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    let mut steps = Vec::new();
    let mut chosen = Vec::new();

    // Every spec service keeps at most one container: the one with the
    // spec's name, or else the first one found.
    for service in &spec.services {
        let candidates: Vec<&ObservedContainer> = observed
            .containers
            .iter()
            .filter(|container| container.service.as_deref() == Some(service.name.as_str()))
            .collect();
        let keeper = candidates
            .iter()
            .find(|container| container.name == service.container_name)
            .or_else(|| candidates.first())
            .copied();
        chosen.push((service, keeper));
    }

    // Removals first: a leftover container may hold a port or an address.
    for container in &observed.containers {
        let kept = chosen
            .iter()
            .any(|(_, keeper)| keeper.is_some_and(|keeper| keeper.id == container.id));
        if kept {
            continue;
        }
        let reason = match container.service.as_deref() {
            Some(service) if wanted.contains(service) => RemoveReason::Duplicate,
            _ => RemoveReason::NotInSpec,
        };
        steps.push(Step {
            service: container.service.clone().unwrap_or_else(|| "?".to_owned()),
            container: container.name.clone(),
            existing: Some(container.id.clone()),
            action: Action::Remove { reason },
        });
    }

    for service in dependency_order(&spec.services) {
        let keeper = chosen
            .iter()
            .find(|(candidate, _)| candidate.name == service.name)
            .and_then(|(_, keeper)| *keeper);
        let action = match keeper {
            None => Action::Create,
            Some(container) => match recreate_reason(service, container) {
                Some(reason) => Action::Recreate { reason },
                None if container.state.is_up() && files_changed(service, container, observed) => {
                    Action::Reload
                }
                None if container.state.is_up() => Action::Keep,
                None => Action::Start,
            },
        };
        let container = match (&action, keeper) {
            (Action::Start | Action::Keep | Action::Reload, Some(existing)) => {
                existing.name.clone()
            }
            _ => service.container_name.clone(),
        };
        steps.push(Step {
            service: service.name.clone(),
            container,
            existing: keeper.map(|existing| existing.id.clone()),
            action,
        });
    }
    reload_smtp_after_imap(&mut steps);
    Plan { steps }
}

/// A reload of Dovecot restarts its auth service, and Postfix's smtpd
/// processes keep their SASL connection to it: the next AUTH on such a
/// connection fails with 454. Reloading Postfix too gives them new ones.
fn reload_smtp_after_imap(steps: &mut [Step]) {
    let imap_reloads = steps
        .iter()
        .any(|step| step.service == "imap" && step.action == Action::Reload);
    if imap_reloads {
        for step in steps.iter_mut() {
            if step.service == "smtp" && step.action == Action::Keep {
                step.action = Action::Reload;
            }
        }
    }
}

/// Whether the running container's files differ from the spec's: the last
/// reload's record wins over the label the container was created with.
fn files_changed(
    service: &ServiceSpec,
    container: &ObservedContainer,
    observed: &Observed,
) -> bool {
    let Some(wanted) = service.labels.get(crate::spec::labels::FILES_HASH) else {
        return false;
    };
    let applied = observed
        .applied_files
        .get(&service.name)
        .or(container.files_hash.as_ref());
    applied != Some(wanted)
}

/// Why `container` cannot serve as `service`, if it cannot.
fn recreate_reason(service: &ServiceSpec, container: &ObservedContainer) -> Option<RecreateReason> {
    let wanted_hash = service.labels.get(crate::spec::labels::CONFIG_HASH);
    match (&container.config_hash, wanted_hash) {
        (None, _) => return Some(RecreateReason::Unlabelled),
        (Some(have), Some(want)) if have != want => {
            return Some(if container.image != service.image.reference {
                RecreateReason::Image {
                    from: container.image.clone(),
                    to: service.image.reference.clone(),
                }
            } else {
                RecreateReason::Configuration
            });
        }
        _ => {}
    }
    if container.name != service.container_name {
        return Some(RecreateReason::Name {
            from: container.name.clone(),
        });
    }
    if container.state == ContainerState::Dead {
        return Some(RecreateReason::Dead);
    }
    None
}

/// The services so that each comes after those it depends on, keeping the
/// spec's order otherwise. A dependency on a service the spec lacks is
/// ignored; a cycle (a spec bug) leaves the rest in spec order.
pub fn dependency_order(services: &[ServiceSpec]) -> Vec<&ServiceSpec> {
    let names: BTreeSet<&str> = services
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut order: Vec<&ServiceSpec> = Vec::new();
    while order.len() < services.len() {
        let next = services.iter().find(|service| {
            !placed.contains(service.name.as_str())
                && service.depends_on.iter().all(|dependency| {
                    placed.contains(dependency.as_str()) || !names.contains(dependency.as_str())
                })
        });
        match next {
            Some(service) => {
                placed.insert(service.name.as_str());
                order.push(service);
            }
            None => {
                order.extend(
                    services
                        .iter()
                        .filter(|service| !placed.contains(service.name.as_str())),
                );
                break;
            }
        }
    }
    order
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::spec::{labels, HealthSpec, ImageSpec, NetworkSpec};

    fn service(name: &str, depends_on: &[&str], hash: &str) -> ServiceSpec {
        ServiceSpec {
            name: name.to_owned(),
            container_name: format!("test-{name}-1"),
            hostname: name.to_owned(),
            image: ImageSpec {
                reference: format!("mailctl/{name}:new"),
                build: None,
            },
            ipv4_address: None,
            dns: vec![],
            ports: vec![],
            mounts: vec![],
            environment: BTreeMap::new(),
            depends_on: depends_on.iter().map(|name| (*name).to_owned()).collect(),
            healthcheck: HealthSpec {
                test: vec![],
                interval_seconds: 10,
                timeout_seconds: 5,
                retries: 3,
                start_period_seconds: 60,
            },
            stop_grace_seconds: 10,
            labels: BTreeMap::from([(labels::CONFIG_HASH.to_owned(), hash.to_owned())]),
            confinement: Default::default(),
        }
    }

    fn stack(services: Vec<ServiceSpec>) -> StackSpec {
        StackSpec {
            project: "test".to_owned(),
            network: NetworkSpec {
                key: "mail".to_owned(),
                name: "test_mail".to_owned(),
                subnet: "172.30.53.0/24".parse().unwrap(),
                gateway: "172.30.53.1".parse().unwrap(),
                ipv6_subnet: None,
            },
            volumes: vec![],
            services,
        }
    }

    fn container(service: &str, hash: &str, state: ContainerState) -> ObservedContainer {
        ObservedContainer {
            id: format!("id-{service}"),
            name: format!("test-{service}-1"),
            service: Some(service.to_owned()),
            config_hash: Some(hash.to_owned()),
            files_hash: Some(format!("files-{hash}")),
            image: format!("mailctl/{service}:new"),
            state,
            health: Health::Healthy,
            started_at: None,
            restart_count: 0,
            ports: vec![],
        }
    }

    fn actions(plan: &Plan) -> Vec<(String, Action)> {
        plan.steps
            .iter()
            .map(|step| (step.service.clone(), step.action.clone()))
            .collect()
    }

    #[test]
    fn nothing_observed_creates_everything_in_order() {
        let spec = stack(vec![
            service("redis", &[], "a"),
            service("antispam", &["redis"], "b"),
        ]);
        let plan = plan(&spec, &Observed::default());
        assert_eq!(
            actions(&plan),
            vec![
                ("redis".to_owned(), Action::Create),
                ("antispam".to_owned(), Action::Create)
            ]
        );
        assert!(!plan.is_empty());
        assert_eq!(plan.steps[0].container, "test-redis-1");
        assert_eq!(plan.steps[0].existing, None);
    }

    #[test]
    fn same_hash_and_running_is_kept_and_the_plan_is_empty() {
        let spec = stack(vec![service("redis", &[], "a")]);
        let observed = Observed {
            containers: vec![container("redis", "a", ContainerState::Running)],
            ..Default::default()
        };
        let plan = plan(&spec, &observed);
        assert_eq!(actions(&plan), vec![("redis".to_owned(), Action::Keep)]);
        assert!(plan.is_empty());
        assert_eq!(plan.changes().count(), 0);
        assert_eq!(
            plan.to_string(),
            "nothing to do: every service is up to date\n"
        );
    }

    #[test]
    fn restarting_and_paused_containers_are_kept() {
        let spec = stack(vec![service("redis", &[], "a"), service("web", &[], "w")]);
        let observed = Observed {
            containers: vec![
                container("redis", "a", ContainerState::Restarting),
                container("web", "w", ContainerState::Paused),
            ],
            ..Default::default()
        };
        assert!(plan(&spec, &observed).is_empty());
    }

    #[test]
    fn same_hash_but_stopped_is_started() {
        for state in [ContainerState::Exited, ContainerState::Created] {
            let spec = stack(vec![service("redis", &[], "a")]);
            let observed = Observed {
                containers: vec![container("redis", "a", state)],
                ..Default::default()
            };
            let plan = plan(&spec, &observed);
            assert_eq!(actions(&plan), vec![("redis".to_owned(), Action::Start)]);
            assert_eq!(plan.steps[0].existing.as_deref(), Some("id-redis"));
        }
    }

    #[test]
    fn a_changed_hash_with_the_same_image_recreates_for_configuration() {
        let spec = stack(vec![service("redis", &[], "new"), service("web", &[], "w")]);
        let observed = Observed {
            containers: vec![
                container("redis", "old", ContainerState::Running),
                container("web", "w", ContainerState::Running),
            ],
            ..Default::default()
        };
        let plan = plan(&spec, &observed);
        assert_eq!(
            actions(&plan),
            vec![
                (
                    "redis".to_owned(),
                    Action::Recreate {
                        reason: RecreateReason::Configuration
                    }
                ),
                ("web".to_owned(), Action::Keep),
            ]
        );
        assert_eq!(plan.changes().count(), 1);
    }

    #[test]
    fn a_changed_hash_with_another_image_names_both_images() {
        let spec = stack(vec![service("redis", &[], "new")]);
        let mut old = container("redis", "old", ContainerState::Exited);
        old.image = "mailctl/redis:old".to_owned();
        let plan = plan(
            &spec,
            &Observed {
                containers: vec![old],
                ..Default::default()
            },
        );
        assert_eq!(
            actions(&plan),
            vec![(
                "redis".to_owned(),
                Action::Recreate {
                    reason: RecreateReason::Image {
                        from: "mailctl/redis:old".to_owned(),
                        to: "mailctl/redis:new".to_owned(),
                    }
                }
            )]
        );
        assert!(plan
            .to_string()
            .contains("image changed: mailctl/redis:old -> mailctl/redis:new"));
    }

    #[test]
    fn a_container_without_a_hash_is_recreated() {
        let spec = stack(vec![service("redis", &[], "a")]);
        let mut foreign = container("redis", "a", ContainerState::Running);
        foreign.config_hash = None;
        let plan = plan(
            &spec,
            &Observed {
                containers: vec![foreign],
                ..Default::default()
            },
        );
        assert_eq!(
            actions(&plan),
            vec![(
                "redis".to_owned(),
                Action::Recreate {
                    reason: RecreateReason::Unlabelled
                }
            )]
        );
    }

    #[test]
    fn a_container_with_another_name_is_recreated() {
        let spec = stack(vec![service("redis", &[], "a")]);
        let mut renamed = container("redis", "a", ContainerState::Running);
        renamed.name = "old-redis-1".to_owned();
        let plan = plan(
            &spec,
            &Observed {
                containers: vec![renamed],
                ..Default::default()
            },
        );
        assert_eq!(
            actions(&plan),
            vec![(
                "redis".to_owned(),
                Action::Recreate {
                    reason: RecreateReason::Name {
                        from: "old-redis-1".to_owned()
                    }
                }
            )]
        );
        assert_eq!(plan.steps[0].container, "test-redis-1");
    }

    #[test]
    fn a_dead_container_is_recreated() {
        let spec = stack(vec![service("redis", &[], "a")]);
        let plan = plan(
            &spec,
            &Observed {
                containers: vec![container("redis", "a", ContainerState::Dead)],
                ..Default::default()
            },
        );
        assert_eq!(
            actions(&plan),
            vec![(
                "redis".to_owned(),
                Action::Recreate {
                    reason: RecreateReason::Dead
                }
            )]
        );
    }

    #[test]
    fn a_service_no_longer_in_the_spec_is_removed_first() {
        let spec = stack(vec![service("redis", &[], "a")]);
        let observed = Observed {
            containers: vec![
                container("redis", "a", ContainerState::Running),
                container("clamav", "c", ContainerState::Running),
            ],
            ..Default::default()
        };
        let plan = plan(&spec, &observed);
        assert_eq!(
            actions(&plan),
            vec![
                (
                    "clamav".to_owned(),
                    Action::Remove {
                        reason: RemoveReason::NotInSpec
                    }
                ),
                ("redis".to_owned(), Action::Keep),
            ]
        );
        assert!(!plan.is_empty());
        assert_eq!(plan.steps[0].container, "test-clamav-1");
    }

    #[test]
    fn a_container_without_a_service_label_is_removed() {
        let spec = stack(vec![]);
        let mut stray = container("x", "a", ContainerState::Exited);
        stray.service = None;
        let plan = plan(
            &spec,
            &Observed {
                containers: vec![stray],
                ..Default::default()
            },
        );
        assert_eq!(
            actions(&plan),
            vec![(
                "?".to_owned(),
                Action::Remove {
                    reason: RemoveReason::NotInSpec
                }
            )]
        );
    }

    #[test]
    fn a_duplicate_container_is_removed_and_the_named_one_kept() {
        let spec = stack(vec![service("redis", &[], "a")]);
        let mut duplicate = container("redis", "a", ContainerState::Running);
        duplicate.id = "id-duplicate".to_owned();
        duplicate.name = "test-redis-2".to_owned();
        let observed = Observed {
            containers: vec![duplicate, container("redis", "a", ContainerState::Running)],
            ..Default::default()
        };
        let plan = plan(&spec, &observed);
        assert_eq!(
            actions(&plan),
            vec![
                (
                    "redis".to_owned(),
                    Action::Remove {
                        reason: RemoveReason::Duplicate
                    }
                ),
                ("redis".to_owned(), Action::Keep),
            ]
        );
        assert_eq!(plan.steps[0].existing.as_deref(), Some("id-duplicate"));
        assert_eq!(
            plan.step("redis").map(|step| &step.action),
            Some(&Action::Keep)
        );
    }

    #[test]
    fn dependencies_come_first_whatever_the_spec_order() {
        let services = vec![
            service("smtp", &["imap", "resolver"], "s"),
            service("imap", &["antispam"], "i"),
            service("web", &[], "w"),
            service("antispam", &["redis", "resolver"], "a"),
            service("redis", &[], "r"),
            service("resolver", &["not-in-spec"], "d"),
        ];
        let order: Vec<&str> = dependency_order(&services)
            .iter()
            .map(|service| service.name.as_str())
            .collect();
        assert_eq!(
            order,
            vec!["web", "redis", "resolver", "antispam", "imap", "smtp"]
        );
    }

    #[test]
    fn a_dependency_cycle_keeps_the_spec_order_for_the_rest() {
        let services = vec![
            service("a", &["b"], "1"),
            service("b", &["a"], "2"),
            service("c", &[], "3"),
        ];
        let order: Vec<&str> = dependency_order(&services)
            .iter()
            .map(|service| service.name.as_str())
            .collect();
        assert_eq!(order, vec!["c", "a", "b"]);
    }

    #[test]
    fn the_plan_prints_one_line_per_step_and_serializes() {
        let spec = stack(vec![service("redis", &[], "a"), service("web", &[], "w")]);
        let observed = Observed {
            containers: vec![container("web", "old", ContainerState::Running)],
            ..Default::default()
        };
        let plan = plan(&spec, &observed);
        assert_eq!(
            plan.to_string(),
            "create    redis     test-redis-1\nrecreate  web       test-web-1  (configuration changed)\n"
        );
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["steps"][1]["action"], "recreate");
        assert_eq!(json["steps"][1]["reason"]["kind"], "configuration");
    }

    #[test]
    fn changed_files_reload_a_running_container_once() {
        let mut wanted = service("imap", &[], "a");
        wanted
            .labels
            .insert(labels::FILES_HASH.to_owned(), "files-new".to_owned());
        let spec = stack(vec![wanted]);
        // The container was created with other files: reload, not recreate.
        let observed = Observed {
            containers: vec![container("imap", "a", ContainerState::Running)],
            ..Default::default()
        };
        assert_eq!(
            actions(&plan(&spec, &observed)),
            vec![("imap".to_owned(), Action::Reload)]
        );
        // A recorded reload of these files: nothing left to do.
        let observed = Observed {
            containers: vec![container("imap", "a", ContainerState::Running)],
            applied_files: BTreeMap::from([("imap".to_owned(), "files-new".to_owned())]),
        };
        assert!(plan(&spec, &observed).is_empty());
        // A stopped container reads its files when it starts.
        let observed = Observed {
            containers: vec![container("imap", "a", ContainerState::Exited)],
            ..Default::default()
        };
        assert_eq!(
            actions(&plan(&spec, &observed)),
            vec![("imap".to_owned(), Action::Start)]
        );
    }

    #[test]
    fn reloading_imap_reloads_smtp_too() {
        let mut imap = service("imap", &[], "a");
        imap.labels
            .insert(labels::FILES_HASH.to_owned(), "files-new".to_owned());
        let spec = stack(vec![imap, service("smtp", &["imap"], "b")]);
        let observed = Observed {
            containers: vec![
                container("imap", "a", ContainerState::Running),
                container("smtp", "b", ContainerState::Running),
            ],
            ..Default::default()
        };
        assert_eq!(
            actions(&plan(&spec, &observed)),
            vec![
                ("imap".to_owned(), Action::Reload),
                ("smtp".to_owned(), Action::Reload)
            ]
        );
    }
}
