//! The token contract shared by the authorization server and the Number Verification API.
//!
//! - [`PhoneNumber`] / [`HashedPhoneNumber`]: the E.164 MSISDN and its SHA-256 hex form.
//! - [`AccessTokenClaims`]: the RFC 9068 claims plus `phone_number`, `amr`, `auth_time`.
//! - [`keys`]: signing, verification, encryption and decryption key sets with stable `kid`s
//!   (RFC 7638 thumbprints) and JWKS export.
//! - [`seal`] / [`open`]: sign-then-encrypt and decrypt-then-verify with strict algorithm
//!   allow-lists. Everything here is pure: the caller passes the current time.
//! - [`operations`]: which of them each request of a flow pays for (benchmarks and loadgen).

pub mod claims;
pub mod dispatch;
pub mod keys;
pub mod operations;
pub mod phone;
pub mod seal;

pub use claims::{spent_token_key, AccessTokenClaims, Amr, Audience};
pub use dispatch::CryptoDispatch;
pub use keys::{
    ContentEncryption, DecryptionKeys, EncryptionAlg, EncryptionKey, KeyError, SigningAlg,
    SigningKey, SigningKeys, VerificationKeys,
};
pub use phone::{HashedPhoneNumber, PhoneNumber, PhoneNumberError};
pub use seal::{open, seal, JweSegment, OpenError, OpenPolicy, SealError};

/// A random (version 4) UUID for identifiers that must be unique but are not secrets: token
/// `jti`s, request and correlation ids. From the thread-local CSPRNG (reseeded from the OS),
/// not a `getrandom` system call per id as `Uuid::new_v4` makes: one per request adds up.
pub fn random_uuid() -> uuid::Uuid {
    use rand::Rng;
    uuid::Builder::from_random_bytes(rand::thread_rng().gen()).into_uuid()
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_uuids_are_version_4_and_distinct() {
        let (a, b) = (super::random_uuid(), super::random_uuid());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }
}
