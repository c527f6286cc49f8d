//! Store records readable only by whoever holds the secret they are filed under.
//!
//! An authorization code's record carries the subscriber's phone number. The record is filed
//! under a hash of the code ([`crate::state::keys::code`]) and encrypted with a key derived from
//! the code itself (AES-256-GCM as a `dir` JWE, the key SHA-256 over a label and the code — a
//! different derivation from the store key's), so a store dump, a Redis replica or a backup
//! reveals neither a usable code nor the number: only the client that received the code can open
//! its record, and only until it redeems it.

use josekit::jwe::{self, JweHeader};
use sha2::{Digest, Sha256};

/// Domain separation from the store key, which is SHA-256 of the code alone.
const LABEL: &[u8] = b"nv code record v1\0";

fn key(secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LABEL);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// `plaintext` encrypted under `secret`.
pub fn seal(secret: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let encrypter = jwe::Dir
        .encrypter_from_bytes(key(secret))
        .map_err(|e| e.to_string())?;
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    jwe::serialize_compact(plaintext, &header, &encrypter)
        .map(String::into_bytes)
        .map_err(|e| e.to_string())
}

/// The plaintext, or `None` when `sealed` was not sealed under `secret` (or was altered).
pub fn open(secret: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    let decrypter = jwe::Dir.decrypter_from_bytes(key(secret)).ok()?;
    let compact = std::str::from_utf8(sealed).ok()?;
    let (plaintext, header) = jwe::deserialize_compact(compact, &decrypter).ok()?;
    (header.content_encryption() == Some("A256GCM")).then_some(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_opens_with_its_secret_only_and_shows_nothing_in_clear() {
        let sealed = seal("the-code", br#"{"phone_number":"+99012345678"}"#).unwrap();
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("99012345678") && !text.contains("the-code"));
        assert_eq!(
            open("the-code", &sealed).as_deref(),
            Some(&br#"{"phone_number":"+99012345678"}"#[..])
        );
        assert_eq!(open("another-code", &sealed), None);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 3;
        tampered[last] ^= 1;
        assert_eq!(open("the-code", &tampered), None);
    }
}
