//! The project directory on the host and the fixed places inside it.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{self, Config};

#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// `root` is made absolute so that bind mounts and messages are unambiguous.
    pub fn new(root: &Path) -> anyhow::Result<Self> {
        let root = if root.is_absolute() {
            root.to_owned()
        } else {
            std::env::current_dir()
                .context("cannot read the current directory")?
                .join(root)
        };
        Ok(Project { root: clean(&root) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join(config::CONFIG_FILE)
    }

    pub fn secrets_dir(&self) -> PathBuf {
        self.root.join("secrets")
    }

    pub fn dkim_dir(&self) -> PathBuf {
        self.root.join("dkim")
    }

    pub fn dkim_key_path(&self, domain: &str, selector: &str) -> PathBuf {
        self.dkim_dir().join(domain).join(format!("{selector}.key"))
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }

    /// The certificate and key every service serves, mounted read-only.
    pub fn live_certs_dir(&self) -> PathBuf {
        self.certs_dir().join("live")
    }

    pub fn generated_dir(&self) -> PathBuf {
        self.root.join("generated")
    }

    pub fn overrides_dir(&self) -> PathBuf {
        self.root.join("overrides")
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }

    pub fn load_config(&self) -> Result<Config, config::ConfigError> {
        config::load_file(&self.config_path())
    }

    /// Takes the project lock, so that two commands changing the project
    /// cannot interleave. Released when the returned guard drops.
    pub fn lock(&self) -> anyhow::Result<ProjectLock> {
        fs_err::create_dir_all(&self.root)?;
        let path = self.root.join(".mailctl.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file `{}`", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock `{}`", path.display()))?;
        Ok(ProjectLock { _file: file })
    }
}

pub struct ProjectLock {
    _file: File,
}

/// Removes `.` and `..` components without touching the file system.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
