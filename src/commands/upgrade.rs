//! `mailctl upgrade [--dry-run]`: back up first; migrate `mailctl.yaml` to
//! this build's schema (the old file kept as `mailctl.yaml.v<N>.bak`);
//! rebuild mailctl's images without the build cache (fresh Debian packages)
//! and build or pull any new image reference (a new release's templates, an
//! `images:` override); render; then recreate each changed service, one at
//! a time in dependency order, waiting for its health check.
//!
//! The old container is stopped and renamed (`…-previous`), not removed.
//! When a new one does not become healthy in time, everything changed is
//! put back: the new containers go, the old ones get their names back and
//! start, image tags point at the previous images again, and the previous
//! `mailctl.yaml` and generated files are restored. The command then exits
//! non-zero naming the service. `--dry-run` shows what would change and why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::Global;
use crate::cli::UpgradeArgs;
use crate::config::{self, migrate};
use crate::docker::{self, deliveries, Docker};
use crate::error::user_error;
use crate::output;
use crate::progress::Progress;
use crate::project::Project;
use crate::render;
use crate::service::Service;
use crate::spec::StackSpec;
use crate::upgrade::{self, Change, Current};

pub fn run(global: &Global, args: &UpgradeArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let _lock = project.lock()?;
    let config_path = project.config_path();
    let old_config_bytes = fs_err::read(&config_path)?;
    let text = String::from_utf8_lossy(&old_config_bytes).into_owned();
    let document = migrate::read_document(&text).map_err(|error| {
        user_error(
            format!("`{}` cannot be read: {error}", config_path.display()),
            "fix the YAML, then run `mailctl upgrade` again",
        )
    })?;
    let migrated = migrate::migrate(document)?;
    if let Some(migrated) = &migrated {
        output::status(format!(
            "configuration: version {} -> {} ({})",
            migrated.from,
            migrated.to,
            migrated.applied.join("; ")
        ));
    }
    let config = match &migrated {
        Some(migrated) => {
            let yaml = migrate::write_document(&migrated.document)?;
            config::parse_str(&yaml, &config_path)?
        }
        None => project.load_config()?,
    };
    let rendered = crate::render::project_in_memory(&project, &config)?;
    let options = Options {
        rebuild: !args.skip_rebuild,
        timeout: Duration::from_secs(args.timeout),
    };
    if args.dry_run {
        return docker::block_on(dry_run(
            global,
            &rendered.spec,
            &options,
            migrated.is_some(),
        ))?;
    }

    // 1. A backup, before anything changes.
    output::status("upgrade   backing up first");
    let made = docker::block_on(crate::backup::take::create(
        &project,
        &rendered.spec,
        &project.backups_dir(),
    ))??;
    output::status(format!("upgrade   backup: {}", made.path.display()));

    // 2. The configuration, kept as it was.
    let old_generated = read_tree(&project.generated_dir())?;
    if let Some(migrated) = &migrated {
        let kept = project.root().join(migrate::backup_name(migrated.from));
        crate::files::write_atomic(&kept, &old_config_bytes, 0o600)?;
        config::save_file(&config_path, &config)?;
        output::status(format!(
            "configuration migrated; the old file is {}",
            kept.display()
        ));
    }
    let snapshot = Snapshot {
        config_path: config_path.clone(),
        config: old_config_bytes,
        generated_dir: project.generated_dir(),
        generated: old_generated,
    };
    let result = docker::block_on(upgrade(global, &project, &rendered, &options, &snapshot))?;
    if result.is_err() {
        output::status(format!(
            "the backup taken before the upgrade is {}",
            made.path.display()
        ));
    }
    result
}

struct Options {
    rebuild: bool,
    timeout: Duration,
}

/// What the upgrade changed on disk, to put back.
struct Snapshot {
    config_path: PathBuf,
    config: Vec<u8>,
    generated_dir: PathBuf,
    generated: BTreeMap<PathBuf, (Vec<u8>, u32)>,
}

impl Snapshot {
    fn restore(&self) -> anyhow::Result<()> {
        crate::files::write_atomic(&self.config_path, &self.config, 0o600)?;
        let now = read_tree(&self.generated_dir)?;
        for path in now.keys() {
            if !self.generated.contains_key(path) {
                let _ = std::fs::remove_file(self.generated_dir.join(path));
            }
        }
        for (path, (bytes, mode)) in &self.generated {
            crate::files::write_if_changed(&self.generated_dir.join(path), bytes, *mode)?;
        }
        Ok(())
    }
}

/// Every file under `directory`: relative path → (bytes, mode).
fn read_tree(directory: &Path) -> anyhow::Result<BTreeMap<PathBuf, (Vec<u8>, u32)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut pending = vec![directory.to_owned()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let metadata = fs_err::symlink_metadata(&path)?;
            if metadata.is_dir() {
                pending.push(path);
            } else if metadata.is_file() {
                let relative = path.strip_prefix(directory)?.to_owned();
                out.insert(
                    relative,
                    (fs_err::read(&path)?, metadata.permissions().mode() & 0o7777),
                );
            }
        }
    }
    Ok(out)
}

/// The services as they run now.
async fn current(docker: &Docker, spec: &StackSpec) -> anyhow::Result<BTreeMap<String, Current>> {
    let observed = docker.observe(&spec.project).await?;
    let mut out = BTreeMap::new();
    for service in &spec.services {
        let Some(container) = crate::stack::container_for(&observed, service) else {
            continue;
        };
        out.insert(
            service.name.clone(),
            Current {
                container: container.name.clone(),
                reference: container.image.clone(),
                image_id: docker.container_image_id(&container.id).await?,
                config_hash: container.config_hash.clone(),
                files_hash: container.files_hash.clone(),
                running: container.state.is_up(),
            },
        );
    }
    Ok(out)
}

/// Services whose image mailctl builds (and so rebuilds).
fn built_services(spec: &StackSpec) -> Vec<(String, String)> {
    spec.services
        .iter()
        .filter(|service| service.image.build.is_some())
        .map(|service| (service.name.clone(), service.image.reference.clone()))
        .collect()
}

async fn dry_run(
    global: &Global,
    spec: &StackSpec,
    options: &Options,
    migrates: bool,
) -> anyhow::Result<()> {
    let docker = Docker::connect().await?;
    let now = current(&docker, spec).await?;
    let mut new_ids = BTreeMap::new();
    for service in &spec.services {
        if let Some(id) = docker.image_id(&service.image.reference).await? {
            new_ids.insert(service.name.clone(), id);
        }
    }
    let changes = upgrade::changes(spec, &now, &new_ids);
    let rebuilds: Vec<String> = if options.rebuild {
        built_services(spec)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    } else {
        Vec::new()
    };
    if global.json {
        return output::json(&json!({
            "backup": true,
            "migrate_config": migrates,
            "rebuild": rebuilds,
            "recreate": changes,
        }));
    }
    let mut lines = vec!["backup    first, into backups/".to_owned()];
    if migrates {
        lines.push("migrate   mailctl.yaml (the old file is kept)".to_owned());
    }
    for name in &rebuilds {
        lines.push(format!(
            "rebuild   {name:<9} without cache (fresh Debian packages); recreated if the image changes"
        ));
    }
    for change in &changes {
        let reasons: Vec<String> = change.reasons.iter().map(ToString::to_string).collect();
        lines.push(format!(
            "recreate  {:<9} ({})",
            change.service,
            reasons.join("; ")
        ));
    }
    if changes.is_empty() && rebuilds.is_empty() {
        lines.push("nothing else: every service is up to date".to_owned());
    }
    output::data(lines.join("\n"));
    output::status("dry run: nothing was changed");
    Ok(())
}

/// One service replaced during the upgrade.
struct Replaced {
    service: String,
    /// The new container's name.
    container: String,
    /// The old container, renamed, when there was one.
    previous: Option<String>,
    grace: u32,
}

async fn upgrade(
    global: &Global,
    project: &Project,
    rendered: &render::Rendered,
    options: &Options,
    snapshot: &Snapshot,
) -> anyhow::Result<()> {
    let spec = &rendered.spec;
    let docker = Docker::connect().await?;
    let progress = Progress::new();
    let now = current(&docker, spec).await?;

    // Previous image ids behind each reference, to put back on failure.
    let mut old_tags: BTreeMap<String, Option<String>> = BTreeMap::new();
    for service in &spec.services {
        old_tags.insert(
            service.image.reference.clone(),
            docker.image_id(&service.image.reference).await?,
        );
    }
    let result = async {
        if options.rebuild {
            for (service, reference) in built_services(spec) {
                docker.build_fresh(&service, &reference, &progress).await?;
            }
        }
        let missing = docker.missing_images(spec).await?;
        docker.ensure_images(&missing, &progress).await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = result {
        put_back_tags(&docker, &old_tags).await;
        return Err(
            error.context("the upgrade failed while building images; nothing was recreated")
        );
    }
    let mut new_ids = BTreeMap::new();
    for service in &spec.services {
        if let Some(id) = docker.image_id(&service.image.reference).await? {
            new_ids.insert(service.name.clone(), id);
        }
    }
    let changes = upgrade::changes(spec, &now, &new_ids);
    render::write(&project.generated_dir(), &rendered.files)?;
    docker.ensure_network(spec).await?;
    docker.ensure_volumes(spec).await?;
    if changes.is_empty() {
        output::status("upgrade   every service is up to date: nothing recreated");
        return report(global, &changes, None);
    }
    for change in &changes {
        let reasons: Vec<String> = change.reasons.iter().map(ToString::to_string).collect();
        output::status(format!(
            "plan: recreate {} ({})",
            change.service,
            reasons.join("; ")
        ));
    }

    let mut replaced: Vec<Replaced> = Vec::new();
    let mut failed: Option<(String, anyhow::Error)> = None;
    for change in &changes {
        let Some(service) = spec.service(&change.service) else {
            continue;
        };
        let task = progress.task(&service.name);
        // Stopping imap: hold deliveries to the mailboxes meanwhile.
        let held = deliveries::hold_for_stop(&docker, spec, &service.name).await;
        let replacement = replace(
            &docker,
            spec,
            service,
            now.get(&service.name),
            &task,
            &mut replaced,
        )
        .await;
        let replacement = match replacement {
            Ok(container) => Ok(docker::wait_healthy(
                &docker,
                &service.name,
                &container,
                options.timeout,
                &task,
                "upgraded",
            )
            .await),
            Err(error) => Err(error),
        };
        deliveries::release_after_start(&docker, held).await;
        match replacement {
            Ok(waited) => {
                if let Err(failure) = waited {
                    let mut message = format!("{:#}", failure.error);
                    if let Some((code, text)) = &failure.last_health {
                        message.push_str(&format!(
                            "; last health check (exit {code}): {}",
                            text.lines().next().unwrap_or("no output")
                        ));
                    }
                    failed = Some((service.name.clone(), anyhow::anyhow!(message)));
                    break;
                }
            }
            Err(error) => {
                task.fail(format!("failed: {error}"));
                failed = Some((service.name.clone(), error));
                break;
            }
        }
    }

    if let Some((service, error)) = failed {
        output::status(format!(
            "upgrade   `{service}` did not become healthy: rolling back"
        ));
        let rolled_back = roll_back(&docker, &replaced, &old_tags, snapshot, options).await;
        let names: Vec<String> = replaced.iter().map(|entry| entry.service.clone()).collect();
        let state = match rolled_back {
            Ok(()) if names.is_empty() => "nothing was recreated".to_owned(),
            Ok(()) => format!(
                "rolled back {}: the previous containers, images and configuration run again",
                names.join(", ")
            ),
            Err(rollback_error) => format!("the rollback failed too: {rollback_error:#}"),
        };
        return Err(user_error(
            format!("upgrade failed: service `{service}` did not become healthy: {error}; {state}"),
            format!(
                "see `mailctl logs {service}`; the stack runs as before the upgrade, and the backup taken first is in backups/"
            ),
        ));
    }

    for entry in &replaced {
        if let Some(previous) = &entry.previous {
            docker.remove(previous).await?;
        }
    }
    // A delivery cut short while smtp or imap was replaced waits in the
    // deferred queue for the next queue run (minutes): deliver the mail held
    // for the mailboxes now, leaving mail for other servers on its retry
    // schedule.
    let mail_path_replaced = replaced.iter().any(|entry| {
        entry.service == Service::Smtp.name() || entry.service == Service::Imap.name()
    });
    if let Some(smtp) = spec
        .service(Service::Smtp.name())
        .filter(|_| mail_path_replaced)
    {
        match docker
            .exec(&smtp.container_name, &[crate::spec::DELIVER_HELD_COMMAND])
            .await
        {
            Ok(output) if output.exit_code == 0 => {
                output::detail("delivered the mail held for the mailboxes");
            }
            Ok(output) => output::warning(format!(
                "asking Postfix in `{}` to deliver held mail failed ({}): it waits for the next queue run",
                smtp.container_name,
                output.stderr.trim()
            )),
            Err(error) => output::warning(format!(
                "cannot ask Postfix to deliver held mail ({error:#}): it waits for the next queue run"
            )),
        }
    }
    // Images a rebuild replaced, now untagged and unused.
    for (reference, old) in &old_tags {
        let Some(old) = old else { continue };
        if docker.image_id(reference).await?.as_deref() != Some(old.as_str())
            && docker.remove_unused_image(old).await
        {
            output::detail(format!("removed the previous image of {reference}"));
        }
    }
    let names: Vec<&str> = spec
        .services
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    crate::applied::record(&project.generated_dir(), spec, &names)?;
    report(global, &changes, Some(&replaced))
}

fn report(
    global: &Global,
    changes: &[Change],
    replaced: Option<&[Replaced]>,
) -> anyhow::Result<()> {
    let recreated: Vec<String> = replaced
        .unwrap_or_default()
        .iter()
        .map(|entry| entry.service.clone())
        .collect();
    if global.json {
        return output::json(&json!({
            "recreated": recreated,
            "changes": changes,
        }));
    }
    if recreated.is_empty() {
        output::status("upgrade finished: nothing needed recreating");
    } else {
        output::status(format!(
            "upgrade finished: {} recreated and healthy",
            recreated.join(", ")
        ));
    }
    Ok(())
}

/// Replaces one service's container: the new one is created under a
/// temporary name, the old one stopped and renamed `…-previous`, and the
/// new one renamed and started, so the service is down only between the
/// old one's stop and the new one's start. Records in `replaced` what a
/// rollback must undo; returns the new container's name.
async fn replace(
    docker: &Docker,
    spec: &StackSpec,
    service: &crate::spec::ServiceSpec,
    now: Option<&Current>,
    task: &crate::progress::Task,
    replaced: &mut Vec<Replaced>,
) -> anyhow::Result<String> {
    let name = service.container_name.clone();
    let next = upgrade::next_name(&name);
    let mut staged = service.clone();
    staged.container_name = next.clone();
    docker.remove(&next).await?;
    task.message("creating the new container");
    docker.create(&staged, &spec.network).await?;
    // From here on a rollback knows what to undo.
    replaced.push(Replaced {
        service: service.name.clone(),
        container: name.clone(),
        previous: None,
        grace: service.stop_grace_seconds,
    });
    if let Some(old) = now {
        let renamed = upgrade::previous_name(&old.container);
        docker.remove(&renamed).await?;
        task.message("stopping the old container");
        docker
            .stop(&old.container, service.stop_grace_seconds)
            .await?;
        docker.rename(&old.container, &renamed).await?;
        if let Some(entry) = replaced.last_mut() {
            entry.previous = Some(renamed);
        }
    }
    docker.rename(&next, &name).await?;
    task.message("starting");
    docker.start(&name, &service.name).await?;
    Ok(name)
}

/// Puts everything back: files, image tags, then the old containers, in
/// reverse order, each waited for.
async fn roll_back(
    docker: &Docker,
    replaced: &[Replaced],
    old_tags: &BTreeMap<String, Option<String>>,
    snapshot: &Snapshot,
    options: &Options,
) -> anyhow::Result<()> {
    snapshot.restore()?;
    put_back_tags(docker, old_tags).await;
    let progress = Progress::new();
    for entry in replaced.iter().rev() {
        let task = progress.task(&entry.service);
        task.message("removing the new container");
        for name in [
            entry.container.clone(),
            upgrade::next_name(&entry.container),
        ] {
            docker.stop(&name, entry.grace).await?;
            docker.remove(&name).await?;
        }
        if let Some(previous) = &entry.previous {
            docker.rename(previous, &entry.container).await?;
            task.message("starting the previous container");
            docker.start(&entry.container, &entry.service).await?;
            docker::wait_healthy(
                docker,
                &entry.service,
                &entry.container,
                options.timeout,
                &task,
                "rolled back",
            )
            .await
            .map_err(|failure| failure.error)?;
        }
    }
    Ok(())
}

/// Points each reference at the image it named before the upgrade.
async fn put_back_tags(docker: &Docker, old_tags: &BTreeMap<String, Option<String>>) {
    for (reference, id) in old_tags {
        let Some(id) = id else { continue };
        let now = docker.image_id(reference).await.ok().flatten();
        if now.as_deref() != Some(id.as_str()) {
            if let Err(error) = docker.tag(id, reference).await {
                output::warning(format!(
                    "cannot point `{reference}` at its previous image: {error:#}"
                ));
            }
        }
    }
}
