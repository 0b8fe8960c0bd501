//! `StackSpec`: the whole desired stack (network, volumes, services with
//! their images, ports, mounts, health checks and labels) built in memory
//! from the config, with no I/O. The compose file and the Docker API calls
//! are both made from it, so they cannot drift apart.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::images;
use crate::service::{PortName, Service};

/// Where each kind of file sits inside the containers.
pub const CONFIG_MOUNT: &str = "/etc/mailctl/config";
pub const CERTS_MOUNT: &str = "/etc/mailctl/certs";
pub const DKIM_MOUNT: &str = "/etc/mailctl/dkim";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackSpec {
    /// The Compose project name.
    pub project: String,
    pub network: NetworkSpec,
    pub volumes: Vec<VolumeSpec>,
    /// In dependency order: a service comes after those it depends on.
    pub services: Vec<ServiceSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkSpec {
    /// The key in the compose file.
    pub key: String,
    /// The Docker name (`<project>_<key>`, as Compose names it).
    pub name: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub ipv6_subnet: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeSpec {
    pub key: String,
    pub name: String,
    /// What the volume holds, for `down --volumes` and backups.
    pub purpose: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub container_name: String,
    pub hostname: String,
    pub image: ImageSpec,
    pub ipv4_address: Option<Ipv4Addr>,
    pub dns: Vec<IpAddr>,
    pub ports: Vec<PortSpec>,
    pub mounts: Vec<MountSpec>,
    pub environment: BTreeMap<String, String>,
    pub depends_on: Vec<String>,
    pub healthcheck: HealthSpec,
    /// Seconds between SIGTERM and SIGKILL on stop.
    pub stop_grace_seconds: u32,
    pub labels: BTreeMap<String, String>,
    /// Confinement beyond Docker's defaults; only the guard has any. Left
    /// out of the definition hash when empty, so services without it keep
    /// their hash.
    #[serde(skip_serializing_if = "Confinement::is_none")]
    pub confinement: Confinement,
}

/// How a container is confined beyond Docker's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Confinement {
    /// In the host's network namespace instead of the stack's network.
    pub host_network: bool,
    /// Every capability is dropped, then these are given back.
    pub capabilities: Vec<String>,
    /// A read-only root filesystem, with these writable tmpfs mounts.
    pub read_only_with_tmpfs: Vec<String>,
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
}

impl Confinement {
    pub fn is_none(&self) -> bool {
        *self == Confinement::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageSpec {
    /// The reference containers run, e.g. `mailctl/smtp:3f2a…`.
    pub reference: String,
    /// Built by mailctl from its embedded Dockerfile, or a user's prebuilt image.
    pub build: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub name: PortName,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountSpec {
    /// A host directory (never a single file: an atomic rename would not be seen).
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
    Volume {
        key: String,
        name: String,
        target: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSpec {
    pub test: Vec<String>,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub retries: u32,
    pub start_period_seconds: u32,
}

/// Each image's health check (`HEALTHCHECK` in its Dockerfile runs the same).
pub const HEALTH_COMMAND: &str = "/usr/local/bin/mailctl-healthcheck";
/// Seconds between Docker's runs of the health command.
pub const HEALTH_INTERVAL_SECONDS: u32 = 10;
/// Failed runs in a row after which Docker calls a container unhealthy.
pub const HEALTH_RETRIES: u32 = 3;
/// In smtp: delivers the mail held for the mailboxes now, leaving mail for
/// other servers on its retry schedule.
pub const DELIVER_HELD_COMMAND: &str = "/usr/local/bin/mailctl-deliver-held";

/// What differs between services: mounts, dependencies, DNS, address, and
/// the seconds they get to stop.
struct Role {
    mounts: Vec<MountSpec>,
    dns: Vec<IpAddr>,
    address: Option<Ipv4Addr>,
    grace: u32,
}

/// Label keys set on every container, network and volume.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    pub const NUMBER: &str = "com.docker.compose.container-number";
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    pub const COMPOSE_VERSION: &str = "com.docker.compose.version";
    pub const NETWORK: &str = "com.docker.compose.network";
    pub const VOLUME: &str = "com.docker.compose.volume";
    pub const MAILCTL_PROJECT: &str = "mailctl.project";
    pub const MAILCTL_SERVICE: &str = "mailctl.service";
    /// The container's definition (image, ports, mounts, …): a change recreates it.
    pub const CONFIG_HASH: &str = "mailctl.config-hash";
    /// The service's configuration files when the container was created: a
    /// change is applied by a reload.
    pub const FILES_HASH: &str = "mailctl.files-hash";
}

impl StackSpec {
    /// Builds the desired stack for `config` in the project at `root`, from
    /// the config alone: nothing is rendered or read. Each service's labels
    /// name its project and service; the two hashes that decide whether a
    /// container is recreated or reloaded need the rendered files, so
    /// rendering adds them with [`StackSpec::with_file_hashes`].
    pub fn build(config: &Config, root: &Path) -> anyhow::Result<Self> {
        let project = config.name.clone();
        let subnet: Ipv4Net = config.network.subnet.parse().map_err(|_| {
            anyhow::anyhow!("network.subnet `{}` is not a subnet", config.network.subnet)
        })?;
        let host = |index: u32| -> Ipv4Addr { Ipv4Addr::from(u32::from(subnet.network()) + index) };
        let resolver_address = resolver_address(subnet);
        let network = NetworkSpec {
            key: "mail".to_owned(),
            name: format!("{project}_mail"),
            subnet,
            gateway: host(1),
            ipv6_subnet: config.network.ipv6_subnet.clone(),
        };
        let volume = |key: &str, purpose: &str| VolumeSpec {
            key: key.to_owned(),
            name: format!("{project}_{key}"),
            purpose: purpose.to_owned(),
        };
        let mut volumes = vec![
            volume("mail", "every mailbox (Maildir)"),
            volume("queue", "Postfix's mail queue"),
            volume("rspamd", "Rspamd's learned data"),
            volume("redis", "Redis data (Bayes, greylisting, rate limits)"),
            volume("acme", "ACME HTTP-01 challenge files"),
        ];
        if config.runs(Service::Guard) {
            volumes.push(volume(
                "guard",
                "the bans and each address's earlier offences",
            ));
        }
        let volume_mount = |key: &str, target: &str| MountSpec::Volume {
            key: key.to_owned(),
            name: format!("{project}_{key}"),
            target: target.to_owned(),
        };
        let generated = root.join("generated").join("config");
        let config_mount = |service: &str| MountSpec::Bind {
            source: generated.join(service),
            target: CONFIG_MOUNT.to_owned(),
            read_only: true,
        };
        let certs_mount = MountSpec::Bind {
            source: root.join("certs").join("live"),
            target: CERTS_MOUNT.to_owned(),
            read_only: true,
        };
        let dkim_mount = MountSpec::Bind {
            source: root.join("dkim"),
            target: DKIM_MOUNT.to_owned(),
            read_only: true,
        };

        let mut services = Vec::new();
        for service in Service::ALL {
            if !config.runs(service) {
                continue;
            }
            let name = service.name();
            let resolver_dns = vec![IpAddr::V4(resolver_address)];
            let role = match service {
                Service::Guard => Role {
                    mounts: vec![config_mount(name), volume_mount("guard", GUARD_STATE)],
                    dns: vec![],
                    address: None,
                    grace: 10,
                },
                Service::Resolver => Role {
                    mounts: vec![config_mount(name)],
                    dns: vec![],
                    address: Some(resolver_address),
                    grace: 10,
                },
                Service::Redis => Role {
                    mounts: vec![config_mount(name), volume_mount("redis", "/data")],
                    dns: vec![],
                    address: None,
                    grace: 10,
                },
                Service::Antispam => Role {
                    mounts: vec![
                        config_mount(name),
                        dkim_mount.clone(),
                        volume_mount("rspamd", "/var/lib/rspamd"),
                    ],
                    dns: resolver_dns,
                    address: None,
                    grace: 10,
                },
                Service::Imap => Role {
                    mounts: vec![
                        config_mount(name),
                        certs_mount.clone(),
                        volume_mount("mail", "/var/mail"),
                    ],
                    dns: resolver_dns,
                    address: Some(imap_address(subnet)),
                    grace: 20,
                },
                Service::Smtp => Role {
                    mounts: vec![
                        config_mount(name),
                        certs_mount.clone(),
                        volume_mount("queue", "/var/spool/postfix"),
                    ],
                    dns: resolver_dns,
                    address: None,
                    grace: 30,
                },
                Service::Web => Role {
                    mounts: vec![
                        config_mount(name),
                        certs_mount.clone(),
                        volume_mount("acme", "/var/www/acme"),
                    ],
                    dns: vec![],
                    address: None,
                    grace: 10,
                },
            };
            let ports = published_ports(config, service);
            let image = match config.images.get(name) {
                Some(reference) => ImageSpec {
                    reference: reference.clone(),
                    build: None,
                },
                None => ImageSpec {
                    reference: images::reference(name)?,
                    build: Some(format!("images/{name}")),
                },
            };
            let service = ServiceSpec {
                name: name.to_owned(),
                container_name: format!("{project}-{name}-1"),
                hostname: match service {
                    Service::Smtp => config.hostname.clone(),
                    // A container in the host's network has the host's name.
                    Service::Guard => String::new(),
                    _ => name.to_owned(),
                },
                image,
                ipv4_address: role.address,
                dns: role.dns,
                ports,
                mounts: role.mounts,
                environment: BTreeMap::new(),
                depends_on: service
                    .depends_on()
                    .iter()
                    .map(|dependency| dependency.name().to_owned())
                    .collect(),
                healthcheck: HealthSpec {
                    test: vec!["CMD".to_owned(), HEALTH_COMMAND.to_owned()],
                    interval_seconds: HEALTH_INTERVAL_SECONDS,
                    timeout_seconds: 5,
                    retries: HEALTH_RETRIES,
                    start_period_seconds: 60,
                },
                stop_grace_seconds: role.grace,
                labels: identity_labels(&project, name),
                confinement: confinement(service),
            };
            services.push(service);
        }
        Ok(StackSpec {
            project,
            network,
            volumes,
            services,
        })
    }

    /// The stack with each service's definition hash and files hash in its
    /// labels: what the compose file shows, what containers are created
    /// with and what the plan compares. `files` maps each service to the
    /// hash of its rendered configuration files.
    pub fn with_file_hashes(mut self, files: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        for service in &mut self.services {
            let files_hash = files.get(&service.name).cloned().unwrap_or_default();
            let definition = definition_hash(service, &files_hash)?;
            service
                .labels
                .insert(labels::CONFIG_HASH.to_owned(), definition);
            service
                .labels
                .insert(labels::FILES_HASH.to_owned(), files_hash);
        }
        Ok(self)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|service| service.name == name)
    }
}

/// Where the guard keeps its bans (a volume).
pub const GUARD_STATE: &str = "/var/lib/mailctl-guard";

/// The guard edits the host's firewall, so it runs in the host's network
/// namespace with `NET_ADMIN`, plus `DAC_READ_SEARCH` to read its settings
/// when the project belongs to a user other than root (it sees no other
/// file of the host); no other capability, no Docker socket, a read-only
/// root, no way to gain privileges.
fn confinement(service: Service) -> Confinement {
    match service {
        Service::Guard => Confinement {
            host_network: true,
            capabilities: vec!["NET_ADMIN".to_owned(), "DAC_READ_SEARCH".to_owned()],
            read_only_with_tmpfs: vec!["/run".to_owned(), "/tmp".to_owned()],
            no_new_privileges: true,
        },
        _ => Confinement::default(),
    }
}

/// The resolver's fixed address: `.53` in the subnet (or the last usable
/// address of a smaller one), so other containers can name it as DNS server.
pub fn resolver_address(subnet: Ipv4Net) -> Ipv4Addr {
    let base = u32::from(subnet.network());
    let size = 1u32 << (32 - u32::from(subnet.prefix_len()));
    let offset = if size > 64 { 53 } else { size - 2 };
    Ipv4Addr::from(base + offset)
}

/// The imap container's fixed address, the one client Postfix's internal
/// port accepts (forwards and automatic replies from Sieve): the address
/// just below the resolver's.
pub fn imap_address(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(resolver_address(subnet)) - 1)
}

/// The port on which Postfix takes mail from Dovecot's Sieve (not published).
pub const INTERNAL_SUBMISSION_PORT: u16 = 10025;
/// smtp's internal port where imap, once healthy after a start, asks for
/// the mail held for the mailboxes (never published on the host).
pub const HELD_MAIL_PORT: u16 = 10026;
/// The guard's port on the network's gateway address (the host's side of
/// the stack's bridge): Dovecot asks it before and after each login, nginx
/// reports the web controller's failed logins to it. Reachable from the
/// stack's containers and the host, never published.
pub const GUARD_PORT: u16 = 10027;

fn published_ports(config: &Config, service: Service) -> Vec<PortSpec> {
    let mut ports = Vec::new();
    for (port, number) in config.ports.enabled() {
        if port.service() != service {
            continue;
        }
        for address in &config.network.bind {
            ports.push(PortSpec {
                name: port,
                host_ip: *address,
                host_port: number,
                container_port: port.container_port(),
            });
        }
    }
    ports
}

/// Compose's labels plus mailctl's that name the container's project and
/// service (`docker compose ps` and `mailctl` find it by them).
fn identity_labels(project: &str, service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::PROJECT.to_owned(), project.to_owned()),
        (labels::SERVICE.to_owned(), service.to_owned()),
        (labels::NUMBER.to_owned(), "1".to_owned()),
        (labels::ONEOFF.to_owned(), "False".to_owned()),
        // docker-compose 1.29 reads this label on every container it sees.
        (labels::COMPOSE_VERSION.to_owned(), "1.29.2".to_owned()),
        (labels::MAILCTL_PROJECT.to_owned(), project.to_owned()),
        (labels::MAILCTL_SERVICE.to_owned(), service.to_owned()),
    ])
}

/// The hash of everything that defines the container: the service as JSON
/// without its labels, plus its files' hash when it cannot reload them.
/// Containers carry it from their creation, so the hashed text must stay
/// exactly as it is: any change recreates every user's containers.
fn definition_hash(service: &ServiceSpec, files_hash: &str) -> anyhow::Result<String> {
    let unlabelled = ServiceSpec {
        labels: BTreeMap::new(),
        ..service.clone()
    };
    let definition = serde_json::to_vec(&unlabelled)?;
    let mut hasher = Sha256::new();
    hasher.update(&definition);
    // A service that cannot reload its files is recreated when they change.
    if !service_reloads(&service.name) {
        hasher.update(files_hash.as_bytes());
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Whether `mailctl-reload` in the service's container applies changed
/// configuration files without a restart (Redis reads its file only at start).
pub fn service_reloads(service: &str) -> bool {
    service != "redis"
}

/// The command that applies changed files inside a running container.
pub const RELOAD_COMMAND: &str = "/usr/local/bin/mailctl-reload";

#[cfg(test)]
mod tests {
    use super::*;

    /// Containers carry these hashes from their creation: when one changes,
    /// `up` recreates that container on every installation. Update them
    /// only with a change that must recreate the containers.
    #[test]
    fn definition_hashes_are_stable() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/five-domains.yaml");
        let mut config = crate::config::load_file(&path).unwrap();
        // Fixed images, so the hashes do not follow the embedded Dockerfiles.
        for name in Service::names() {
            config
                .images
                .insert(name.to_owned(), format!("registry.example/{name}:1"));
        }
        let files: BTreeMap<String, String> = Service::names()
            .map(|name| (name.to_owned(), format!("files-{name}")))
            .collect();
        let spec = StackSpec::build(&config, Path::new("/srv/mailctl"))
            .unwrap()
            .with_file_hashes(&files)
            .unwrap();
        let hashes: Vec<(&str, &str)> = spec
            .services
            .iter()
            .map(|service| {
                (
                    service.name.as_str(),
                    service.labels[labels::CONFIG_HASH].as_str(),
                )
            })
            .collect();
        assert_eq!(
            hashes,
            [
                (
                    "guard",
                    "0099447ad86a2258818948081969287fdd42834a0f523191736551e49a47cf39"
                ),
                (
                    "resolver",
                    "e423cf518fe6ffd86c14c2d0f6f3d183ef98cd04ec1d9f9433ee34e32cfb71cc"
                ),
                (
                    "redis",
                    "2194707d024e7fbdc65990382997fe07fbc9ccc2ba224a3f7a7dae53d8664b0c"
                ),
                (
                    "antispam",
                    "85f5c37f226d18a1ac296d138db76b0b086d2cb09de8827ac435eee72c0008f4"
                ),
                (
                    "imap",
                    "fce94e99eaca2f568b4226562f76cd3532989a1426aabface769b70a6f7d76f8"
                ),
                (
                    "smtp",
                    "dbbfc47697b6e3acbccfc34df56f78a1985f3745da61022a3c05b60182d834b5"
                ),
                (
                    "web",
                    "63ae3e14604dfff1fa7e0549cf11d8e586211604fc87b3b7c42b06f836365855"
                ),
            ]
        );
    }

    #[test]
    fn resolver_address_is_fixed() {
        assert_eq!(
            resolver_address("172.30.53.0/24".parse().unwrap()),
            Ipv4Addr::new(172, 30, 53, 53)
        );
        assert_eq!(
            resolver_address("10.0.0.16/28".parse().unwrap()),
            Ipv4Addr::new(10, 0, 0, 30)
        );
    }
}
