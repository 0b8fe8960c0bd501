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
    match algorithm {
        DkimAlgorithm::Rsa => Ok(key.serialize_pem()),
        DkimAlgorithm::Ed25519 => ed25519_pkcs8_v1_pem(&key.serialize_der()),
    }
}

/// The DER prefix of a PKCS#8 v1 Ed25519 private key (RFC 8410 §7), before
/// the 32-byte seed.
const ED25519_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Rewrites a PKCS#8 v2 Ed25519 key (seed plus public key, as ring and
/// aws-lc make it) as v1 (seed only): OpenSSL 3.0, which Debian bookworm's
/// Rspamd uses, refuses the v2 files.
fn ed25519_pkcs8_v1_pem(der: &[u8]) -> anyhow::Result<String> {
    // The seed is the OCTET STRING wrapped in the privateKey OCTET STRING.
    let marker = [0x04, 0x22, 0x04, 0x20];
    let start = der
        .windows(marker.len())
        .position(|window| window == marker)
        .map(|position| position + marker.len())
        .ok_or_else(|| anyhow::anyhow!("unexpected Ed25519 key encoding"))?;
    let seed = der
        .get(start..start + 32)
        .ok_or_else(|| anyhow::anyhow!("truncated Ed25519 key encoding"))?;
    let mut v1 = ED25519_V1_PREFIX.to_vec();
    v1.extend_from_slice(seed);
    let body = base64::engine::general_purpose::STANDARD.encode(&v1);
    Ok(format!(
        "-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    ))
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

/// The selectors a new domain gets: RSA and Ed25519, named after the month.
pub fn new_selectors() -> Vec<crate::config::DkimSelector> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!("{}{:02}", now.year(), u8::from(now.month()));
    vec![
        crate::config::DkimSelector {
            selector: format!("rsa{stamp}"),
            algorithm: DkimAlgorithm::Rsa,
        },
        crate::config::DkimSelector {
            selector: format!("ed{stamp}"),
            algorithm: DkimAlgorithm::Ed25519,
        },
    ]
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
        // PKCS#8 v1 (48 bytes of DER), which OpenSSL 3.0 reads.
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(der.len(), 48);
        assert_eq!(der[..16], ED25519_V1_PREFIX);
    }

    #[test]
    fn rsa_public_key_is_spki() {
        let pem = generate(DkimAlgorithm::Rsa).unwrap();
        let value = public_key_value(&pem, DkimAlgorithm::Rsa).unwrap();
        // 2048-bit SPKI is 294 bytes, 392 base64 characters.
        assert_eq!(value.len(), 392);
    }
}
