//! `mailctl restore ARCHIVE [--dir DIR]`: verify every checksum of the
//! archive first (a damaged archive is refused, naming the file, before
//! anything changes), then write the project's files into DIR and the
//! volumes' contents into fresh volumes through Docker's archive endpoint
//! (a helper container, created and never started, mounts them).
//!
//! DIR is empty or new (the disaster-recovery case), or an existing project
//! whose stack is stopped: then `--yes` is needed, and its containers and
//! volumes are replaced. `mailctl up` afterwards starts the same mailboxes,
//! passwords, DKIM keys and certificates.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::Global;
use crate::backup::take::{helper_image, volume_image, HELPER_ROOT};
use crate::backup::{self, read};
use crate::cli::RestoreArgs;
use crate::docker::{self, Docker, HelperMount};
use crate::error::user_error;
use crate::output;
use crate::progress::Progress;
use crate::project::Project;
use crate::stack::desired_stack;

pub fn run(global: &Global, args: &RestoreArgs) -> anyhow::Result<()> {
    let archive = args.archive.clone();
    if !archive.is_file() {
        return Err(user_error(
            format!("there is no archive `{}`", archive.display()),
            "give the path of a `.tar.zst` file written by `mailctl backup`",
        ));
    }
    let archive = std::fs::canonicalize(&archive)?;
    let project = Project::new(&global.dir)?;
    let existing = project.config_path().exists();
    if !existing && directory_has_files(project.root())? {
        return Err(user_error(
            format!(
                "`{}` is not empty and holds no mailctl project",
                project.root().display()
            ),
            "restore into an empty or new directory (`--dir DIR`)",
        ));
    }
    if existing && !global.yes {
        return Err(user_error(
            format!(
                "`{}` holds a project already: restoring replaces its files and deletes its volumes (all mail in them)",
                project.root().display()
            ),
            "stop its stack with `mailctl down`, then run the restore again with `--yes`",
        ));
    }

    output::status(format!("verifying {}", archive.display()));
    let progress = Progress::new();
    let task = progress.task("verify");
    let manifest = read::verify(&archive, &|line| task.message(line))?;
    task.finish(format!(
        "{} files match the manifest (project `{}`, {})",
        manifest.files.len(),
        manifest.project,
        manifest.created
    ));

    if existing {
        docker::block_on(clear_existing(&project))??;
    } else {
        docker::block_on(refuse_existing_volumes(&manifest.project))??;
    }
    let _lock = project.lock()?;
    // Project files first: the configuration names the volumes.
    let restored_project = read::restore_project(&archive, project.root())?;
    let config = project.load_config()?;
    let spec = desired_stack(&project, &config)?;
    let restored = docker::block_on(restore_volumes(&archive, &project, &spec))??;
    if global.json {
        output::json(&json!({
            "archive": archive,
            "project": spec.project,
            "directory": project.root(),
            "project_files": restored_project,
            "volume_files": restored.volume_files,
        }))?;
    } else {
        let volumes: Vec<String> = restored
            .volume_files
            .iter()
            .map(|(key, count)| format!("{key} ({count} files)"))
            .collect();
        output::status(format!(
            "restored project `{}` into {}: {restored_project} project files; volumes {}",
            spec.project,
            project.root().display(),
            volumes.join(", ")
        ));
        output::status(format!(
            "next: `mailctl -C {} up` starts the stack",
            project.root().display()
        ));
    }
    Ok(())
}

fn directory_has_files(directory: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(directory) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// A new directory: the archive's project must not have volumes here.
async fn refuse_existing_volumes(project: &str) -> anyhow::Result<()> {
    let docker = Docker::connect().await?;
    let existing = docker.project_resources(project, None).await?;
    if !existing.volumes.is_empty() {
        return Err(user_error(
            format!(
                "volumes of project `{project}` exist already on this host ({}); nothing was changed",
                existing.volumes.join(", ")
            ),
            "restore over that project (`--dir` its directory, with `--yes`, after `mailctl down`), or remove its volumes with `mailctl down --volumes`",
        ));
    }
    Ok(())
}

/// An existing project: its stack must be stopped; its containers and
/// volumes are removed (the archive replaces them).
async fn clear_existing(project: &Project) -> anyhow::Result<()> {
    let config = project.load_config()?;
    let spec = desired_stack(project, &config).ok();
    let docker = Docker::connect().await?;
    let observed = docker.observe(&config.name).await?;
    let running: Vec<&str> = observed
        .containers
        .iter()
        .filter(|container| container.state.is_up())
        .map(|container| container.name.as_str())
        .collect();
    if !running.is_empty() {
        return Err(user_error(
            format!(
                "the stack of project `{}` is running ({}); nothing was changed",
                config.name,
                running.join(", ")
            ),
            format!(
                "stop it first with `mailctl -C {} down` (the volumes are replaced by the archive's)",
                project.root().display()
            ),
        ));
    }
    for container in &observed.containers {
        docker.remove(&container.id).await?;
    }
    let resources = docker
        .project_resources(&config.name, spec.as_ref())
        .await?;
    for volume in &resources.volumes {
        docker.remove_volume(volume).await?;
        output::status(format!("removed volume {volume}"));
    }
    Ok(())
}

/// Creates the stack's volumes and fills them from the archive.
async fn restore_volumes(
    archive: &Path,
    project: &Project,
    spec: &crate::spec::StackSpec,
) -> anyhow::Result<read::Restored> {
    let docker = Docker::connect().await?;
    let existing = docker.project_resources(&spec.project, Some(spec)).await?;
    if !existing.volumes.is_empty() {
        return Err(user_error(
            format!(
                "volumes of project `{}` exist already on this host: {}",
                spec.project,
                existing.volumes.join(", ")
            ),
            "restore over that project (`--dir` its directory, with `--yes`), or remove them",
        ));
    }
    docker.ensure_volumes(spec).await?;
    // A helper container needs an image: build one of the stack's if none exists.
    if helper_image(&docker, spec).await.is_err() {
        let progress = Progress::new();
        let work: Vec<_> = docker
            .missing_images(spec)
            .await?
            .into_iter()
            .filter(|work| matches!(work, crate::docker::ImageWork::Build { service, .. } if service == "redis"))
            .collect();
        docker.ensure_images(&work, &progress).await?;
    }
    let mut helpers = BTreeMap::new();
    let mut created = Ok(());
    for volume in &spec.volumes {
        let helper = format!("{}-restore-{}", spec.project, volume.key);
        let image = match volume_image(&docker, spec, &volume.key).await {
            Ok(image) => image,
            Err(error) => {
                created = Err(error);
                break;
            }
        };
        let mounts = [HelperMount {
            volume: volume.name.clone(),
            target: format!("{HELPER_ROOT}/{}", volume.key),
        }];
        if let Err(error) = docker
            .create_helper(&helper, &image, &spec.project, &mounts)
            .await
        {
            created = Err(error);
            break;
        }
        helpers.insert(volume.key.clone(), helper);
    }
    let result = match created {
        Ok(()) => upload_all(&docker, &helpers, archive, project).await,
        Err(error) => Err(error),
    };
    let mut removed = Ok(());
    for helper in helpers.values() {
        if let Err(error) = docker.remove(helper).await {
            removed = Err(error);
        }
    }
    let restored = result?;
    removed?;
    Ok(restored)
}

async fn upload_all(
    docker: &Docker,
    helpers: &BTreeMap<String, String>,
    archive: &Path,
    project: &Project,
) -> anyhow::Result<read::Restored> {
    let (uploads, mut pending) = tokio::sync::mpsc::unbounded_channel();
    let archive = archive.to_owned();
    let root = project.root().to_owned();
    let worker =
        tokio::task::spawn_blocking(move || read::restore(&archive, &root, &uploads, false));
    let mut failure = None;
    while let Some((key, chunks)) = pending.recv().await {
        output::status(format!("restore   volume {key}"));
        let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
            chunks.recv().await.map(|chunk| (chunk, chunks))
        });
        let Some(helper) = helpers.get(&key) else {
            failure = Some(anyhow::anyhow!(
                "the archive holds volume `{key}`, which this stack does not have"
            ));
            break;
        };
        if let Err(error) = docker.upload(helper, HELPER_ROOT, stream).await {
            failure = Some(error.context(format!("cannot restore volume `{key}`")));
            break;
        }
    }
    drop(pending);
    let restored = worker
        .await
        .map_err(|error| anyhow::anyhow!("the archive reader stopped: {error}"))?;
    if let Some(error) = failure {
        return Err(error);
    }
    let _ = backup::MANIFEST;
    restored
}
