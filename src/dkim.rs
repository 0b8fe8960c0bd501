//! DKIM keys: RSA-2048 (RFC 6376) and Ed25519 (RFC 8463) key pairs, stored
//! as PKCS#8 PEM files (0600), and the public half as DNS TXT record text.

use std::path::Path;

use base64::Engine;
use rcgen::{KeyPair, PublicKeyData};

use crate::config::DkimAlgorithm;
use crate::files;

/// Generates a new private key in PKCS#8 PEM.
pub fn generate(algorithm: DkimAlgorithm) -> anyhow::Result<String> {
    let key = match algorithm {
        DkimAlgorithm::Rsa => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        DkimAlgorithm::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
    }
    .map_err(|error| {
        anyhow::anyhow!("cannot generate a DKIM {} key: {error}", algorithm.as_str())
    })?;
    Ok(key.serialize_pem())
}

/// Writes a new key to `path` unless a key is already there; returns whether
/// a key was created. Existing keys are never replaced.
pub fn ensure_key(path: &Path, algorithm: DkimAlgorithm) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        files::create_private_dir(parent, 0o700)?;
    }
    let pem = generate(algorithm)?;
    files::write_atomic(path, pem.as_bytes(), 0o600)?;
    Ok(true)
}

/// The `p=` value for the key in `pem`: base64 of the SubjectPublicKeyInfo
/// for RSA (RFC 6376 §3.6.1), of the raw 32-byte key for Ed25519 (RFC 8463 §4).
pub fn public_key_value(pem: &str, algorithm: DkimAlgorithm) -> anyhow::Result<String> {
    let key = KeyPair::from_pem(pem)
        .map_err(|error| anyhow::anyhow!("cannot read the DKIM private key: {error}"))?;
    let bytes = match algorithm {
        DkimAlgorithm::Rsa => {
            if !key.is_compatible(&rcgen::PKCS_RSA_SHA256) {
                anyhow::bail!("the key file does not hold an RSA key");
            }
            key.subject_public_key_info()
        }
        DkimAlgorithm::Ed25519 => {
            if !key.is_compatible(&rcgen::PKCS_ED25519) {
                anyhow::bail!("the key file does not hold an Ed25519 key");
            }
            key.public_key_raw().to_vec()
        }
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The TXT record text `v=DKIM1; k=…; p=…`.
pub fn record_text(algorithm: DkimAlgorithm, public_key: &str) -> String {
    format!("v=DKIM1; k={}; p={public_key}", algorithm.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_public_key_is_raw() {
        let pem = generate(DkimAlgorithm::Ed25519).unwrap();
        let value = public_key_value(&pem, DkimAlgorithm::Ed25519).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert!(public_key_value(&pem, DkimAlgorithm::Rsa).is_err());
    }

    #[test]
    fn rsa_public_key_is_spki() {
        let pem = generate(DkimAlgorithm::Rsa).unwrap();
        let value = public_key_value(&pem, DkimAlgorithm::Rsa).unwrap();
        // 2048-bit SPKI is 294 bytes, 392 base64 characters.
        assert_eq!(value.len(), 392);
    }
}
