//! Writing files safely: atomically (temporary file, fsync, rename), with an
//! explicit mode, and only when the content changed.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// so readers see either the old or the new file, never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs_err::create_dir_all(parent)?;
    }
    write_batch_atomic(&[(path, bytes, mode)])
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    Updated,
    Unchanged,
}

/// What writing `bytes` with `mode` to `path` would do.
pub fn compare_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<WriteOutcome> {
    match std::fs::read(path) {
        Ok(existing) => {
            let current_mode = std::fs::metadata(path)
                .map(|metadata| metadata.permissions().mode() & 0o7777)
                .unwrap_or(0);
            if existing == bytes && current_mode == mode {
                Ok(WriteOutcome::Unchanged)
            } else {
                Ok(WriteOutcome::Updated)
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(WriteOutcome::Created),
        Err(error) => Err(error).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// Writes only when the content or mode differs from what is on disk.
pub fn write_if_changed(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<WriteOutcome> {
    match std::fs::read(path) {
        Ok(existing) => {
            let current_mode = std::fs::metadata(path)
                .map(|metadata| metadata.permissions().mode() & 0o7777)
                .unwrap_or(0);
            if existing == bytes && current_mode == mode {
                return Ok(WriteOutcome::Unchanged);
            }
            write_atomic(path, bytes, mode)?;
            Ok(WriteOutcome::Updated)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            write_atomic(path, bytes, mode)?;
            Ok(WriteOutcome::Created)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// Writes many files at once, each atomically, with one file-system flush
/// for the batch instead of one per file: every temporary file is written,
/// the file system is synced once, and only then are they renamed into place.
pub fn write_batch_atomic(entries: &[(&Path, &[u8], u32)]) -> anyhow::Result<()> {
    let mut pending = Vec::with_capacity(entries.len());
    for (path, bytes, mode) in entries {
        let parent = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut temporary = tempfile::Builder::new()
            .prefix(".mailctl-")
            .tempfile_in(parent)
            .with_context(|| format!("cannot create a temporary file in `{}`", parent.display()))?;
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(*mode))
            .with_context(|| {
                format!(
                    "cannot set the mode of a temporary file in `{}`",
                    parent.display()
                )
            })?;
        temporary
            .write_all(bytes)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        pending.push((temporary, *path));
    }
    if let Some((first, _)) = pending.first() {
        sync_file_system(first.as_file())?;
    }
    let mut directories = std::collections::BTreeSet::new();
    for (temporary, path) in pending {
        temporary
            .persist(path)
            .map_err(|error| error.error)
            .with_context(|| format!("cannot replace `{}`", path.display()))?;
        if let Some(parent) = path.parent() {
            directories.insert(parent.to_owned());
        }
    }
    for directory in directories {
        if let Ok(handle) = std::fs::File::open(&directory) {
            let _ = handle.sync_all();
        }
    }
    Ok(())
}

/// Flushes the whole file system that holds `file` (one `syncfs(2)`).
fn sync_file_system(file: &std::fs::File) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is valid for the lifetime of `file`.
    let result = unsafe { libc::syncfs(file.as_raw_fd()) };
    if result != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot flush written files to disk");
    }
    Ok(())
}

/// Creates `path` (and parents) and sets its mode.
pub fn create_private_dir(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .with_context(|| format!("cannot create directory `{}`", path.display()))?;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_only_changes() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("a/b.txt");
        assert_eq!(
            write_if_changed(&path, b"one", 0o600).unwrap(),
            WriteOutcome::Created
        );
        assert_eq!(
            write_if_changed(&path, b"one", 0o600).unwrap(),
            WriteOutcome::Unchanged
        );
        assert_eq!(
            write_if_changed(&path, b"two", 0o600).unwrap(),
            WriteOutcome::Updated
        );
        assert_eq!(
            write_if_changed(&path, b"two", 0o644).unwrap(),
            WriteOutcome::Updated
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
