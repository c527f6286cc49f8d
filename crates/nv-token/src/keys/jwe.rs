//! Encryption: the resource server's key as the authorization server encrypts to it, and the
//! resource server's decryption keys.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::{JweDecrypter, JweEncrypter};
use josekit::jwk::Jwk;
use serde_json::{json, Value};

use super::jwk::{kid_of, public_of};
use super::{crypto, EncryptionAlg, KeyError};

/// The resource server's public encryption key, as the authorization server holds it.
pub struct EncryptionKey {
    kid: String,
    alg: EncryptionAlg,
    encrypter: Box<dyn JweEncrypter>,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl EncryptionKey {
    /// From a public JWK (for `dir`, the shared secret JWK). `alg` defaults to the JWK's own.
    pub fn from_jwk(jwk: &Jwk, alg: Option<EncryptionAlg>) -> Result<Self, KeyError> {
        let alg = match (alg, jwk.algorithm()) {
            (Some(a), _) => a,
            (None, Some(a)) => a.parse()?,
            (None, None) => EncryptionAlg::RsaOaep256,
        };
        let kid = kid_of(jwk)?;
        let mut with_kid = jwk.clone();
        with_kid.set_key_id(kid.clone());
        let encrypter = alg.encrypter(&with_kid).map_err(crypto)?;
        Ok(Self {
            kid,
            alg,
            encrypter,
        })
    }

    /// The first usable `use: enc` key of a JWKS (what the resource server publishes).
    pub fn from_jwks(jwks: &Value) -> Result<Self, KeyError> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::BadJwks)?;
        keys.iter()
            .filter_map(|k| Jwk::from_map(k.as_object()?.clone()).ok())
            .filter(|j| j.key_use().is_none_or(|u| u == "enc"))
            .find_map(|j| Self::from_jwk(&j, None).ok())
            .ok_or_else(|| KeyError::Invalid("the JWKS has no usable encryption key".into()))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> EncryptionAlg {
        self.alg
    }

    pub(crate) fn encrypter(&self) -> &dyn JweEncrypter {
        &*self.encrypter
    }
}

pub(crate) struct DecryptionKey {
    kid: String,
    alg: EncryptionAlg,
    decrypter: Box<dyn JweDecrypter>,
    /// Published in the resource server's JWKS; `None` for `dir` (a shared secret is never published).
    public: Option<Jwk>,
    /// The modulus length in bytes of an RSA key, which every RSAES ciphertext to it has.
    rsa_modulus_len: Option<usize>,
}

impl DecryptionKey {
    pub(crate) fn decrypter(&self) -> &dyn JweDecrypter {
        &*self.decrypter
    }

    pub(crate) fn rsa_modulus_len(&self) -> Option<usize> {
        self.rsa_modulus_len
    }
}

/// The length in bytes of an RSA JWK's modulus `n`.
fn rsa_modulus_len(jwk: &Jwk) -> Result<usize, KeyError> {
    let n = jwk
        .parameter("n")
        .and_then(Value::as_str)
        .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
        .ok_or_else(|| KeyError::Invalid("the RSA JWK has no valid `n`".into()))?;
    // RFC 7518 §6.3.1.1 forbids leading zero octets, but some libraries write one.
    Ok(n.iter().skip_while(|b| **b == 0).count())
}

/// The resource server's private decryption keys: the first is the one it asks to be encrypted to,
/// all are accepted (rotation without downtime).
pub struct DecryptionKeys {
    keys: Vec<DecryptionKey>,
}

impl fmt::Debug for DecryptionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| (&k.kid, k.alg)))
            .finish()
    }
}

impl DecryptionKeys {
    /// From private JWKs, newest first.
    pub fn from_jwks(jwks: &[Jwk]) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for jwk in jwks {
            let alg: EncryptionAlg = match jwk.algorithm() {
                Some(a) => a.parse()?,
                None => EncryptionAlg::RsaOaep256,
            };
            let kid = kid_of(jwk)?;
            let mut with_kid = jwk.clone();
            with_kid.set_key_id(kid.clone());
            let decrypter = alg.decrypter(&with_kid).map_err(crypto)?;
            let rsa_modulus_len = match alg {
                EncryptionAlg::RsaOaep256 => Some(rsa_modulus_len(jwk)?),
                EncryptionAlg::EcdhEsA256kw | EncryptionAlg::Dir => None,
            };
            let public = match alg {
                EncryptionAlg::Dir => None,
                _ => {
                    let mut p = public_of(jwk, &kid)?;
                    p.set_algorithm(alg.name());
                    p.set_key_use("enc");
                    Some(p)
                }
            };
            keys.push(DecryptionKey {
                kid,
                alg,
                decrypter,
                public,
                rsa_modulus_len,
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Invalid(
                "at least one decryption key is needed".into(),
            ));
        }
        Ok(Self { keys })
    }

    /// The public JWKS for the authorization server to encrypt to (asymmetric keys only).
    pub fn public_jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().filter_map(|k| k.public.as_ref()).map(|j| Value::Object(j.as_ref().clone())).collect::<Vec<_>>() })
    }

    pub(crate) fn find(&self, kid: Option<&str>, alg: EncryptionAlg) -> Option<&DecryptionKey> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg)
            .find(|k| kid.is_none_or(|kid| kid == k.kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_keys_are_never_published() {
        let keys = DecryptionKeys::from_jwks(&[
            EncryptionAlg::Dir.generate().unwrap(),
            EncryptionAlg::RsaOaep256.generate().unwrap(),
        ])
        .unwrap();
        let jwks = keys.public_jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert!(!jwks.to_string().contains("\"k\""));
    }
}
