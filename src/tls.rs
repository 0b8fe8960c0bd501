//! Self-signed certificates (rcgen) for `tls.mode: self-signed`, so every
//! port runs TLS before any ACME exchange, and the names a certificate for
//! this configuration must cover.

/// The TLS 1.2 cipher suites of Mozilla's "intermediate" profile that need
/// no Diffie-Hellman parameters (no DHE: every client that would pick it
/// also offers ECDHE), strongest and fastest first. Every TLS port but 25
/// offers only these (and TLS 1.3's own suites).
pub const INTERMEDIATE_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

use std::path::Path;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::config::Config;
use crate::files;

pub const CERTIFICATE_FILE: &str = "fullchain.pem";
pub const KEY_FILE: &str = "privkey.pem";

/// The hostname, then per domain `mta-sts.`, `autoconfig.` and
/// `autodiscover.` names, in a fixed order without duplicates.
pub fn certificate_names(config: &Config) -> Vec<String> {
    let mut names = vec![config.hostname.clone()];
    for domain in &config.domains {
        for prefix in ["mta-sts", "autoconfig", "autodiscover"] {
            let name = format!("{prefix}.{}", domain.name);
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Writes a self-signed ECDSA P-256 certificate for `names` into
/// `directory` unless one is there already.
pub fn ensure_self_signed(directory: &Path, names: &[String]) -> anyhow::Result<bool> {
    let certificate_path = directory.join(CERTIFICATE_FILE);
    let key_path = directory.join(KEY_FILE);
    if certificate_path.exists() && key_path.exists() {
        return Ok(false);
    }
    let (certificate, key) = self_signed(names)?;
    files::create_private_dir(directory, 0o700)?;
    files::write_atomic(&key_path, key.as_bytes(), 0o600)?;
    files::write_atomic(&certificate_path, certificate.as_bytes(), 0o644)?;
    Ok(true)
}

/// A self-signed certificate and its key, both PEM.
pub fn self_signed(names: &[String]) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|error| anyhow::anyhow!("cannot generate a TLS key: {error}"))?;
    let mut params = CertificateParams::new(names.to_vec())
        .map_err(|error| anyhow::anyhow!("cannot build a certificate for {names:?}: {error}"))?;
    let mut subject = DistinguishedName::new();
    if let Some(first) = names.first() {
        subject.push(DnType::CommonName, first.clone());
    }
    params.distinguished_name = subject;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(397);
    let certificate = params
        .self_signed(&key)
        .map_err(|error| anyhow::anyhow!("cannot sign the certificate: {error}"))?;
    Ok((certificate.pem(), key.serialize_pem()))
}
