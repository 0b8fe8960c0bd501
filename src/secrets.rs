//! Generated secrets: random values created once at `init`, kept in
//! `secrets/` (0700) as 0600 files, never rewritten, never printed.

use std::fmt;
use std::path::Path;

use anyhow::Context;

use crate::files;
use crate::passwords;

/// The stack's shared secrets. `Debug` never shows a value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// Password of Rspamd's web interface and controller.
    pub rspamd_controller_password: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("rspamd_controller_password", &"<redacted>")
            .finish()
    }
}

const FILES: [&str; 1] = ["rspamd-controller-password"];

impl Secrets {
    /// Fixed values for golden tests.
    pub fn fixed_for_tests() -> Self {
        Secrets {
            rspamd_controller_password: "test-controller-password".to_owned(),
        }
    }

    /// Reads the secrets, creating any that are missing; existing files are
    /// never replaced.
    pub fn load_or_create(directory: &Path) -> anyhow::Result<Self> {
        files::create_private_dir(directory, 0o700)?;
        let mut values = Vec::new();
        for name in FILES {
            let path = directory.join(name);
            let value = match std::fs::read_to_string(&path) {
                Ok(value) => value.trim().to_owned(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    let value = passwords::generate(32);
                    files::write_atomic(&path, format!("{value}\n").as_bytes(), 0o600)?;
                    value
                }
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("cannot read secret `{}`", path.display()))
                }
            };
            if value.is_empty() {
                anyhow::bail!(
                    "secret `{}` is empty\nhint: delete the file and run `mailctl init` again to generate a new one",
                    path.display()
                );
            }
            values.push(value);
        }
        let mut values = values.into_iter();
        Ok(Secrets {
            rspamd_controller_password: values.next().unwrap_or_default(),
        })
    }

    /// Reads existing secrets without creating any.
    pub fn load(directory: &Path) -> anyhow::Result<Self> {
        for name in FILES {
            let path = directory.join(name);
            if !path.exists() {
                anyhow::bail!(
                    "secret `{}` is missing\nhint: run `mailctl init` in this project to create it (existing files are kept)",
                    path.display()
                );
            }
        }
        Self::load_or_create(directory)
    }
}
