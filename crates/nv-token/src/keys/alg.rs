//! The algorithms of the contract, and fresh keys for them.

use std::str::FromStr;

use josekit::jwe::{self, JweDecrypter, JweEncrypter};
use josekit::jwk::{Jwk, P_256};
use josekit::jws::{self, JwsSigner, JwsVerifier};
use serde::{Deserialize, Serialize};

use super::jwk::thumbprint;
use super::{crypto, KeyError};

/// JWS algorithms this product signs and verifies with. Anything else (`none`, `HS*`, ...) is
/// refused before any key is touched: algorithm confusion (RFC 8725 §2.1) cannot happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    RS256,
    PS256,
    ES256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256];

    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::PS256 => "PS256",
            SigningAlg::ES256 => "ES256",
        }
    }

    pub(crate) fn kty(self) -> &'static str {
        match self {
            SigningAlg::RS256 | SigningAlg::PS256 => "RSA",
            SigningAlg::ES256 => "EC",
        }
    }

    /// A fresh private JWK for this algorithm, with `alg`, `use: sig` and a thumbprint `kid`.
    pub fn generate(self) -> Result<Jwk, KeyError> {
        let mut jwk = match self {
            SigningAlg::RS256 | SigningAlg::PS256 => Jwk::generate_rsa_key(2048),
            SigningAlg::ES256 => Jwk::generate_ec_key(P_256),
        }
        .map_err(crypto)?;
        jwk.set_algorithm(self.name());
        jwk.set_key_use("sig");
        jwk.set_key_id(thumbprint(&jwk)?);
        Ok(jwk)
    }

    pub(crate) fn signer(self, jwk: &Jwk) -> Result<Box<dyn JwsSigner>, josekit::JoseError> {
        Ok(match self {
            SigningAlg::RS256 => Box::new(jws::RS256.signer_from_jwk(jwk)?),
            SigningAlg::PS256 => Box::new(jws::PS256.signer_from_jwk(jwk)?),
            SigningAlg::ES256 => Box::new(jws::ES256.signer_from_jwk(jwk)?),
        })
    }

    pub(crate) fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
        Ok(match self {
            SigningAlg::RS256 => Box::new(jws::RS256.verifier_from_jwk(jwk)?),
            SigningAlg::PS256 => Box::new(jws::PS256.verifier_from_jwk(jwk)?),
            SigningAlg::ES256 => Box::new(jws::ES256.verifier_from_jwk(jwk)?),
        })
    }
}

impl FromStr for SigningAlg {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SigningAlg::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                KeyError::Invalid(format!(
                    "unsupported signing algorithm `{s}` (RS256, PS256, ES256)"
                ))
            })
    }
}

/// JWE key-management algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EncryptionAlg {
    #[serde(rename = "RSA-OAEP-256")]
    RsaOaep256,
    #[serde(rename = "ECDH-ES+A256KW")]
    EcdhEsA256kw,
    #[serde(rename = "dir")]
    Dir,
}

impl EncryptionAlg {
    pub const ALL: [EncryptionAlg; 3] = [
        EncryptionAlg::RsaOaep256,
        EncryptionAlg::EcdhEsA256kw,
        EncryptionAlg::Dir,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EncryptionAlg::RsaOaep256 => "RSA-OAEP-256",
            EncryptionAlg::EcdhEsA256kw => "ECDH-ES+A256KW",
            EncryptionAlg::Dir => "dir",
        }
    }

    /// A fresh private JWK (for `dir`, a 256-bit shared secret) with `alg`, `use: enc`, `kid`.
    pub fn generate(self) -> Result<Jwk, KeyError> {
        let mut jwk = match self {
            EncryptionAlg::RsaOaep256 => Jwk::generate_rsa_key(2048),
            EncryptionAlg::EcdhEsA256kw => Jwk::generate_ec_key(P_256),
            EncryptionAlg::Dir => Jwk::generate_oct_key(32),
        }
        .map_err(crypto)?;
        jwk.set_algorithm(self.name());
        jwk.set_key_use("enc");
        jwk.set_key_id(thumbprint(&jwk)?);
        Ok(jwk)
    }

    pub(crate) fn encrypter(self, jwk: &Jwk) -> Result<Box<dyn JweEncrypter>, josekit::JoseError> {
        Ok(match self {
            EncryptionAlg::RsaOaep256 => Box::new(jwe::RSA_OAEP_256.encrypter_from_jwk(jwk)?),
            EncryptionAlg::EcdhEsA256kw => Box::new(jwe::ECDH_ES_A256KW.encrypter_from_jwk(jwk)?),
            EncryptionAlg::Dir => Box::new(jwe::Dir.encrypter_from_jwk(jwk)?),
        })
    }

    pub(crate) fn decrypter(self, jwk: &Jwk) -> Result<Box<dyn JweDecrypter>, josekit::JoseError> {
        Ok(match self {
            EncryptionAlg::RsaOaep256 => Box::new(jwe::RSA_OAEP_256.decrypter_from_jwk(jwk)?),
            EncryptionAlg::EcdhEsA256kw => Box::new(jwe::ECDH_ES_A256KW.decrypter_from_jwk(jwk)?),
            EncryptionAlg::Dir => Box::new(jwe::Dir.decrypter_from_jwk(jwk)?),
        })
    }
}

impl FromStr for EncryptionAlg {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EncryptionAlg::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                KeyError::Invalid(format!(
                "unsupported key-management algorithm `{s}` (RSA-OAEP-256, ECDH-ES+A256KW, dir)"
            ))
            })
    }
}

/// JWE content-encryption algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContentEncryption {
    A256GCM,
    A128GCM,
}

impl ContentEncryption {
    pub const ALL: [ContentEncryption; 2] =
        [ContentEncryption::A256GCM, ContentEncryption::A128GCM];

    pub fn name(self) -> &'static str {
        match self {
            ContentEncryption::A256GCM => "A256GCM",
            ContentEncryption::A128GCM => "A128GCM",
        }
    }
}

impl FromStr for ContentEncryption {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "A256GCM" => Ok(Self::A256GCM),
            "A128GCM" => Ok(Self::A128GCM),
            _ => Err(KeyError::Invalid(format!(
                "unsupported content encryption `{s}` (A256GCM, A128GCM)"
            ))),
        }
    }
}
