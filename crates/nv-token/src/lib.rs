//! The token contract shared by the authorization server and the Number Verification API.
//!
//! - [`PhoneNumber`] / [`HashedPhoneNumber`]: the E.164 MSISDN and its SHA-256 hex form.
//! - [`AccessTokenClaims`]: the RFC 9068 claims plus `phone_number`, `amr` ([`Amr`]),
//!   `auth_time`; [`ApiScope`]: the Number Verification scopes of every API version.
//! - [`keys`]: signing, verification, encryption and decryption key sets with stable `kid`s
//!   (RFC 7638 thumbprints) and JWKS export.
//! - [`jwt`]: the one check of registered claims (issuer, audience, times with checked
//!   arithmetic, `jti`) under a per-use [`jwt::ClaimPolicy`], and the replay mark it returns.
//! - [`seal`] / [`open`]: sign-then-encrypt and decrypt-then-verify with strict algorithm
//!   allow-lists, into [`Opened`]. Everything here is pure and does no I/O: the caller passes
//!   the current time and the keys.
//! - `opener` (feature `runtime`): [`opener::Opener`], what the resource server opens tokens
//!   with — crypto inline or on the blocking pool, the issuer's keys refreshed through
//!   [`opener::IssuerKeys`] on an unknown `kid`.
//! - [`operations`]: which of them each request of a flow pays for (benchmarks and loadgen).

pub mod claims;
pub mod dispatch;
pub mod jwt;
pub mod keys;
#[cfg(feature = "runtime")]
pub mod opener;
pub mod operations;
pub mod phone;
pub mod scope;
pub mod seal;

pub use claims::{spent_token_key, AccessTokenClaims, Amr, Audience, ClientAccessTokenClaims};
pub use dispatch::CryptoDispatch;
pub use keys::{
    ContentEncryption, DecryptionKeys, EncryptionAlg, EncryptionKey, KeyError, SigningAlg,
    SigningKey, SigningKeys, VerificationKeys,
};
pub use phone::{HashedPhoneNumber, PhoneNumber, PhoneNumberError};
pub use scope::{ApiScope, Right};
pub use seal::{open, seal, JweSegment, OpenError, OpenPolicy, Opened, SealError, TokenContext};

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
