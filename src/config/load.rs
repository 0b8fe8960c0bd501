//! Reading and writing `mailctl.yaml`: a size cap and parser budgets against
//! hostile input, errors with the file, line and column, atomic saves.

use std::fmt;
use std::path::{Path, PathBuf};

use super::locate::{Locations, Position};
use super::{validate, Config, Issue};
use crate::files;

pub const CONFIG_FILE: &str = "mailctl.yaml";

/// A config larger than this is refused before parsing (5,000 mailboxes
/// take about 1 MiB).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug)]
pub enum ConfigError {
    Missing {
        path: PathBuf,
    },
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    TooLarge {
        path: PathBuf,
        bytes: u64,
    },
    Syntax {
        path: PathBuf,
        message: String,
    },
    Invalid {
        path: PathBuf,
        issues: Vec<(Issue, Option<Position>)>,
    },
}

impl ConfigError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Missing { .. } => Some(
                "create a project with `mailctl init`, or point at one with `--dir DIR`".into(),
            ),
            ConfigError::TooLarge { .. } => Some(format!(
                "a configuration is at most {} MiB; check that this is the right file",
                MAX_CONFIG_BYTES >> 20
            )),
            ConfigError::Syntax { .. } => {
                Some("fix the YAML at the position shown; unknown keys are errors".into())
            }
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing { path } => {
                write!(f, "no configuration at `{}`", path.display())
            }
            ConfigError::Read { path, source } => {
                write!(f, "cannot read `{}`: {source}", path.display())
            }
            ConfigError::TooLarge { path, bytes } => write!(
                f,
                "`{}` is {bytes} bytes, over the limit of {MAX_CONFIG_BYTES} bytes",
                path.display()
            ),
            ConfigError::Syntax { path, message } => {
                write!(f, "`{}` cannot be read: {message}", path.display())
            }
            ConfigError::Invalid { path, issues } => {
                let count = issues.len();
                write!(
                    f,
                    "`{}` has {count} problem{}",
                    path.display(),
                    if count == 1 { "" } else { "s" }
                )?;
                for (issue, position) in issues {
                    write!(f, "\n  --> {}", path.display())?;
                    if let Some(position) = position {
                        write!(f, ":{}:{}", position.line, position.column)?;
                    }
                    write!(f, " ({}): {}", issue.path, issue.message)?;
                    if let Some(hint) = &issue.hint {
                        write!(f, "\n      hint: {hint}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Loads, validates and normalises the configuration at `path`.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing {
                path: path.to_owned(),
            })
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            bytes: metadata.len(),
        });
    }
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_str(&source, path)
}

/// Parses and validates configuration text; `path` only labels errors.
pub fn parse_str(source: &str, path: &Path) -> Result<Config, ConfigError> {
    if source.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            bytes: source.len() as u64,
        });
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 64,
        },
    };
    let config: Config = serde_saphyr::from_str_with_options(source, options).map_err(|error| {
        // Name the file in the snippet (`--> mailctl.yaml:9:9`), not `<input>`.
        let name = path.display().to_string();
        let rendered = error.render_with_options(serde_saphyr::render_options! {
            source_name: Some(name.as_str()),
        });
        let rendered = rendered.strip_prefix("error: ").unwrap_or(&rendered);
        // The snippet's `-->` line counts columns from the cropped window on
        // long lines; write it from the error's own location instead.
        let mut message = match error.location().filter(|location| location.line() > 0) {
            Some(location) => rendered
                .lines()
                .map(|line| match line.split_once("--> ") {
                    Some((indent, _)) if indent.trim().is_empty() => {
                        format!(
                            "{indent}--> {name}:{}:{}",
                            location.line(),
                            location.column()
                        )
                    }
                    _ => line.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            None => rendered.to_owned(),
        };
        if matches!(error.without_snippet(), serde_saphyr::Error::Budget { .. }) {
            message = format!(
                "it exceeds the parser's limits (at most 1000 YAML anchors and aliases, 64 levels \
                 of nesting), as a YAML bomb would: {message}"
            );
        }
        ConfigError::Syntax {
            path: path.to_owned(),
            message,
        }
    })?;
    validate(config).map_err(|issues| {
        let locations = Locations::index(source);
        ConfigError::Invalid {
            path: path.to_owned(),
            issues: issues
                .into_iter()
                .map(|issue| {
                    let position = locations.find(&issue.path);
                    (issue, position)
                })
                .collect(),
        }
    })
}

/// Serialises `config` with a header comment.
pub fn to_yaml(config: &Config) -> anyhow::Result<String> {
    let body = serde_saphyr::to_string(config)?;
    Ok(format!(
        "# mailctl configuration: the single source of truth for this mail server.\n\
         # Edit with `mailctl` commands or by hand, then run `mailctl render`.\n{body}"
    ))
}

/// Validates `config` and writes it atomically with mode 0600 (it holds
/// password hashes).
pub fn save_file(path: &Path, config: &Config) -> anyhow::Result<Config> {
    let validated = validate(config.clone()).map_err(|issues| ConfigError::Invalid {
        path: path.to_owned(),
        issues: issues.into_iter().map(|issue| (issue, None)).collect(),
    })?;
    let text = to_yaml(&validated)?;
    // Re-read what will be written, so a serialisation quirk can never leave a
    // file that the next command refuses.
    parse_str(&text, path)?;
    files::write_atomic(path, text.as_bytes(), 0o600)?;
    Ok(validated)
}
