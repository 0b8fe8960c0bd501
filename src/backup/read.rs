//! Reading an archive, synchronously (run it in `spawn_blocking`). First
//! `verify`: the whole archive is decompressed and every file hashed and
//! compared with the manifest, before anything is changed. Then `restore`:
//! project files are written into the project directory, and each volume's
//! entries are streamed as a tar (`<key>/…`) over a channel, one volume after
//! the other, for the Docker archive endpoint to extract.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::{Sender, UnboundedSender};

use super::{check, target, Manifest, Seen, Target, FORMAT};
use crate::error::user_error;

/// Chunks handed to the Docker upload.
const CHUNK: usize = 256 << 10;

fn open(
    path: &Path,
) -> anyhow::Result<tar::Archive<zstd::stream::read::Decoder<'static, BufReader<File>>>> {
    let file = fs_err::File::open(path)?.into_parts().0;
    let decoder = zstd::stream::read::Decoder::new(file)
        .with_context(|| format!("cannot start decompressing `{}`", path.display()))?;
    Ok(tar::Archive::new(decoder))
}

/// The error for an archive that cannot be read to its end.
fn damaged(archive: &Path, after: Option<&str>, error: impl std::fmt::Display) -> anyhow::Error {
    let place = match after {
        Some(path) => format!(" in or after `{path}`"),
        None => " at its start".to_owned(),
    };
    user_error(
        format!(
            "archive `{}` is damaged{place}: {error}; nothing was changed",
            archive.display()
        ),
        "use another backup (the archive must be copied whole and unchanged)",
    )
}

/// Reads the whole archive, hashes every file and checks it against the
/// manifest; returns the manifest. Changes nothing.
pub fn verify(archive: &Path, report: &dyn Fn(String)) -> anyhow::Result<Manifest> {
    let mut reader = open(archive)?;
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut manifest: Option<Vec<u8>> = None;
    let mut last: Option<String> = None;
    let mut bytes = 0u64;
    let mut next_report = 256u64 << 20;
    let entries = reader
        .entries()
        .map_err(|error| damaged(archive, None, error))?;
    for entry in entries {
        let mut entry = entry.map_err(|error| damaged(archive, last.as_deref(), error))?;
        let path = entry
            .path()
            .map_err(|error| damaged(archive, last.as_deref(), error))?
            .to_string_lossy()
            .into_owned();
        if target(&path).is_none() {
            return Err(damaged(
                archive,
                last.as_deref(),
                format!("unexpected entry `{path}`"),
            ));
        }
        let kind = entry.header().entry_type();
        if path == super::MANIFEST {
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|error| damaged(archive, Some(&path), error))?;
            manifest = Some(text);
        } else if kind.is_file() {
            let mut hasher = Sha256::new();
            let mut buffer = vec![0u8; 64 << 10];
            let mut size = 0u64;
            loop {
                let read = entry
                    .read(&mut buffer)
                    .map_err(|error| damaged(archive, Some(&path), error))?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
                size += read as u64;
            }
            bytes += size;
            if bytes >= next_report {
                next_report = bytes + (256 << 20);
                report(format!("verified {}", super::human_bytes(bytes)));
            }
            seen.insert(
                path.clone(),
                Seen {
                    size,
                    sha256: hex::encode(hasher.finalize()),
                },
            );
        }
        last = Some(path);
    }
    // The zstd frame's own checksum is checked when the stream ends; a
    // file whose checksum differs is named first, below.
    let mut rest = reader.into_inner();
    let frame = std::io::copy(&mut rest, &mut std::io::sink())
        .map_err(|error| damaged(archive, last.as_deref(), error));
    let Some(manifest) = manifest else {
        frame?;
        return Err(damaged(
            archive,
            last.as_deref(),
            format!("it has no `{}` (cut short?)", super::MANIFEST),
        ));
    };
    let parsed: Result<Manifest, _> = serde_json::from_slice(&manifest);
    let frame = match (parsed.is_err(), frame) {
        (true, Err(error)) => return Err(error),
        (_, frame) => frame,
    };
    let manifest: Manifest = parsed.map_err(|error| {
        damaged(
            archive,
            Some(super::MANIFEST),
            format!("the manifest cannot be read: {error}"),
        )
    })?;
    if manifest.format != FORMAT {
        return Err(user_error(
            format!(
                "archive `{}` has format {}; this mailctl reads format {FORMAT}",
                archive.display(),
                manifest.format
            ),
            "restore it with the mailctl version that wrote it",
        ));
    }
    let damage = check(&manifest, &seen);
    if !damage.is_empty() {
        let shown: Vec<String> = damage.iter().take(10).map(ToString::to_string).collect();
        let more = damage.len().saturating_sub(shown.len());
        return Err(user_error(
            format!(
                "archive `{}` is damaged: {}{}; nothing was changed",
                archive.display(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
            "use another backup (the archive must be copied whole and unchanged)",
        ));
    }
    frame?;
    Ok(manifest)
}

/// What `restore` wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    pub project_files: u64,
    pub volume_files: BTreeMap<String, u64>,
}

/// Writes only the project files into `root` (they come first in the
/// archive); returns how many files. Call after [`verify`].
pub fn restore_project(archive: &Path, root: &Path) -> anyhow::Result<u64> {
    let mut reader = open(archive)?;
    let mut count = 0;
    for entry in reader.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        let mode = entry.header().mode()?;
        match target(&path) {
            Some(Target::Project(relative)) => {
                restore_project_entry(&mut entry, kind, mode, &root.join(relative))?;
                if kind.is_file() {
                    count += 1;
                }
            }
            Some(Target::Volume(..)) => break,
            _ => {}
        }
    }
    Ok(count)
}

/// Sends, per volume, a channel of tar chunks (`<key>/…`) on `uploads`;
/// with `write_project`, also writes the project files into `root`. Call
/// after [`verify`].
pub fn restore(
    archive: &Path,
    root: &Path,
    uploads: &UnboundedSender<(String, tokio::sync::mpsc::Receiver<Bytes>)>,
    write_project: bool,
) -> anyhow::Result<Restored> {
    let mut reader = open(archive)?;
    let mut restored = Restored::default();
    let mut current: Option<(String, tar::Builder<ChunkWriter>)> = None;
    for entry in reader.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        let mode = entry.header().mode()?;
        match target(&path) {
            Some(Target::Project(_)) if !write_project => {}
            Some(Target::Project(relative)) => {
                let destination = root.join(&relative);
                restore_project_entry(&mut entry, kind, mode, &destination)?;
                if kind.is_file() {
                    restored.project_files += 1;
                }
            }
            Some(Target::Volume(key, relative)) => {
                if current.as_ref().map(|(open, _)| open.as_str()) != Some(key.as_str()) {
                    if let Some((_, builder)) = current.take() {
                        finish_volume(builder)?;
                    }
                    let (sender, receiver) = tokio::sync::mpsc::channel(8);
                    uploads
                        .send((key.clone(), receiver))
                        .map_err(|_| anyhow::anyhow!("the upload to Docker stopped"))?;
                    current = Some((
                        key.clone(),
                        tar::Builder::new(ChunkWriter {
                            sender,
                            buffer: Vec::with_capacity(CHUNK),
                        }),
                    ));
                }
                let Some((_, builder)) = current.as_mut() else {
                    continue;
                };
                let name = if relative.as_os_str().is_empty() {
                    format!("{key}/")
                } else {
                    format!("{key}/{}", relative.display())
                };
                let source = entry.header();
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(kind);
                header.set_mode(mode);
                header.set_uid(source.uid()?);
                header.set_gid(source.gid()?);
                header.set_mtime(source.mtime()?);
                match kind {
                    tar::EntryType::Regular => {
                        header.set_size(entry.size());
                        builder.append_data(&mut header, &name, &mut entry)?;
                        *restored.volume_files.entry(key).or_default() += 1;
                    }
                    tar::EntryType::Directory => {
                        header.set_size(0);
                        let name = if name.ends_with('/') {
                            name
                        } else {
                            format!("{name}/")
                        };
                        builder.append_data(&mut header, name, std::io::empty())?;
                    }
                    tar::EntryType::Symlink => {
                        if let Some(link) = entry.link_name()? {
                            header.set_size(0);
                            builder.append_link(&mut header, &name, link)?;
                        }
                    }
                    tar::EntryType::Link => {
                        let link = entry.link_name()?.and_then(|link| {
                            match target(&link.to_string_lossy()) {
                                Some(Target::Volume(link_key, link_path)) if link_key == key => {
                                    Some(format!("{key}/{}", link_path.display()))
                                }
                                _ => None,
                            }
                        });
                        if let Some(link) = link {
                            header.set_size(0);
                            builder.append_link(&mut header, &name, link)?;
                        }
                    }
                    _ => {}
                }
            }
            Some(Target::Manifest) | None => {}
        }
    }
    if let Some((_, builder)) = current.take() {
        finish_volume(builder)?;
    }
    Ok(restored)
}

fn finish_volume(builder: tar::Builder<ChunkWriter>) -> anyhow::Result<()> {
    let mut writer = builder.into_inner()?;
    writer.flush()?;
    Ok(())
}

fn restore_project_entry(
    entry: &mut impl Read,
    kind: tar::EntryType,
    mode: u32,
    destination: &PathBuf,
) -> anyhow::Result<()> {
    match kind {
        tar::EntryType::Directory => {
            fs_err::create_dir_all(destination)?;
            fs_err::set_permissions(destination, std::fs::Permissions::from_mode(mode & 0o7777))?;
        }
        tar::EntryType::Regular => {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            crate::files::write_atomic(destination, &bytes, mode & 0o7777)?;
        }
        _ => {}
    }
    Ok(())
}

/// Collects tar output into chunks for the upload stream.
struct ChunkWriter {
    sender: Sender<Bytes>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the upload to Docker stopped",
            )
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::backup::write::ArchiveWriter;

    /// A volume tar as Docker's archive endpoint sends it (`mail/…`).
    fn docker_tar() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8], mode: u32, kind: tar::EntryType| {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_uid(5000);
            header.set_gid(5000);
            header.set_mtime(0);
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append_data(&mut header, path, data).unwrap();
        };
        add("mail/", b"", 0o2770, tar::EntryType::Directory);
        add(
            "mail/a/Maildir/cur/1",
            b"Subject: one\n\nbody one\n",
            0o660,
            tar::EntryType::Regular,
        );
        add(
            "mail/a/Maildir/new/2",
            b"Subject: two\n\nbody two\n",
            0o660,
            tar::EntryType::Regular,
        );
        builder.into_inner().unwrap()
    }

    fn queue_tar() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, mode) in [("queue/active/A1", 0o700), ("queue/incoming/B2", 0o600)] {
            let mut header = tar::Header::new_ustar();
            header.set_mode(mode);
            header.set_uid(100);
            header.set_gid(101);
            header.set_mtime(0);
            header.set_size(4);
            header.set_cksum();
            builder
                .append_data(&mut header, path, &b"data"[..])
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn write_archive(directory: &Path) -> PathBuf {
        let root = directory.join("project");
        crate::files::write_atomic(&root.join("mailctl.yaml"), b"version: 1\n", 0o600).unwrap();
        crate::files::write_atomic(&root.join("dkim/example.test/rsa.key"), b"KEY", 0o600).unwrap();
        let path = directory.join("archive.tar.zst");
        let file = File::create(&path).unwrap();
        let mut writer = ArchiveWriter::new(file, Box::new(|_| {})).unwrap();
        writer.add_project(&root).unwrap();
        writer.add_volume("mail", docker_tar().as_slice()).unwrap();
        writer.add_volume("queue", queue_tar().as_slice()).unwrap();
        let manifest = Manifest {
            format: FORMAT,
            project: "p".to_owned(),
            created: "2026-01-01T00:00:00Z".to_owned(),
            mailctl_version: "0".to_owned(),
            config_version: 1,
            config_sha256: String::new(),
            images: BTreeMap::new(),
            volumes: BTreeMap::new(),
            consistency: String::new(),
            files: Vec::new(),
        };
        let written = writer.finish(manifest).unwrap();
        assert_eq!(written.files.len(), 5);
        assert_eq!(written.volumes["mail"].files, 2);
        // The queue file still being written (no owner-execute bit) is left out.
        assert_eq!(written.volumes["queue"].files, 1);
        path
    }

    #[test]
    fn an_archive_verifies_and_restores_its_files() {
        let directory = tempfile::tempdir().unwrap();
        let archive = write_archive(directory.path());
        let manifest = verify(&archive, &|_| {}).unwrap();
        assert!(manifest
            .files
            .iter()
            .any(|file| file.path == "volumes/mail/a/Maildir/cur/1"));

        let target = directory.path().join("restored");
        assert_eq!(restore_project(&archive, &target).unwrap(), 2);
        assert_eq!(
            fs_err::read(target.join("dkim/example.test/rsa.key")).unwrap(),
            b"KEY"
        );
        let mode = fs_err::metadata(target.join("mailctl.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let (uploads, mut pending) = tokio::sync::mpsc::unbounded_channel();
        let reader = {
            let archive = archive.clone();
            let target = target.clone();
            std::thread::spawn(move || restore(&archive, &target, &uploads, false))
        };
        let mut volumes = BTreeMap::new();
        while let Some((key, mut chunks)) = pending.blocking_recv() {
            let mut bytes = Vec::new();
            while let Some(chunk) = chunks.blocking_recv() {
                bytes.extend_from_slice(&chunk);
            }
            let mut archive = tar::Archive::new(bytes.as_slice());
            let names: Vec<(String, u64)> = archive
                .entries()
                .unwrap()
                .map(|entry| {
                    let entry = entry.unwrap();
                    (
                        entry.path().unwrap().display().to_string(),
                        entry.header().uid().unwrap(),
                    )
                })
                .collect();
            volumes.insert(key, names);
        }
        let restored = reader.join().unwrap().unwrap();
        assert_eq!(restored.volume_files["mail"], 2);
        assert_eq!(
            volumes["mail"],
            vec![
                ("mail/".to_owned(), 5000),
                ("mail/a/Maildir/cur/1".to_owned(), 5000),
                ("mail/a/Maildir/new/2".to_owned(), 5000)
            ]
        );
        assert_eq!(volumes["queue"], vec![("queue/active/A1".to_owned(), 100)]);
    }

    #[test]
    fn a_flipped_byte_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let archive = write_archive(directory.path());
        let mut bytes = fs_err::read(&archive).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        let damaged = directory.path().join("damaged.tar.zst");
        fs_err::write(&damaged, &bytes).unwrap();
        let error = verify(&damaged, &|_| {}).unwrap_err();
        assert!(format!("{error:#}").contains("is damaged"), "{error:#}");
        // A cut-short archive is refused too.
        fs_err::write(&damaged, &fs_err::read(&archive).unwrap()[..middle]).unwrap();
        assert!(verify(&damaged, &|_| {}).is_err());
    }
}
