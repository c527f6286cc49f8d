//! Signatures: the server's signing keys, the keys a JWS is verified with (by `kid`, with an
//! algorithm allow-list), and reading a JWS before it is verified.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use serde::Serialize;
use serde_json::{json, Value};

use super::jwk::{kid_of, public_of};
use super::{crypto, KeyError, SigningAlg};

/// A private signing key, parsed once.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    signer: Box<dyn JwsSigner>,
    public: Jwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl SigningKey {
    /// From a private JWK. `alg` defaults to the JWK's own `alg` member.
    pub fn from_jwk(jwk: &Jwk, alg: Option<SigningAlg>) -> Result<Self, KeyError> {
        let alg = match (alg, jwk.algorithm()) {
            (Some(a), _) => a,
            (None, Some(a)) => a.parse()?,
            (None, None) => return Err(KeyError::Invalid("signing JWK has no `alg`".into())),
        };
        if jwk.key_type() != alg.kty() {
            return Err(KeyError::Invalid(format!(
                "{} needs a {} key",
                alg.name(),
                alg.kty()
            )));
        }
        let kid = kid_of(jwk)?;
        let mut with_kid = jwk.clone();
        with_kid.set_key_id(kid.clone());
        let signer = alg.signer(&with_kid).map_err(crypto)?;
        let mut public = public_of(jwk, &kid)?;
        public.set_algorithm(alg.name());
        public.set_key_use("sig");
        Ok(Self {
            kid,
            alg,
            signer,
            public,
        })
    }

    pub fn generate(alg: SigningAlg) -> Result<(Self, Jwk), KeyError> {
        let private = alg.generate()?;
        Ok((Self::from_jwk(&private, Some(alg))?, private))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// Compact JWS over `payload` with `alg`, `kid` and the given `typ`.
    pub fn sign(&self, typ: Option<&str>, payload: &[u8]) -> Result<String, KeyError> {
        let mut header = JwsHeader::new();
        if let Some(typ) = typ {
            header.set_token_type(typ);
        }
        header.set_key_id(self.kid.clone());
        jws::serialize_compact(payload, &header, &*self.signer).map_err(crypto)
    }

    /// Compact JWS over the JSON of `claims`.
    pub fn sign_json<T: Serialize>(
        &self,
        typ: Option<&str>,
        claims: &T,
    ) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Invalid(e.to_string()))?;
        self.sign(typ, &payload)
    }
}

/// The server's signing keys: the first signs, all are published.
#[derive(Debug)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl SigningKeys {
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Invalid(
                "at least one signing key is needed".into(),
            ));
        }
        Ok(Self { keys })
    }

    /// The key that signs now (the newest).
    pub fn current(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// The first key of the given algorithm, for clients registered with another ID-token `alg`.
    pub fn for_alg(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.alg == alg)
    }

    pub fn all(&self) -> &[SigningKey] {
        &self.keys
    }

    /// `{"keys": [...]}` with every public key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| Value::Object(k.public.as_ref().clone())).collect::<Vec<_>>() })
    }

    /// Verifiers for everything this set signs (what a resource server gets from the JWKS).
    pub fn verification_keys(&self) -> VerificationKeys {
        VerificationKeys::from_jwks(&self.jwks()).expect("own public keys are valid")
    }
}

/// One verifier per algorithm a public key may be used with.
type Verifiers = Vec<(SigningAlg, Box<dyn JwsVerifier>)>;

/// Public keys that verify signatures, indexed by `kid`, one verifier per allowed algorithm.
#[derive(Default)]
pub struct VerificationKeys {
    by_kid: HashMap<String, Verifiers>,
    /// Keys published without a `kid`: tried in order when a header names none.
    anonymous: Verifiers,
}

impl fmt::Debug for VerificationKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKeys")
            .field("kids", &self.by_kid.keys().collect::<Vec<_>>())
            .field("anonymous", &self.anonymous.len())
            .finish()
    }
}

/// Why a JWS was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the JWS is malformed")]
    Malformed,
    #[error("the JWS algorithm `{0}` is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("no key with kid `{0}`")]
    UnknownKey(String),
    #[error("the signature does not verify")]
    BadSignature,
}

impl VerificationKeys {
    /// From a JWKS document. Keys of unsupported types, or marked `use: enc`, are skipped.
    pub fn from_jwks(jwks: &Value) -> Result<Self, KeyError> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::BadJwks)?;
        let mut out = Self::default();
        for key in keys {
            let Some(map) = key.as_object() else { continue };
            let Ok(jwk) = Jwk::from_map(map.clone()) else {
                continue;
            };
            if jwk.key_use().is_some_and(|u| u != "sig") {
                continue;
            }
            let algs: Vec<SigningAlg> = match jwk.algorithm() {
                Some(a) => match a.parse() {
                    Ok(a) => vec![a],
                    Err(_) => continue,
                },
                None => SigningAlg::ALL
                    .into_iter()
                    .filter(|a| a.kty() == jwk.key_type())
                    .collect(),
            };
            let mut verifiers = Vec::new();
            for alg in algs {
                // A verifier refuses a JWK whose `alg` differs; strip it for the kty-derived case.
                if let Ok(v) = alg.verifier(&jwk) {
                    verifiers.push((alg, v));
                }
            }
            if verifiers.is_empty() {
                continue;
            }
            match jwk.key_id() {
                Some(kid) => out
                    .by_kid
                    .entry(kid.to_owned())
                    .or_default()
                    .extend(verifiers),
                None => out.anonymous.extend(verifiers),
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty() && self.anonymous.is_empty()
    }

    pub fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Verify a compact JWS whose `alg` is in `allowed`; returns the header and the payload.
    pub fn verify(
        &self,
        compact: &str,
        allowed: &[SigningAlg],
    ) -> Result<(JwsHeader, Vec<u8>), VerifyError> {
        let header = peek_jws_header(compact)?;
        let payload = self.verify_peeked(compact, &header, allowed)?;
        Ok((header, payload))
    }

    /// [`Self::verify`] for a caller that has already decoded the header with
    /// [`peek_jws_header`] (to check `typ`, say): the header is decoded once per token.
    pub fn verify_peeked(
        &self,
        compact: &str,
        header: &JwsHeader,
        allowed: &[SigningAlg],
    ) -> Result<Vec<u8>, VerifyError> {
        // RFC 7515 §4.1.11: no extension is understood here, so any `crit` is refused (josekit
        // refuses unknown names but accepts an empty list).
        if header.claim("crit").is_some() {
            return Err(VerifyError::Malformed);
        }
        let alg_name = header.algorithm().unwrap_or("").to_owned();
        let alg = allowed
            .iter()
            .copied()
            .find(|a| a.name() == alg_name)
            .ok_or_else(|| VerifyError::AlgorithmNotAllowed(alg_name.clone()))?;
        let candidates: Vec<&dyn JwsVerifier> = match header.key_id() {
            Some(kid) => self
                .by_kid
                .get(kid)
                .ok_or_else(|| VerifyError::UnknownKey(kid.to_owned()))?
                .iter()
                .filter(|(a, _)| *a == alg)
                .map(|(_, v)| &**v)
                .collect(),
            None => self
                .anonymous
                .iter()
                .filter(|(a, _)| *a == alg)
                .map(|(_, v)| &**v)
                .collect(),
        };
        if candidates.is_empty() {
            return Err(match header.key_id() {
                Some(kid) => VerifyError::UnknownKey(kid.to_owned()),
                None => VerifyError::UnknownKey(String::new()),
            });
        }
        for verifier in candidates {
            if let Ok((payload, _)) = jws::deserialize_compact(compact, verifier) {
                return Ok(payload);
            }
        }
        Err(VerifyError::BadSignature)
    }
}

/// The protected header of a compact JWS, decoded without verifying anything.
pub fn peek_jws_header(compact: &str) -> Result<JwsHeader, VerifyError> {
    let mut parts = compact.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| VerifyError::Malformed)?;
    let map: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
    JwsHeader::from_map(map).map_err(|_| VerifyError::Malformed)
}

/// The payload of a compact JWS, decoded without verifying anything: for a caller that must read
/// a claim (who signed it) to pick the verification keys. Once the signature over these same
/// bytes verifies, the parse is the verified content; until then nothing in it may be trusted.
pub fn peek_jws_payload<T: serde::de::DeserializeOwned>(compact: &str) -> Option<T> {
    let mut parts = compact.split('.');
    let (Some(_), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signing_alg_signs_and_verifies_with_a_stable_kid() {
        for alg in SigningAlg::ALL {
            let (key, private) = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_jwk(&private, None).unwrap();
            assert_eq!(key.kid(), again.kid(), "{alg:?}");
            let keys = SigningKeys::new(vec![key]).unwrap();
            let jws = keys.current().sign(Some("JWT"), b"{\"a\":1}").unwrap();
            let (header, payload) = keys.verification_keys().verify(&jws, &[alg]).unwrap();
            assert_eq!(payload, b"{\"a\":1}");
            assert_eq!(header.token_type(), Some("JWT"));
            let jwks = keys.jwks().to_string();
            assert!(
                !jwks.contains("\"d\""),
                "a private member leaked into the JWKS: {jwks}"
            );
        }
    }

    #[test]
    fn verification_refuses_algorithms_outside_the_allow_list() {
        let (key, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
        let keys = SigningKeys::new(vec![key]).unwrap();
        let jws = keys.current().sign(None, b"{}").unwrap();
        let err = keys
            .verification_keys()
            .verify(&jws, &[SigningAlg::ES256])
            .unwrap_err();
        assert_eq!(err, VerifyError::AlgorithmNotAllowed("RS256".into()));
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let (key, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
        let keys = SigningKeys::new(vec![key]).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let body = URL_SAFE_NO_PAD.encode(b"{}");
        let err = keys
            .verification_keys()
            .verify(&format!("{header}.{body}."), &SigningAlg::ALL)
            .unwrap_err();
        assert_eq!(err, VerifyError::AlgorithmNotAllowed("none".into()));
    }
}
