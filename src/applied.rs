//! Which configuration files each running container has loaded: containers
//! are labelled with their files' hash when created, and a reload (which
//! cannot relabel a container) is recorded here, in
//! `generated/state/applied.json`, so the next plan knows it happened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::files;
use crate::spec::{labels, StackSpec};

fn path(generated: &Path) -> PathBuf {
    generated.join("state").join("applied.json")
}

/// The recorded hashes; none when nothing was recorded or the file is unreadable
/// (the containers' labels then decide, which at worst causes one more reload).
pub fn read(generated: &Path) -> BTreeMap<String, String> {
    std::fs::read(path(generated))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Records that the `services` of `spec` now run with the spec's files.
pub fn record(generated: &Path, spec: &StackSpec, services: &[&str]) -> anyhow::Result<()> {
    let mut applied = read(generated);
    for service in &spec.services {
        if !services.contains(&service.name.as_str()) {
            continue;
        }
        if let Some(hash) = service.labels.get(labels::FILES_HASH) {
            applied.insert(service.name.clone(), hash.clone());
        }
    }
    let state = generated.join("state");
    if !state.exists() {
        files::create_private_dir(&state, 0o700)?;
    }
    files::write_atomic(
        &path(generated),
        &serde_json::to_vec_pretty(&applied)?,
        0o600,
    )
}
