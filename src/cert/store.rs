//! Certificate files under the project's `certs/`:
//!
//! ```text
//! certs/accounts/<ACME host>.json   ACME account credentials (0600), one per server
//! certs/acme/<id>/fullchain.pem     each certificate from the ACME server,
//! certs/acme/<id>/privkey.pem       with its key (0600)
//! certs/live/{fullchain,privkey}.pem  what the services serve (the first certificate)
//! certs/state.json                  each certificate's last attempt and result
//! ```

use std::path::PathBuf;

use anyhow::Context;

use super::{CertificateInfo, State};
use crate::files;
use crate::project::Project;
use crate::tls::{CERTIFICATE_FILE, KEY_FILE};

pub const STATE_FILE: &str = "state.json";

/// Where the account for `directory` is kept: one file per server host, so
/// staging and production accounts never mix.
pub fn account_path(project: &Project, directory: &str) -> PathBuf {
    let host: String = directory
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '.' || character == '-' {
                character
            } else {
                '_'
            }
        })
        .collect();
    project
        .certs_dir()
        .join("accounts")
        .join(format!("{host}.json"))
}

pub fn certificate_dir(project: &Project, id: &str) -> PathBuf {
    project.certs_dir().join("acme").join(id)
}

/// The chain and key of the ACME certificate `id`, if it exists.
pub fn read_certificate(project: &Project, id: &str) -> anyhow::Result<Option<(String, String)>> {
    let directory = certificate_dir(project, id);
    let chain = directory.join(CERTIFICATE_FILE);
    let key = directory.join(KEY_FILE);
    if !chain.exists() || !key.exists() {
        return Ok(None);
    }
    Ok(Some((
        fs_err::read_to_string(&chain)?,
        fs_err::read_to_string(&key)?,
    )))
}

/// Parsed details of the ACME certificate `id`, if it exists and parses.
pub fn certificate_info(project: &Project, id: &str) -> Option<CertificateInfo> {
    let chain = certificate_dir(project, id).join(CERTIFICATE_FILE);
    let bytes = std::fs::read(chain).ok()?;
    super::parse_certificate(&bytes).ok()
}

/// The key the hostname's certificate will use at the next rollover, made
/// ahead so its TLSA record is published before it serves (`tls.reuse_key`).
pub fn next_key_path(project: &Project) -> PathBuf {
    project.certs_dir().join("next-key.pem")
}

/// The next key's PEM, if there is one.
pub fn read_next_key(project: &Project) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(next_key_path(project)) {
        Ok(pem) => Ok(Some(pem)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Writes `pem` as the next key (0600), replacing any.
pub fn write_next_key(project: &Project, pem: &str) -> anyhow::Result<()> {
    files::create_private_dir(&project.certs_dir(), 0o700)?;
    files::write_atomic(&next_key_path(project), pem.as_bytes(), 0o600)
}

/// Keeps a new certificate and key as `certs/acme/<id>/`.
pub fn save_certificate(project: &Project, id: &str, chain: &str, key: &str) -> anyhow::Result<()> {
    let directory = certificate_dir(project, id);
    files::create_private_dir(&project.certs_dir(), 0o700)?;
    files::create_private_dir(&directory, 0o700)?;
    let key_path = directory.join(KEY_FILE);
    let chain_path = directory.join(CERTIFICATE_FILE);
    files::write_batch_atomic(&[
        (key_path.as_path(), key.as_bytes(), 0o600),
        (chain_path.as_path(), chain.as_bytes(), 0o644),
    ])
}

/// Puts a certificate and key in `certs/live`, which the services mount.
pub fn install_live(project: &Project, chain: &str, key: &str) -> anyhow::Result<()> {
    let live = project.live_certs_dir();
    files::create_private_dir(&live, 0o700)?;
    let key_path = live.join(KEY_FILE);
    let chain_path = live.join(CERTIFICATE_FILE);
    files::write_batch_atomic(&[
        (key_path.as_path(), key.as_bytes(), 0o600),
        (chain_path.as_path(), chain.as_bytes(), 0o644),
    ])
}

/// Puts a certificate after the first in `certs/live/extra/<id>/`, which
/// nginx serves for its names.
pub fn install_extra(project: &Project, id: &str, chain: &str, key: &str) -> anyhow::Result<()> {
    let directory = project.live_certs_dir().join(super::EXTRA_DIR).join(id);
    files::create_private_dir(&directory, 0o700)?;
    let key_path = directory.join(KEY_FILE);
    let chain_path = directory.join(CERTIFICATE_FILE);
    files::write_batch_atomic(&[
        (key_path.as_path(), key.as_bytes(), 0o600),
        (chain_path.as_path(), chain.as_bytes(), 0o644),
    ])
}

/// Makes sure every certificate after the first has a file in
/// `certs/live/extra/` (a temporary self-signed one until it is issued),
/// so nginx, which names them, starts. Returns the ids created.
pub fn ensure_extra_placeholders(
    project: &Project,
    config: &crate::config::Config,
) -> anyhow::Result<Vec<String>> {
    let mut created = Vec::new();
    if config.tls.mode != crate::config::TlsMode::Letsencrypt {
        return Ok(created);
    }
    for plan in super::certificate_plans(config).iter().skip(1) {
        let directory = project
            .live_certs_dir()
            .join(super::EXTRA_DIR)
            .join(&plan.id);
        if crate::tls::ensure_self_signed(&directory, &plan.names)? {
            created.push(plan.id.clone());
        }
    }
    Ok(created)
}

/// The certificate in service for the names of certificate `id` after the
/// first (`certs/live/extra/<id>`), if any.
pub fn extra_live_info(project: &Project, id: &str) -> Option<CertificateInfo> {
    let path = project
        .live_certs_dir()
        .join(super::EXTRA_DIR)
        .join(id)
        .join(CERTIFICATE_FILE);
    super::parse_certificate(&std::fs::read(path).ok()?).ok()
}

/// The certificate in service (`certs/live`), if any.
pub fn live_info(project: &Project) -> Option<CertificateInfo> {
    let bytes = std::fs::read(project.live_certs_dir().join(CERTIFICATE_FILE)).ok()?;
    super::parse_certificate(&bytes).ok()
}

pub fn read_state(project: &Project) -> anyhow::Result<State> {
    let path = state_path(project);
    if !path.exists() {
        return Ok(State::default());
    }
    let text = fs_err::read(&path)?;
    serde_json::from_slice(&text).with_context(|| {
        format!(
            "`{}` is not a certificate state file; remove it and it is written afresh",
            path.display()
        )
    })
}

pub fn write_state(project: &Project, state: &State) -> anyhow::Result<()> {
    files::create_private_dir(&project.certs_dir(), 0o700)?;
    let mut json = serde_json::to_vec_pretty(state)?;
    json.push(b'\n');
    files::write_atomic(&state_path(project), &json, 0o644)
}

fn state_path(project: &Project) -> PathBuf {
    project.certs_dir().join(STATE_FILE)
}
