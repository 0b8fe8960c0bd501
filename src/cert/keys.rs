//! Certificate keys and signing requests (rcgen): a new ECDSA P-256 or
//! RSA 2048 key, or the current one kept (`--reuse-key`), and the CSR that
//! finalises an ACME order.

use rcgen::{CertificateParams, DistinguishedName, KeyPair};

use crate::config::KeyType;

/// A fresh key of `key_type`.
pub fn new_key(key_type: KeyType) -> anyhow::Result<KeyPair> {
    let algorithm = match key_type {
        KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
    };
    KeyPair::generate_for(algorithm).map_err(|error| {
        anyhow::anyhow!(
            "cannot generate a {} certificate key: {error}",
            key_type.as_str()
        )
    })
}

/// The key in `pem` (to keep it across a renewal).
pub fn load_key(pem: &str) -> anyhow::Result<KeyPair> {
    KeyPair::from_pem(pem)
        .map_err(|error| anyhow::anyhow!("cannot read the current certificate key: {error}"))
}

/// The SHA-256 of `key`'s DER SubjectPublicKeyInfo, hex: the data of a
/// TLSA `3 1 1` record for a certificate with this key.
pub fn spki_sha256(key: &KeyPair) -> String {
    use rcgen::PublicKeyData;
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.subject_public_key_info()))
}

/// A DER certificate signing request for `names`, signed with `key`.
pub fn csr_der(names: &[String], key: &KeyPair) -> anyhow::Result<Vec<u8>> {
    let mut params = CertificateParams::new(names.to_vec())
        .map_err(|error| anyhow::anyhow!("cannot build a request for {names:?}: {error}"))?;
    params.distinguished_name = DistinguishedName::new();
    let request = params
        .serialize_request(key)
        .map_err(|error| anyhow::anyhow!("cannot sign the certificate request: {error}"))?;
    Ok(request.der().to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn keys_and_requests() {
        let names = vec![
            "mail.example.com".to_owned(),
            "mta-sts.example.com".to_owned(),
        ];
        for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let key = new_key(key_type).unwrap();
            let der = csr_der(&names, &key).unwrap();
            assert!(der.len() > 100);
            let again = load_key(&key.serialize_pem()).unwrap();
            assert_eq!(again.public_key_pem(), key.public_key_pem());
        }
    }
}
