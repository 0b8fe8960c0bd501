//! Writing an archive, synchronously (run it in `spawn_blocking`): tar
//! entries go through zstd straight into the file, each regular file hashed
//! as it passes, so memory stays flat however large the mailboxes are.
//! Volume contents arrive as Docker's tar stream in chunks over a channel;
//! their entries are re-written under `volumes/<key>/`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::{Buf, Bytes};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::Receiver;

use super::{
    skip_queue_file, volume_entry_path, FileEntry, Manifest, VolumeSummary, MANIFEST,
    PROJECT_ENTRIES, PROJECT_PREFIX,
};

/// zstd's default level: `zstd` on the command line uses the same.
pub const LEVEL: i32 = 3;
/// A progress line every this many bytes.
const PROGRESS_STEP: u64 = 64 << 20;

/// What the async side sends the writer.
#[derive(Debug)]
pub enum Item {
    /// A volume's tar stream begins; `Chunk`s follow, then `End`.
    Volume {
        key: String,
    },
    Chunk(Bytes),
    End,
}

/// An archive being written.
pub struct ArchiveWriter {
    builder: tar::Builder<zstd::stream::write::Encoder<'static, BufWriter<File>>>,
    files: Vec<FileEntry>,
    volumes: BTreeMap<String, VolumeSummary>,
    bytes: u64,
    next_report: u64,
    report: Box<dyn Fn(String) + Send>,
}

impl ArchiveWriter {
    /// Starts an archive in `file`; `report` receives progress lines.
    pub fn new(file: File, report: Box<dyn Fn(String) + Send>) -> anyhow::Result<Self> {
        let mut encoder =
            zstd::stream::write::Encoder::new(BufWriter::with_capacity(1 << 20, file), LEVEL)
                .context("cannot start the zstd compressor")?;
        encoder
            .include_checksum(true)
            .context("cannot configure the zstd compressor")?;
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Complete);
        Ok(ArchiveWriter {
            builder,
            files: Vec::new(),
            volumes: BTreeMap::new(),
            bytes: 0,
            next_report: PROGRESS_STEP,
            report,
        })
    }

    /// Adds the project's own files (see [`PROJECT_ENTRIES`]) under `project/`.
    pub fn add_project(&mut self, root: &Path) -> anyhow::Result<()> {
        for name in PROJECT_ENTRIES {
            let path = root.join(name);
            if std::fs::symlink_metadata(&path).is_ok() {
                self.add_host_path(&path, &format!("{PROJECT_PREFIX}/{name}"))?;
            }
        }
        Ok(())
    }

    fn add_host_path(&mut self, path: &Path, name: &str) -> anyhow::Result<()> {
        let metadata = fs_err::symlink_metadata(path)?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&metadata, tar::HeaderMode::Complete);
        if metadata.is_dir() {
            header.set_size(0);
            self.builder
                .append_data(&mut header, format!("{name}/"), std::io::empty())
                .with_context(|| format!("cannot add `{}` to the archive", path.display()))?;
            let mut children: Vec<PathBuf> = fs_err::read_dir(path)?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect();
            children.sort();
            for child in children {
                let Some(file_name) = child.file_name().and_then(|name| name.to_str()) else {
                    continue;
                };
                // Temporary files of an interrupted atomic write.
                if file_name.starts_with(".mailctl-") {
                    continue;
                }
                let child_name = format!("{name}/{file_name}");
                self.add_host_path(&child, &child_name)?;
            }
        } else if metadata.file_type().is_symlink() {
            let target = fs_err::read_link(path)?;
            header.set_size(0);
            self.builder
                .append_link(&mut header, name, &target)
                .with_context(|| format!("cannot add `{}` to the archive", path.display()))?;
        } else if metadata.is_file() {
            let file = fs_err::File::open(path)?;
            self.append_file(&mut header, name, file)
                .with_context(|| format!("cannot add `{}` to the archive", path.display()))?;
        }
        Ok(())
    }

    /// Appends a regular file, hashing it on the way.
    fn append_file(
        &mut self,
        header: &mut tar::Header,
        name: &str,
        reader: impl Read,
    ) -> anyhow::Result<()> {
        let size = header.size()?;
        let mut hashing = Hashing {
            inner: reader,
            hasher: Sha256::new(),
            count: 0,
        };
        self.builder.append_data(header, name, &mut hashing)?;
        if hashing.count != size {
            anyhow::bail!("`{name}` changed size while it was read");
        }
        self.files.push(FileEntry {
            path: name.to_owned(),
            size,
            sha256: hex::encode(hashing.hasher.finalize()),
        });
        self.bytes += size;
        if self.bytes >= self.next_report {
            self.next_report = self.bytes + PROGRESS_STEP;
            (self.report)(format!(
                "{} files, {} read",
                self.files.len(),
                super::human_bytes(self.bytes)
            ));
        }
        Ok(())
    }

    /// Reads the volume streams `items` brings until the channel closes.
    pub fn add_volumes(&mut self, items: &mut Receiver<Item>) -> anyhow::Result<()> {
        while let Some(item) = items.blocking_recv() {
            match item {
                Item::Volume { key } => {
                    let mut reader = ChannelReader {
                        items,
                        current: Bytes::new(),
                        done: false,
                    };
                    self.add_volume(&key, &mut reader)?;
                    // Docker's tar may end with padding the parser left.
                    std::io::copy(&mut reader, &mut std::io::sink())?;
                }
                Item::Chunk(_) | Item::End => {
                    anyhow::bail!("volume data arrived outside a volume stream")
                }
            }
        }
        Ok(())
    }

    /// Copies one volume's tar (Docker's format) into the archive.
    pub fn add_volume(&mut self, key: &str, reader: impl Read) -> anyhow::Result<VolumeSummary> {
        let mut summary = VolumeSummary::default();
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .with_context(|| format!("cannot read volume `{key}`'s archive stream"))?;
        for entry in entries {
            let mut entry =
                entry.with_context(|| format!("cannot read volume `{key}`'s archive stream"))?;
            let inner = entry.path()?.into_owned();
            let Some(name) = volume_entry_path(key, &inner) else {
                anyhow::bail!(
                    "volume `{key}`'s archive holds an unsafe path `{}`",
                    inner.display()
                );
            };
            let in_volume = PathBuf::from(
                name.trim_start_matches(&format!("{}/{key}/", super::VOLUMES_PREFIX)),
            );
            let source = entry.header();
            let mode = source.mode()?;
            let mut header = tar::Header::new_gnu();
            header.set_mode(mode);
            header.set_uid(source.uid()?);
            header.set_gid(source.gid()?);
            header.set_mtime(source.mtime()?);
            let kind = source.entry_type();
            header.set_entry_type(kind);
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if skip_queue_file(key, &in_volume, mode) {
                        continue;
                    }
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(entry.size());
                    self.append_file(&mut header, &name, &mut entry)?;
                    summary.files += 1;
                    summary.bytes += entry.size();
                }
                tar::EntryType::Directory => {
                    header.set_size(0);
                    let name = if name.ends_with('/') {
                        name
                    } else {
                        format!("{name}/")
                    };
                    self.builder
                        .append_data(&mut header, name, std::io::empty())?;
                }
                tar::EntryType::Symlink => {
                    let Some(target) = entry.link_name()?.map(|target| target.into_owned()) else {
                        continue;
                    };
                    header.set_size(0);
                    self.builder.append_link(&mut header, &name, target)?;
                }
                tar::EntryType::Link => {
                    let Some(target) = entry
                        .link_name()?
                        .and_then(|target| volume_entry_path(key, &target))
                    else {
                        continue;
                    };
                    header.set_size(0);
                    self.builder.append_link(&mut header, &name, target)?;
                }
                // Devices, fifos and sockets are not mail.
                _ => {}
            }
        }
        let total = self.volumes.entry(key.to_owned()).or_default();
        total.files += summary.files;
        total.bytes += summary.bytes;
        (self.report)(format!(
            "volume {key}: {} files, {}",
            summary.files,
            super::human_bytes(summary.bytes)
        ));
        Ok(summary)
    }

    /// The volumes read so far.
    pub fn volumes(&self) -> &BTreeMap<String, VolumeSummary> {
        &self.volumes
    }

    /// Writes the manifest (with every file this writer added) as the last
    /// entry and closes the archive.
    pub fn finish(mut self, mut manifest: Manifest) -> anyhow::Result<Manifest> {
        manifest.files = std::mem::take(&mut self.files);
        manifest.volumes = self.volumes.clone();
        let json = serde_json::to_vec_pretty(&manifest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(0);
        self.builder
            .append_data(&mut header, MANIFEST, json.as_slice())?;
        let encoder = self.builder.into_inner()?;
        let mut writer = encoder.finish()?;
        writer.flush()?;
        let file = writer.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()
            .context("cannot flush the archive to disk")?;
        Ok(manifest)
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..read]);
        self.count += read as u64;
        Ok(read)
    }
}

/// One volume's tar stream, read from the channel until `End`.
struct ChannelReader<'a> {
    items: &'a mut Receiver<Item>,
    current: Bytes,
    done: bool,
}

impl Read for ChannelReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.items.blocking_recv() {
                Some(Item::Chunk(bytes)) => self.current = bytes,
                Some(Item::End) => self.done = true,
                Some(Item::Volume { .. }) | None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the volume's stream from Docker ended early",
                    ))
                }
            }
        }
        let count = buffer.len().min(self.current.len());
        buffer[..count].copy_from_slice(&self.current[..count]);
        self.current.advance(count);
        Ok(count)
    }
}
