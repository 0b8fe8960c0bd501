//! The project's network and named volumes through bollard: ensure they
//! exist with the spec's subnet and labels (Compose's plus `mailctl.project`),
//! find every one that belongs to a project, and remove them.

use std::collections::HashMap;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use ipnet::IpNet;

use super::{daemon_message, failed, is_conflict, is_not_found, Docker};
use crate::error::user_error;
use crate::spec::{labels, StackSpec};

/// What belongs to one project on the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectResources {
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Docker {
    /// True when the spec's network exists.
    pub async fn network_exists(&self, name: &str) -> anyhow::Result<bool> {
        match self.client.inspect_network(name, None).await {
            Ok(_) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(failed(error, format!("cannot inspect network `{name}`"))),
        }
    }

    /// Creates the project's bridge network unless it exists; an existing
    /// one must belong to the project and have the spec's subnet.
    /// Returns true when it was created.
    pub async fn ensure_network(&self, spec: &StackSpec) -> anyhow::Result<bool> {
        let network = &spec.network;
        match self.client.inspect_network(&network.name, None).await {
            Ok(existing) => {
                let existing_labels = existing.labels.unwrap_or_default();
                let owner = existing_labels
                    .get(labels::MAILCTL_PROJECT)
                    .or_else(|| existing_labels.get(labels::PROJECT));
                if owner != Some(&spec.project) {
                    return Err(user_error(
                        format!("network `{}` exists already and is not one of this project's", network.name),
                        format!(
                            "remove it (`docker network rm {}`) or give this project another `name:` in mailctl.yaml",
                            network.name
                        ),
                    ));
                }
                let subnets: Vec<String> = existing
                    .ipam
                    .and_then(|ipam| ipam.config)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|config| config.subnet)
                    .collect();
                if !subnets
                    .iter()
                    .any(|subnet| subnet == &network.subnet.to_string())
                {
                    return Err(user_error(
                        format!(
                            "network `{}` has subnet {}, but mailctl.yaml asks for {}",
                            network.name,
                            subnets.join(", "),
                            network.subnet
                        ),
                        "run `mailctl down` (containers and network only; mail is kept) and then `mailctl up` to recreate it",
                    ));
                }
                Ok(false)
            }
            Err(error) if is_not_found(&error) => {
                self.create_network(spec).await?;
                Ok(true)
            }
            Err(error) => Err(failed(
                error,
                format!("cannot inspect network `{}`", network.name),
            )),
        }
    }

    async fn create_network(&self, spec: &StackSpec) -> anyhow::Result<()> {
        let network = &spec.network;
        let mut ipam_config = vec![IpamConfig {
            subnet: Some(network.subnet.to_string()),
            gateway: Some(network.gateway.to_string()),
            ..Default::default()
        }];
        if let Some(ipv6) = &network.ipv6_subnet {
            ipam_config.push(IpamConfig {
                subnet: Some(ipv6.clone()),
                ..Default::default()
            });
        }
        let request = NetworkCreateRequest {
            name: network.name.clone(),
            driver: Some("bridge".to_owned()),
            enable_ipv6: Some(network.ipv6_subnet.is_some()),
            ipam: Some(Ipam {
                driver: Some("default".to_owned()),
                config: Some(ipam_config),
                options: None,
            }),
            labels: Some(HashMap::from([
                (labels::PROJECT.to_owned(), spec.project.clone()),
                (labels::NETWORK.to_owned(), network.key.clone()),
                (labels::MAILCTL_PROJECT.to_owned(), spec.project.clone()),
            ])),
            ..Default::default()
        };
        match self.client.create_network(request).await {
            Ok(_) => Ok(()),
            Err(error) => {
                let message = daemon_message(&error);
                if message.contains("overlaps") {
                    let other = self.overlapping_network(network.subnet.into()).await;
                    let held = other
                        .map(|(name, subnet)| format!(" (network `{name}` has {subnet})"))
                        .unwrap_or_default();
                    return Err(user_error(
                        format!(
                            "cannot create network `{}`: its subnet {} overlaps another Docker network{held}",
                            network.name, network.subnet
                        ),
                        "choose a free private subnet as `network.subnet` in mailctl.yaml (see `docker network inspect` for the ones in use), then run `mailctl up` again",
                    ));
                }
                Err(failed(
                    error,
                    format!("cannot create network `{}`", network.name),
                ))
            }
        }
    }

    /// A network whose subnet overlaps `subnet`, with that subnet.
    async fn overlapping_network(&self, subnet: IpNet) -> Option<(String, String)> {
        let networks = self.client.list_networks(None).await.ok()?;
        networks.into_iter().find_map(|network| {
            let config = network.ipam?.config?;
            config.into_iter().find_map(|entry| {
                let other: IpNet = entry.subnet.as_deref()?.parse().ok()?;
                let overlaps =
                    other.contains(&subnet.network()) || subnet.contains(&other.network());
                overlaps.then(|| (network.name.clone().unwrap_or_default(), other.to_string()))
            })
        })
    }

    /// The spec's named volumes that do not exist yet.
    pub async fn missing_volumes(&self, spec: &StackSpec) -> anyhow::Result<Vec<String>> {
        let mut missing = Vec::new();
        for volume in &spec.volumes {
            match self.client.inspect_volume(&volume.name).await {
                Ok(_) => {}
                Err(error) if is_not_found(&error) => missing.push(volume.name.clone()),
                Err(error) => {
                    return Err(failed(
                        error,
                        format!("cannot inspect volume `{}`", volume.name),
                    ))
                }
            }
        }
        Ok(missing)
    }

    /// Creates the spec's named volumes that are missing; returns their names.
    pub async fn ensure_volumes(&self, spec: &StackSpec) -> anyhow::Result<Vec<String>> {
        let missing = self.missing_volumes(spec).await?;
        for volume in spec
            .volumes
            .iter()
            .filter(|volume| missing.contains(&volume.name))
        {
            let request = VolumeCreateRequest {
                name: Some(volume.name.clone()),
                driver: Some("local".to_owned()),
                labels: Some(HashMap::from([
                    (labels::PROJECT.to_owned(), spec.project.clone()),
                    (labels::VOLUME.to_owned(), volume.key.clone()),
                    (labels::MAILCTL_PROJECT.to_owned(), spec.project.clone()),
                ])),
                ..Default::default()
            };
            self.client.create_volume(request).await.map_err(|error| {
                failed(error, format!("cannot create volume `{}`", volume.name))
            })?;
        }
        Ok(missing)
    }

    /// Networks and volumes labelled `mailctl.project=<project>`, plus those
    /// `spec` names that carry Compose's label for the project (made by
    /// `docker compose up` from the generated file).
    pub async fn project_resources(
        &self,
        project: &str,
        spec: Option<&StackSpec>,
    ) -> anyhow::Result<ProjectResources> {
        let by_label = |key: &str| HashMap::from([("label", vec![format!("{key}={project}")])]);
        let mut resources = ProjectResources::default();
        for key in [labels::MAILCTL_PROJECT, labels::PROJECT] {
            let filters = by_label(key);
            let networks = self
                .client
                .list_networks(Some(
                    ListNetworksOptionsBuilder::new().filters(&filters).build(),
                ))
                .await
                .map_err(|error| {
                    failed(
                        error,
                        format!("cannot list the networks of project `{project}`"),
                    )
                })?;
            for network in networks {
                let Some(name) = network.name else { continue };
                let ours = key == labels::MAILCTL_PROJECT
                    || spec.is_some_and(|spec| spec.network.name == name);
                if ours && !resources.networks.contains(&name) {
                    resources.networks.push(name);
                }
            }
            let volumes = self
                .client
                .list_volumes(Some(
                    ListVolumesOptionsBuilder::new().filters(&filters).build(),
                ))
                .await
                .map_err(|error| {
                    failed(
                        error,
                        format!("cannot list the volumes of project `{project}`"),
                    )
                })?;
            for volume in volumes.volumes.unwrap_or_default() {
                let name = volume.name;
                let ours = key == labels::MAILCTL_PROJECT
                    || spec
                        .is_some_and(|spec| spec.volumes.iter().any(|wanted| wanted.name == name));
                if ours && !resources.volumes.contains(&name) {
                    resources.volumes.push(name);
                }
            }
        }
        resources.networks.sort();
        resources.volumes.sort();
        Ok(resources)
    }

    /// Removes a network; a missing one is fine.
    pub async fn remove_network(&self, name: &str) -> anyhow::Result<()> {
        match self.client.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(error) if is_not_found(&error) => Ok(()),
            Err(error) if is_conflict(&error) || daemon_message(&error).contains("active endpoints") => Err(user_error(
                format!("cannot remove network `{name}`: containers outside this project still use it"),
                format!("see `docker network inspect {name}`, disconnect or remove those containers, then run `mailctl down` again"),
            )),
            Err(error) => Err(failed(error, format!("cannot remove network `{name}`"))),
        }
    }

    /// Removes a named volume and the data in it; a missing one is fine.
    pub async fn remove_volume(&self, name: &str) -> anyhow::Result<()> {
        let options = RemoveVolumeOptionsBuilder::new().force(false).build();
        match self.client.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if is_not_found(&error) => Ok(()),
            Err(error) if is_conflict(&error) => Err(user_error(
                format!("cannot remove volume `{name}`: a container still uses it"),
                format!("see `docker ps -a --filter volume={name}`, remove that container, then run `mailctl down --volumes` again"),
            )),
            Err(error) => Err(failed(error, format!("cannot remove volume `{name}`"))),
        }
    }
}
