//! Rspamd controller password hashes of type `$1$` (PBKDF2 over keyed
//! BLAKE2b), the form `rspamadm pw -t pbkdf2` writes and the controller
//! verifies, so a rendered `worker-controller.inc` never holds the secret.
//!
//! Parameters of Rspamd 3.4's `$1$` type: 16000 rounds, a 20-byte salt and a
//! 32-byte key. The PRF is BLAKE2b-512 keyed with the password (not HMAC);
//! a password longer than BLAKE2b's 64-byte key limit is first replaced by
//! its unkeyed BLAKE2b-512 digest. Salt and key are written in Rspamd's
//! default base32: the z-base-32 alphabet fed least-significant bit first.
//!
//! Note: `rspamadm pw` in 3.4 defaults to `$2$` (Catena); both verify.

use blake2::digest::{KeyInit, Mac};
use blake2::{Blake2b512, Blake2bMac512, Digest};
use rand::Rng;

/// The type id Rspamd prints between the first two `$`.
const TYPE_ID: u32 = 1;
/// PBKDF2 iteration count of the `$1$` type.
const ROUNDS: u32 = 16_000;
/// Salt length `rspamadm pw` draws for the `$1$` type.
pub const SALT_LEN: usize = 20;
/// Derived key length: half of a BLAKE2b-512 digest.
const KEY_LEN: usize = 32;
/// BLAKE2b's output (and maximum key) length.
const BLOCK: usize = 64;

/// `$1$…$…` as `rspamadm pw` (PBKDF2-BLAKE2b) writes it; verified by Rspamd's controller.
///
/// Rspamd itself only accepts a salt of [`SALT_LEN`] bytes.
pub fn hash(password: &str, salt: &[u8]) -> String {
    let key = pbkdf2_blake2b(password.as_bytes(), salt);
    format!("${TYPE_ID}${}${}", base32(salt), base32(&key))
}

/// [`hash`] with a fresh random salt of the length Rspamd uses.
pub fn hash_random(password: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill(&mut salt);
    hash(password, &salt)
}

/// One application of the PRF: BLAKE2b-512 of `message` keyed with `key`
/// (unkeyed when `key` is empty, as libsodium treats a zero-length key).
fn prf(key: &[u8], message: &[u8]) -> [u8; BLOCK] {
    let mut out = [0u8; BLOCK];
    if key.is_empty() {
        out.copy_from_slice(&Blake2b512::digest(message));
    } else {
        // `key` is at most BLOCK bytes here, so keying cannot fail.
        let mut mac = match Blake2bMac512::new_from_slice(key) {
            Ok(mac) => mac,
            Err(_) => return out,
        };
        Mac::update(&mut mac, message);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// PBKDF2 with the keyed-BLAKE2b PRF; a single block suffices for KEY_LEN.
fn pbkdf2_blake2b(password: &[u8], salt: &[u8]) -> [u8; KEY_LEN] {
    let digested;
    let prf_key: &[u8] = if password.len() > BLOCK {
        digested = Blake2b512::digest(password);
        &digested
    } else {
        password
    };

    let mut first = Vec::with_capacity(salt.len() + 4);
    first.extend_from_slice(salt);
    first.extend_from_slice(&1u32.to_be_bytes());

    let mut u = prf(prf_key, &first);
    let mut acc = u;
    for _ in 1..ROUNDS {
        u = prf(prf_key, &u);
        acc.iter_mut().zip(u.iter()).for_each(|(a, b)| *a ^= b);
    }

    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&acc[..KEY_LEN]);
    key
}

/// z-base-32 alphabet, Rspamd's default.
const ZBASE32: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// Rspamd's default base32: the input read as one bit stream starting at the
/// least significant bit of the first byte, five bits per character, the last
/// character holding whatever bits remain. No padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        acc |= u32::from(byte) << bits;
        bits += 8;
        while bits >= 5 {
            out.push(char::from(ZBASE32[(acc & 0x1f) as usize]));
            acc >>= 5;
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(ZBASE32[(acc & 0x1f) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inverse of [`base32`], for taking the salt out of Rspamd's strings.
    fn unbase32(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc: u32 = 0;
        let mut bits = 0;
        for c in text.bytes() {
            let value = ZBASE32.iter().position(|&a| a == c);
            assert!(value.is_some(), "not z-base-32: {c}");
            acc |= (value.unwrap_or(0) as u32) << bits;
            bits += 5;
            if bits >= 8 {
                out.push((acc & 0xff) as u8);
                acc >>= 8;
                bits -= 8;
            }
        }
        out
    }

    /// (password, output of Rspamd 3.4's `rspamadm pw -t pbkdf2 -p PASSWORD`
    /// on Debian bookworm).
    const KNOWN: &[(&str, &str)] = &[
        (
            "x",
            "$1$aax6zpnrkgmc4dmxywkeoif7tnf87ftn$3xdfeegdtxdbys1auynfpf76x7uen7j8q9ezmzoiqqw7tfsp6i8b",
        ),
        (
            "hunter2",
            "$1$wrn8k7f3gsa9ibins4jba6w5pg6qas8w$cm6r85expq8zzb1k4sfhyma7bntc3x9k44mdsp51z6b4ckfwha7b",
        ),
        (
            "correct horse battery staple",
            "$1$kxjstxtbc64if6qrbpo8tyqx8uaz9an7$rdcenks5ucmpppgknmnhf3xwof836o3fo9s97xz1udx68btty9dy",
        ),
        (
            "pässwörd-ünïcode",
            "$1$tkucdi1br1roww7tz8re1f4wuuzfaw1j$hdju3dnuhjfxuj7muzifwqepy18fj99f4qjccug1mkirw1dxyjcb",
        ),
        (
            // 74 bytes: exercises the pre-hash of over-long passwords.
            "a-very-long-password-that-is-longer-than-sixty-four-bytes-0123456789abcdef",
            "$1$z77kzwtra15wmputrssrqi15tnjiqgze$pu4r9jn15of8hkzwf5mn4ub3yekxc7jg969h8df6i14g379tky6y",
        ),
    ];

    #[test]
    fn reproduces_rspamadm() {
        for (password, expected) in KNOWN {
            let salt_text = expected.split('$').nth(2).unwrap_or_default();
            let salt = unbase32(salt_text);
            assert_eq!(salt.len(), SALT_LEN);
            assert_eq!(&hash(password, &salt), expected, "password {password:?}");
        }
    }

    #[test]
    fn base32_round_trips_and_has_rspamd_lengths() {
        let salt: Vec<u8> = (0u8..20).collect();
        let encoded = base32(&salt);
        assert_eq!(encoded.len(), 32);
        assert_eq!(unbase32(&encoded), salt);
        assert_eq!(base32(&[0u8; KEY_LEN]).len(), 52);
        // Low bits first: 0x01 is 'b' (1) then 'y' (0).
        assert_eq!(base32(&[0x01]), "by");
    }

    #[test]
    fn random_salt_has_the_right_shape() {
        let a = hash_random("secret");
        let b = hash_random("secret");
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('$').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[1], "1");
        assert_eq!(parts[2].len(), 32);
        assert_eq!(parts[3].len(), 52);
    }
}
