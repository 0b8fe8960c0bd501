//! The Docker archive endpoints and what backups, restores and upgrades need
//! around them: a helper container (created, never started) that mounts the
//! project's named volumes, streaming a path out of a container as a tar
//! (`GET /containers/{id}/archive`) and a tar into one (`PUT …/archive`),
//! image ids and tags, renaming containers. Nothing here assumes where the
//! daemon keeps volumes on the host, and no tar is ever held whole in memory.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    RenameContainerOptionsBuilder, TagImageOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{failed, is_not_found, Docker};
use crate::error::user_error;

/// Label on helper containers: the project they serve. Not the project's
/// own label, so that `up` never mistakes a helper for a service.
pub const HELPER_LABEL: &str = "mailctl.helper";

/// A volume mounted into a helper container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperMount {
    pub volume: String,
    pub target: String,
}

impl Docker {
    /// Creates (does not start) container `name` from `image` with `mounts`;
    /// the archive endpoints read and write its volumes. Any earlier helper
    /// of that name (left by an interrupted run) is removed first.
    pub async fn create_helper(
        &self,
        name: &str,
        image: &str,
        project: &str,
        mounts: &[HelperMount],
    ) -> anyhow::Result<String> {
        self.remove(name).await?;
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            entrypoint: Some(vec!["/bin/true".to_owned()]),
            cmd: Some(Vec::new()),
            labels: Some(HashMap::from([(
                HELPER_LABEL.to_owned(),
                project.to_owned(),
            )])),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_owned()),
                mounts: Some(
                    mounts
                        .iter()
                        .map(|mount| Mount {
                            typ: Some(MountType::VOLUME),
                            source: Some(mount.volume.clone()),
                            target: Some(mount.target.clone()),
                            read_only: Some(false),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        match self.client.create_container(Some(options), body).await {
            Ok(response) => Ok(response.id),
            Err(error) if is_not_found(&error) => Err(user_error(
                format!("image `{image}` for the helper container `{name}` is missing"),
                "run `mailctl up` once to build the stack's images, then try again",
            )),
            Err(error) => Err(failed(
                error,
                format!("cannot create the helper container `{name}`"),
            )),
        }
    }

    /// `path` inside `container` as a tar stream (Docker's own format: the
    /// first component of every entry is the last component of `path`).
    pub fn download(
        &self,
        container: &str,
        path: &str,
    ) -> impl Stream<Item = anyhow::Result<Bytes>> + Send + 'static {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let doing = format!("cannot read `{path}` from container `{container}`");
        self.client
            .download_from_container(container, Some(options))
            .map(move |item| item.map_err(|error| failed(error, doing.clone())))
    }

    /// Extracts the tar `stream` into `path` inside `container`, keeping
    /// the owners, modes and times of its entries.
    pub async fn upload(
        &self,
        container: &str,
        path: &str,
        stream: impl Stream<Item = Bytes> + Send + 'static,
    ) -> anyhow::Result<()> {
        let options = UploadToContainerOptionsBuilder::new().path(path).build();
        self.client
            .upload_to_container(container, Some(options), bollard::body_stream(stream))
            .await
            .map_err(|error| {
                failed(
                    error,
                    format!("cannot write `{path}` into container `{container}`"),
                )
            })
    }

    /// The id of the image `reference` names, if the daemon has it.
    pub async fn image_id(&self, reference: &str) -> anyhow::Result<Option<String>> {
        match self.client.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(failed(error, format!("cannot inspect image `{reference}`"))),
        }
    }

    /// The id of the image a container was created from.
    pub async fn container_image_id(&self, container: &str) -> anyhow::Result<Option<String>> {
        match self.client.inspect_container(container, None).await {
            Ok(response) => Ok(response.image),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(failed(
                error,
                format!("cannot inspect container `{container}`"),
            )),
        }
    }

    /// Points `reference` (`repository:tag`) at the image `id`.
    pub async fn tag(&self, id: &str, reference: &str) -> anyhow::Result<()> {
        let (repository, tag) = split_reference(reference);
        let options = TagImageOptionsBuilder::new()
            .repo(repository)
            .tag(tag)
            .build();
        self.client
            .tag_image(id, Some(options))
            .await
            .map_err(|error| failed(error, format!("cannot tag image `{id}` as `{reference}`")))
    }

    /// Removes an image that has no tag and that no container uses; an
    /// image still in use is left alone (Docker refuses without force).
    pub async fn remove_unused_image(&self, id: &str) -> bool {
        let untagged = self
            .client
            .inspect_image(id)
            .await
            .is_ok_and(|image| image.repo_tags.unwrap_or_default().is_empty());
        if !untagged {
            return false;
        }
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(false)
            .build();
        self.client
            .remove_image(id, Some(options), None)
            .await
            .is_ok()
    }

    /// Renames a container.
    pub async fn rename(&self, container: &str, name: &str) -> anyhow::Result<()> {
        let options = RenameContainerOptionsBuilder::new().name(name).build();
        self.client
            .rename_container(container, options)
            .await
            .map_err(|error| {
                failed(
                    error,
                    format!("cannot rename container `{container}` to `{name}`"),
                )
            })
    }
}

/// `repo:tag` split at the tag's colon (a registry port is not a tag).
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag() {
        assert_eq!(split_reference("mailctl/smtp:abc"), ("mailctl/smtp", "abc"));
        assert_eq!(
            split_reference("registry:5000/smtp"),
            ("registry:5000/smtp", "latest")
        );
        assert_eq!(
            split_reference("registry:5000/smtp:1"),
            ("registry:5000/smtp", "1")
        );
    }
}
