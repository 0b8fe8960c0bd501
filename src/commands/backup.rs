//! `mailctl backup [--output DIR] [--keep N]`: one `.tar.zst` archive of the
//! project's files and every named volume (see `crate::backup`), with a
//! manifest of checksums, then pruning of old archives.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::Global;
use crate::backup;
use crate::cli::BackupArgs;
use crate::docker;
use crate::output;
use crate::project::Project;
use crate::stack::desired_stack;

pub fn run(global: &Global, args: &BackupArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let _lock = project.lock()?;
    let spec = desired_stack(&project, &config)?;
    let output_dir = match &args.output {
        Some(directory) => directory.clone(),
        None => project.backups_dir(),
    };
    let made = docker::block_on(backup::take::create(&project, &spec, &output_dir))??;
    let mut pruned = Vec::new();
    if let Some(keep) = args.keep {
        pruned = prune(&output_dir, &spec.project, keep.max(1))?;
        for path in &pruned {
            output::status(format!("removed old backup {}", path.display()));
        }
    }
    let total: u64 = made.manifest.files.iter().map(|file| file.size).sum();
    if global.json {
        output::json(&json!({
            "archive": made.path,
            "bytes": made.archive_bytes,
            "files": made.manifest.files.len(),
            "content_bytes": total,
            "volumes": made.manifest.volumes,
            "seconds": made.seconds,
            "pruned": pruned,
        }))?;
    } else {
        output::status(format!(
            "backup written: {} files, {} of data in {} ({:.1} s)",
            made.manifest.files.len(),
            backup::human_bytes(total),
            backup::human_bytes(made.archive_bytes),
            made.seconds
        ));
        output::data(made.path.display().to_string());
    }
    Ok(())
}

/// Deletes the oldest archives of `project` in `directory` beyond `keep`.
fn prune(directory: &Path, project: &str, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let names: Vec<String> = fs_err::read_dir(directory)?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    let mut removed = Vec::new();
    for name in backup::to_prune(&names, project, keep) {
        let path = directory.join(&name);
        fs_err::remove_file(&path)?;
        removed.push(path);
    }
    Ok(removed)
}
