//! Key sets with stable `kid`s and JWKS export, by job:
//!
//! - [`alg`]: the algorithms of the contract ([`SigningAlg`], [`EncryptionAlg`],
//!   [`ContentEncryption`]) and fresh keys for them;
//! - [`jwk`]: RFC 7638 thumbprints and the public half of a private JWK;
//! - [`jws`]: signing keys, verification keys (by `kid`, with an algorithm allow-list), and
//!   reading a JWS before it is verified;
//! - [`jwe`]: the key the authorization server encrypts to and the keys the resource server
//!   decrypts with.
//!
//! Every key is identified by its RFC 7638 JWK thumbprint unless its JWK already names a `kid`,
//! so the same key gets the same `kid` on every replica and every restart. Private-key
//! operations go through OpenSSL (josekit), see docs/decisions/0001 on RUSTSEC-2023-0071.
//! Nothing here reads or writes files: the servers load and store key files
//! (`server_kit::key_files`) and hand the JWKs over.

pub mod alg;
pub mod jwe;
pub mod jwk;
pub mod jws;

pub use alg::{ContentEncryption, EncryptionAlg, SigningAlg};
pub use jwe::{DecryptionKeys, EncryptionKey};
pub use jwk::{public_jwk, thumbprint};
pub use jws::{
    peek_jws_header, peek_jws_payload, SigningKey, SigningKeys, VerificationKeys, VerifyError,
};

/// Why a key could not be loaded, generated or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("the JWK set is not valid JSON with a `keys` array")]
    BadJwks,
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}

fn crypto(e: josekit::JoseError) -> KeyError {
    KeyError::Crypto(e.to_string())
}
