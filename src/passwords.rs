//! Password hashes in the forms Dovecot 2.3 verifies: `{ARGON2ID}` (Debian's
//! Dovecot is built with libsodium) and `{SHA512-CRYPT}`, plus recognition
//! of the other schemes Dovecot accepts, so imported hashes keep working.

use rand::Rng;

/// Argon2id cost: OWASP's baseline (19 MiB, 2 passes, 1 lane), the crate's
/// default; 64 MiB would make bulk imports crawl on a small VPS.
const ARGON2_MEMORY_KIB: u32 = argon2::Params::DEFAULT_M_COST;
const ARGON2_PASSES: u32 = argon2::Params::DEFAULT_T_COST;
const ARGON2_LANES: u32 = argon2::Params::DEFAULT_P_COST;

thread_local! {
    /// Argon2's 19 MiB work area, reused by each thread: allocating it per
    /// hash makes glibc keep hundreds of MiB in its arenas during imports.
    static ARGON2_BLOCKS: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Hashes `password` as `{ARGON2ID}$argon2id$v=19$m=…,t=…,p=…$salt$hash`
/// (the PHC string format that Dovecot's libsodium-based verifier reads).
pub fn hash_argon2id(password: &str) -> anyhow::Result<String> {
    use base64::Engine;
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, Some(32))
        .map_err(|error| anyhow::anyhow!("invalid Argon2 parameters: {error}"))?;
    let blocks_needed = params.block_count();
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut output = [0u8; 32];
    ARGON2_BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < blocks_needed {
            blocks.resize(blocks_needed, argon2::Block::default());
        }
        hasher
            .hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut output,
                &mut blocks[..blocks_needed],
            )
            .map_err(|error| anyhow::anyhow!("cannot hash the password: {error}"))
    })?;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
    Ok(format!(
        "{{ARGON2ID}}$argon2id$v=19$m={ARGON2_MEMORY_KIB},t={ARGON2_PASSES},p={ARGON2_LANES}${}${}",
        encode(&salt),
        encode(&output)
    ))
}

/// Hashes `password` as `{SHA512-CRYPT}$6$…` with a 16-character salt
/// (Dovecot rejects the 22-character salts some libraries default to).
pub fn hash_sha512_crypt(password: &str) -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let salt: String = (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let params = sha_crypt::Params::new(5_000)
        .map_err(|error| anyhow::anyhow!("invalid SHA512-CRYPT parameters: {error}"))?;
    let digest = sha_crypt::sha512_crypt(password.as_bytes(), salt.as_bytes(), params);
    Ok(format!(
        "{{SHA512-CRYPT}}$6${salt}${}",
        crypt_base64_sha512(&digest)
    ))
}

/// The crypt(3) base-64 encoding of a SHA-512 digest, with its byte shuffle.
fn crypt_base64_sha512(digest: &[u8; 64]) -> String {
    const ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    let mut out = String::with_capacity(86);
    let mut push = |mut value: u32, count: usize| {
        for _ in 0..count {
            out.push(ALPHABET[(value & 0x3f) as usize] as char);
            value >>= 6;
        }
    };
    for (a, b, c) in ORDER {
        push(
            (u32::from(digest[a]) << 16) | (u32::from(digest[b]) << 8) | u32::from(digest[c]),
            4,
        );
    }
    push(u32::from(digest[63]), 2);
    out
}

/// Schemes that Debian's Dovecot 2.3 verifies and that are stored salted.
const RECOGNISED: &[(&str, &str)] = &[
    ("ARGON2ID", "$argon2id$"),
    ("ARGON2I", "$argon2i$"),
    ("BLF-CRYPT", "$2"),
    ("SHA512-CRYPT", "$6$"),
    ("SHA256-CRYPT", "$5$"),
    ("SSHA512", ""),
    ("SSHA256", ""),
    ("PBKDF2", "$1$"),
];

/// Checks that `value` is a Dovecot hash of a recognised scheme; the error
/// says what is wrong without repeating the value (it may be a password).
pub fn recognise(value: &str) -> Result<&'static str, String> {
    let Some(rest) = value.strip_prefix('{') else {
        return Err(
            "the password field is not a hash: it must start with a scheme such as `{ARGON2ID}`"
                .into(),
        );
    };
    let Some((scheme, body)) = rest.split_once('}') else {
        return Err("the password hash has no closing `}` after its scheme".into());
    };
    let scheme_upper = scheme.to_ascii_uppercase();
    if matches!(
        scheme_upper.as_str(),
        "PLAIN" | "CLEARTEXT" | "CLEAR" | "PLAIN-TRUNC"
    ) {
        return Err(format!(
            "`{{{scheme}}}` stores the password in plain text, which is refused"
        ));
    }
    let Some((name, prefix)) = RECOGNISED.iter().find(|(name, _)| *name == scheme_upper) else {
        let known: Vec<&str> = RECOGNISED.iter().map(|(name, _)| *name).collect();
        return Err(format!(
            "the scheme `{{{scheme}}}` is not one Dovecot verifies here (known: {})",
            known.join(", ")
        ));
    };
    if body.len() < 16 || !body.starts_with(prefix) || body.chars().any(char::is_whitespace) {
        return Err(format!("the `{{{name}}}` hash is malformed"));
    }
    Ok(name)
}

/// A random password of `length` characters from an unambiguous alphabet.
pub fn generate(length: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..length)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_recognised() {
        let argon = hash_argon2id("secret").unwrap();
        assert!(argon.starts_with("{ARGON2ID}$argon2id$v=19$"));
        assert_eq!(recognise(&argon), Ok("ARGON2ID"));
        let sha = hash_sha512_crypt("secret").unwrap();
        assert_eq!(recognise(&sha), Ok("SHA512-CRYPT"));
        assert_eq!(sha.len(), "{SHA512-CRYPT}$6$".len() + 16 + 1 + 86);
    }

    #[test]
    fn sha512_crypt_matches_reference() {
        // The test vector of Drepper's SHA-crypt specification (rounds=5000 implied).
        let params = sha_crypt::Params::new(5_000).unwrap();
        let digest = sha_crypt::sha512_crypt(b"Hello world!", b"saltstring", params);
        assert_eq!(
            crypt_base64_sha512(&digest),
            "svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
    }

    #[test]
    fn refuses_plain_text() {
        assert!(recognise("hunter2").is_err());
        assert!(recognise("{PLAIN}hunter2").is_err());
        assert!(recognise("{MD5}abc").is_err());
        assert!(recognise("{ARGON2ID}short").is_err());
    }
}
