//! Backups: one `.tar.zst` archive per run holding the project's own files
//! (`project/…`: mailctl.yaml, secrets, DKIM keys, certificates and the ACME
//! account, overrides) and the contents of the named volumes
//! (`volumes/<key>/…`: every mailbox, the mail queue, Rspamd's and Redis's
//! data, ACME challenge files), read through Docker's archive endpoint, and
//! last a manifest (`MANIFEST.json`) with every file's size and SHA-256, the
//! versions and the config hash.
//!
//! This module decides (names, paths, pruning, what a manifest must match);
//! `write` and `read` stream archives in blocking threads.

pub mod read;
pub mod take;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The manifest's name in the archive: its last entry.
pub const MANIFEST: &str = "MANIFEST.json";
/// The archive layout this build writes and reads.
pub const FORMAT: u32 = 1;
/// Archive names: `mailctl-<project>-<UTC time>.tar.zst`.
pub const EXTENSION: &str = ".tar.zst";
/// Where the project's files sit in the archive.
pub const PROJECT_PREFIX: &str = "project";
/// Where volume contents sit in the archive.
pub const VOLUMES_PREFIX: &str = "volumes";

/// The project's files and folders that a backup holds (relative to the
/// project directory). `generated/` is left out: `up` renders it again.
pub const PROJECT_ENTRIES: [&str; 5] = [
    crate::config::CONFIG_FILE,
    "secrets",
    "dkim",
    "certs",
    "overrides",
];

/// The archive's table of contents, written last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub project: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub mailctl_version: String,
    pub config_version: u32,
    /// SHA-256 of mailctl.yaml as it was backed up.
    pub config_sha256: String,
    /// The image each service ran (reference → image id), when known.
    pub images: BTreeMap<String, String>,
    /// Per volume key: files and bytes.
    pub volumes: BTreeMap<String, VolumeSummary>,
    /// How new deliveries were held while the volumes were read.
    pub consistency: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSummary {
    pub files: u64,
    pub bytes: u64,
}

/// One regular file of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// What reading an archive found for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub size: u64,
    pub sha256: String,
}

/// A difference between the manifest and the archive's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The file's bytes do not match the manifest.
    Checksum { path: String },
    /// The manifest lists a file the archive lacks.
    Missing { path: String },
    /// The archive holds a file the manifest does not list.
    Unlisted { path: String },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Checksum { path } => write!(f, "`{path}` does not match its checksum"),
            Damage::Missing { path } => write!(f, "`{path}` is listed but missing"),
            Damage::Unlisted { path } => write!(f, "`{path}` is not in the manifest"),
        }
    }
}

/// Compares what was read with the manifest: every listed file present
/// with its size and checksum, nothing else.
pub fn check(manifest: &Manifest, seen: &BTreeMap<String, Seen>) -> Vec<Damage> {
    let mut damage = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for file in &manifest.files {
        listed.insert(file.path.as_str());
        match seen.get(&file.path) {
            None => damage.push(Damage::Missing {
                path: file.path.clone(),
            }),
            Some(found) if found.size != file.size || found.sha256 != file.sha256 => {
                damage.push(Damage::Checksum {
                    path: file.path.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for path in seen.keys() {
        if !listed.contains(path.as_str()) {
            damage.push(Damage::Unlisted { path: path.clone() });
        }
    }
    damage
}

/// The archive's file name for `project` at `timestamp` (`YYYYMMDDTHHMMSSZ`).
pub fn archive_name(project: &str, timestamp: &str) -> String {
    format!("mailctl-{project}-{timestamp}{EXTENSION}")
}

/// Of the archive names in a folder, those of `project` to delete so that
/// the newest `keep` stay (names sort by time).
pub fn to_prune(names: &[String], project: &str, keep: usize) -> Vec<String> {
    let prefix = format!("mailctl-{project}-");
    let mut ours: Vec<&String> = names
        .iter()
        .filter(|name| {
            name.strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(EXTENSION))
                .is_some_and(is_timestamp)
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep);
    ours.into_iter().take(excess).cloned().collect()
}

fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[9..15].iter().all(u8::is_ascii_digit)
}

/// The path of a volume's entry in the archive. `inner` is Docker's entry
/// path, whose first component is the mount point's own name.
pub fn volume_entry_path(key: &str, inner: &Path) -> Option<String> {
    let mut components = inner.components();
    components.next()?;
    let rest = relative(components.as_path())?;
    Some(if rest.as_os_str().is_empty() {
        format!("{VOLUMES_PREFIX}/{key}/")
    } else {
        format!("{VOLUMES_PREFIX}/{key}/{}", rest.display())
    })
}

/// What an archive path restores: a project file, or a file of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Project(PathBuf),
    /// The volume key and the path inside it (empty: the volume's root).
    Volume(String, PathBuf),
    Manifest,
}

/// Where an archive entry goes; `None` for paths that could escape their
/// place (absolute, `..`) or that this format does not know.
pub fn target(path: &str) -> Option<Target> {
    if path == MANIFEST {
        return Some(Target::Manifest);
    }
    let path = Path::new(path);
    let mut components = path.components();
    let first = components.next()?.as_os_str().to_str()?.to_owned();
    match first.as_str() {
        PROJECT_PREFIX => {
            let rest = relative(components.as_path())?;
            (!rest.as_os_str().is_empty()).then_some(Target::Project(rest))
        }
        VOLUMES_PREFIX => {
            let key = components.next()?.as_os_str().to_str()?.to_owned();
            if key.is_empty() || key.contains(['.', '/']) {
                return None;
            }
            Some(Target::Volume(key, relative(components.as_path())?))
        }
        _ => None,
    }
}

/// `path` when it is plain and relative (no root, no `..`), without `.`.
fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Postfix marks a queue file complete by setting its owner-execute bit; a
/// file under `incoming/` or `maildrop/` without it is still being written
/// (a message arriving right now). Such a file is left out of the archive,
/// so an archive never holds half a message: the message is delivered from
/// the live queue, and a restored queue does not have it.
pub fn skip_queue_file(key: &str, path_in_volume: &Path, mode: u32) -> bool {
    if key != "queue" {
        return false;
    }
    let first = path_in_volume
        .components()
        .next()
        .and_then(|component| component.as_os_str().to_str());
    matches!(first, Some("incoming" | "maildrop")) && mode & 0o100 == 0
}

/// The archive's creation time: `YYYYMMDDTHHMMSSZ` and RFC 3339.
pub fn timestamps(now: time::OffsetDateTime) -> (String, String) {
    let now = now.to_offset(time::UtcOffset::UTC);
    let compact = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let rfc3339 = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    (compact, rfc3339)
}

/// Bytes as a short human figure (`1.5 GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: &[(&str, u64, &str)]) -> Manifest {
        Manifest {
            format: FORMAT,
            project: "p".to_owned(),
            created: "2026-01-01T00:00:00Z".to_owned(),
            mailctl_version: "0".to_owned(),
            config_version: 1,
            config_sha256: String::new(),
            images: BTreeMap::new(),
            volumes: BTreeMap::new(),
            consistency: String::new(),
            files: files
                .iter()
                .map(|(path, size, sha)| FileEntry {
                    path: (*path).to_owned(),
                    size: *size,
                    sha256: (*sha).to_owned(),
                })
                .collect(),
        }
    }

    fn seen(files: &[(&str, u64, &str)]) -> BTreeMap<String, Seen> {
        files
            .iter()
            .map(|(path, size, sha)| {
                (
                    (*path).to_owned(),
                    Seen {
                        size: *size,
                        sha256: (*sha).to_owned(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_matching_archive_has_no_damage() {
        let files = [("a", 1, "x"), ("b", 2, "y")];
        assert!(check(&manifest(&files), &seen(&files)).is_empty());
    }

    #[test]
    fn each_kind_of_damage_names_the_file() {
        let damage = check(
            &manifest(&[("a", 1, "x"), ("b", 2, "y"), ("c", 3, "z")]),
            &seen(&[("a", 1, "x"), ("b", 2, "Y"), ("d", 4, "w")]),
        );
        assert_eq!(
            damage,
            vec![
                Damage::Checksum {
                    path: "b".to_owned()
                },
                Damage::Missing {
                    path: "c".to_owned()
                },
                Damage::Unlisted {
                    path: "d".to_owned()
                },
            ]
        );
        assert_eq!(damage[0].to_string(), "`b` does not match its checksum");
    }

    #[test]
    fn pruning_keeps_the_newest_of_this_project_only() {
        let names: Vec<String> = [
            "mailctl-p-20260101T000000Z.tar.zst",
            "mailctl-p-20260103T000000Z.tar.zst",
            "mailctl-p-20260102T000000Z.tar.zst",
            "mailctl-other-20250101T000000Z.tar.zst",
            "mailctl-p-notes.tar.zst",
            "unrelated.txt",
        ]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
        assert_eq!(
            to_prune(&names, "p", 2),
            vec!["mailctl-p-20260101T000000Z.tar.zst".to_owned()]
        );
        assert_eq!(to_prune(&names, "p", 5), Vec::<String>::new());
        assert_eq!(to_prune(&names, "p", 0).len(), 3);
    }

    #[test]
    fn volume_entries_drop_the_mount_point_name() {
        assert_eq!(
            volume_entry_path("mail", Path::new("mail/example.test/bob/cur/1")).as_deref(),
            Some("volumes/mail/example.test/bob/cur/1")
        );
        assert_eq!(
            volume_entry_path("mail", Path::new("mail/")).as_deref(),
            Some("volumes/mail/")
        );
        assert_eq!(volume_entry_path("mail", Path::new("mail/../x")), None);
    }

    #[test]
    fn targets_refuse_escaping_paths() {
        assert_eq!(
            target("project/mailctl.yaml"),
            Some(Target::Project(PathBuf::from("mailctl.yaml")))
        );
        assert_eq!(
            target("volumes/queue/active/AB12"),
            Some(Target::Volume(
                "queue".to_owned(),
                PathBuf::from("active/AB12")
            ))
        );
        assert_eq!(
            target("volumes/mail/"),
            Some(Target::Volume("mail".to_owned(), PathBuf::new()))
        );
        assert_eq!(target(MANIFEST), Some(Target::Manifest));
        assert_eq!(target("project/../etc/passwd"), None);
        assert_eq!(target("/etc/passwd"), None);
        assert_eq!(target("volumes/../x"), None);
        assert_eq!(target("project"), None);
        assert_eq!(target("other/file"), None);
    }

    #[test]
    fn incomplete_queue_files_are_skipped() {
        assert!(skip_queue_file("queue", Path::new("incoming/A1"), 0o600));
        assert!(!skip_queue_file("queue", Path::new("incoming/A1"), 0o700));
        assert!(skip_queue_file("queue", Path::new("maildrop/B2"), 0o644));
        assert!(!skip_queue_file("queue", Path::new("deferred/C/C3"), 0o600));
        assert!(!skip_queue_file("mail", Path::new("incoming/A1"), 0o600));
    }

    #[test]
    fn timestamps_are_compact_and_rfc3339() {
        let at = time::macros::datetime!(2026-11-27 21:05:09 UTC);
        assert_eq!(
            timestamps(at),
            (
                "20261127T210509Z".to_owned(),
                "2026-11-27T21:05:09Z".to_owned()
            )
        );
        assert_eq!(
            archive_name("p", "20261127T210509Z"),
            "mailctl-p-20261127T210509Z.tar.zst"
        );
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
