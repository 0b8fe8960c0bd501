//! Taking a backup of a running project (see the module above for the
//! archive's layout): the project's files and each named volume streamed
//! into one archive through helper containers.
//!
//! Consistency: while the volumes are read, Postfix keeps accepting mail on
//! every port but delivers nothing to the mailboxes: the LMTP transport is
//! listed in `defer_transports` (and Postfix reloaded), so new mail waits in
//! the queue. Redis saves its data first (`SAVE`). The maildirs are read
//! first, then the queue; a queue file still being written is left out (see
//! `backup::skip_queue_file`). Afterwards the hold is lifted and the queue
//! flushed, so a message that arrived meanwhile is delivered at once, and it
//! is either in the archive's queue whole or not at all. Nothing is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::backup::write::{ArchiveWriter, Item};
use crate::backup::{self, Manifest};
use crate::docker::deliveries;
use crate::docker::{Docker, HelperMount};
use crate::output;
use crate::progress::Progress;
use crate::project::Project;
use crate::service::Service;
use crate::spec::StackSpec;

/// Where the helper container mounts the volumes.
pub const HELPER_ROOT: &str = "/mailctl-volumes";

/// A finished backup.
#[derive(Debug, Clone)]
pub struct Made {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub archive_bytes: u64,
    pub seconds: f64,
}

/// Writes a backup of `project` into `output_dir`. The caller holds the lock.
pub async fn create(
    project: &Project,
    spec: &StackSpec,
    output_dir: &Path,
) -> anyhow::Result<Made> {
    let started = Instant::now();
    let docker = Docker::connect().await?;
    fs_err::create_dir_all(output_dir)?;
    let (compact, created) = backup::timestamps(time::OffsetDateTime::now_utc());
    let name = backup::archive_name(&spec.project, &compact);
    let path = output_dir.join(&name);
    let partial = output_dir.join(format!(".{name}.partial"));

    let config_bytes = fs_err::read(project.config_path())?;
    // The file's own version, also when `upgrade` has yet to migrate it.
    let config_version =
        crate::config::migrate::read_document(&String::from_utf8_lossy(&config_bytes))
            .ok()
            .and_then(|document| crate::config::migrate::version_of(&document).ok())
            .unwrap_or(crate::config::CURRENT_VERSION);
    let observed = docker.observe(&spec.project).await?;
    let mut images = BTreeMap::new();
    for service in &spec.services {
        let container = observed
            .containers
            .iter()
            .find(|container| container.service.as_deref() == Some(service.name.as_str()));
        let id = match container {
            Some(container) => docker.container_image_id(&container.id).await?,
            None => docker.image_id(&service.image.reference).await?,
        };
        let reference = container.map_or(service.image.reference.clone(), |container| {
            container.image.clone()
        });
        images.insert(
            service.name.clone(),
            match id {
                Some(id) => format!("{reference}@{id}"),
                None => reference,
            },
        );
    }
    let missing = docker.missing_volumes(spec).await?;
    let volumes: Vec<(String, String)> = spec
        .volumes
        .iter()
        .filter(|volume| !missing.contains(&volume.name))
        .map(|volume| (volume.key.clone(), volume.name.clone()))
        .collect();
    if !missing.is_empty() {
        output::warning(format!(
            "not in the backup, since they do not exist (the stack never ran?): {}",
            missing.join(", ")
        ));
    }
    let running = |service: &str| {
        observed.containers.iter().find(|container| {
            container.service.as_deref() == Some(service) && container.state.is_up()
        })
    };
    let smtp = running("smtp").map(|container| container.name.clone());
    let redis = running("redis").map(|container| container.name.clone());

    let manifest = Manifest {
        format: backup::FORMAT,
        project: spec.project.clone(),
        created,
        mailctl_version: env!("CARGO_PKG_VERSION").to_owned(),
        config_version,
        config_sha256: hex::encode(Sha256::digest(&config_bytes)),
        images,
        volumes: BTreeMap::new(),
        consistency: match &smtp {
            Some(_) => format!(
                "deliveries held (Postfix defer_transports={}) while the volumes were read; Redis saved first",
                deliveries::MAILBOX_TRANSPORT
            ),
            None => "the smtp service was not running: nothing was delivered while the volumes were read".to_owned(),
        },
        files: Vec::new(),
    };

    if let Some(redis) = &redis {
        output::status("redis     saving its data (SAVE)");
        let saved = docker.exec(redis, &["redis-cli", "SAVE"]).await?;
        if saved.exit_code != 0 || !saved.stdout.contains("OK") {
            anyhow::bail!(
                "Redis did not save its data before the backup: {}{}",
                saved.stdout.trim(),
                saved.stderr.trim()
            );
        }
    }
    let held = match &smtp {
        Some(container) => Some(deliveries::hold(&docker, container).await?),
        None => None,
    };
    let mut helpers: Vec<(String, String)> = Vec::new();
    let result = async {
        for (key, volume) in &volumes {
            let helper = format!("{}-backup-{key}", spec.project);
            let image = volume_image(&docker, spec, key).await?;
            let mounts = [HelperMount {
                volume: volume.clone(),
                target: format!("{HELPER_ROOT}/{key}"),
            }];
            docker
                .create_helper(&helper, &image, &spec.project, &mounts)
                .await?;
            helpers.push((key.clone(), helper));
        }
        write_archive(&docker, project.root(), &helpers, &partial, manifest).await
    }
    .await;
    let mut removed = Ok(());
    for (_, helper) in &helpers {
        if let Err(error) = docker.remove(helper).await {
            removed = Err(error);
        }
    }
    let released = match held {
        Some(held) => deliveries::release(&docker, held).await,
        None => Ok(()),
    };
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            released?;
            return Err(error.context("the backup failed; no archive was written"));
        }
    };
    released?;
    removed?;
    fs_err::rename(&partial, &path)?;
    if let Ok(directory) = std::fs::File::open(output_dir) {
        let _ = directory.sync_all();
    }
    let archive_bytes = fs_err::metadata(&path)?.len();
    Ok(Made {
        path,
        manifest,
        archive_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The image for the helper that reads or writes volume `key`: the image
/// of the service that mounts it, so that the files' owners have names
/// there (Docker 20.10's archive endpoint looks up each file's owner, and a
/// failed lookup is not cached: a uid unknown to the image makes reading
/// ten times slower). Any image of the stack otherwise.
pub async fn volume_image(docker: &Docker, spec: &StackSpec, key: &str) -> anyhow::Result<String> {
    let owner = spec.services.iter().find(|service| {
        service.mounts.iter().any(|mount| {
            matches!(mount, crate::spec::MountSpec::Volume { key: mounted, .. } if mounted == key)
        })
    });
    if let Some(service) = owner {
        if docker.image_exists(&service.image.reference).await? {
            return Ok(service.image.reference.clone());
        }
    }
    helper_image(docker, spec).await
}

/// An image of the stack that exists locally, for the helper container.
pub async fn helper_image(docker: &Docker, spec: &StackSpec) -> anyhow::Result<String> {
    for name in [
        Service::Redis,
        Service::Resolver,
        Service::Web,
        Service::Smtp,
        Service::Imap,
        Service::Antispam,
    ]
    .map(Service::name)
    {
        if let Some(service) = spec.service(name) {
            if docker.image_exists(&service.image.reference).await? {
                return Ok(service.image.reference.clone());
            }
        }
    }
    Err(crate::error::user_error(
        "none of the stack's images exists on this Docker host",
        "run `mailctl up` once (it builds them), then try again",
    ))
}

/// Streams the project files and each volume into the archive at `partial`.
async fn write_archive(
    docker: &Docker,
    root: &Path,
    volumes: &[(String, String)],
    partial: &Path,
    manifest: Manifest,
) -> anyhow::Result<Manifest> {
    use futures_util::StreamExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode_private()
        .open(partial)
        .with_context(|| format!("cannot create `{}`", partial.display()))?;
    let progress = Progress::new();
    let task = progress.task("backup");
    task.message("reading the project's files");
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Item>(16);
    let root = root.to_owned();
    let worker = tokio::task::spawn_blocking(move || -> anyhow::Result<Manifest> {
        let mut writer = ArchiveWriter::new(file, Box::new(move |line| task.message(line)))?;
        writer.add_project(&root)?;
        writer.add_volumes(&mut receiver)?;
        writer.finish(manifest)
    });
    let mut failure: Option<anyhow::Error> = None;
    'volumes: for (key, helper) in volumes {
        if sender
            .send(Item::Volume { key: key.clone() })
            .await
            .is_err()
        {
            break;
        }
        let mut stream = Box::pin(docker.download(helper, &format!("{HELPER_ROOT}/{key}")));
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if sender.send(Item::Chunk(bytes)).await.is_err() {
                        break 'volumes;
                    }
                }
                Err(error) => {
                    failure = Some(error.context(format!("cannot read volume `{key}`")));
                    break 'volumes;
                }
            }
        }
        if sender.send(Item::End).await.is_err() {
            break;
        }
    }
    drop(sender);
    let written = worker
        .await
        .map_err(|error| anyhow::anyhow!("the archive writer stopped: {error}"))?;
    if let Some(error) = failure {
        return Err(error);
    }
    let manifest = written?;
    progress.println(format!("backup    {} files archived", manifest.files.len()));
    Ok(manifest)
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    /// Archives hold secrets and keys: 0600.
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}
