//! Key sets with stable `kid`s and JWKS export.
//!
//! Every key is identified by its RFC 7638 JWK thumbprint unless its JWK file already names a
//! `kid`, so the same key gets the same `kid` on every replica and every restart. Private-key
//! operations go through OpenSSL (josekit), see docs/decisions/0001 on RUSTSEC-2023-0071.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::{self, JweDecrypter, JweEncrypter};
use josekit::jwk::{Jwk, P_256};
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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

    fn kty(self) -> &'static str {
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

    fn signer(self, jwk: &Jwk) -> Result<Box<dyn JwsSigner>, josekit::JoseError> {
        Ok(match self {
            SigningAlg::RS256 => Box::new(jws::RS256.signer_from_jwk(jwk)?),
            SigningAlg::PS256 => Box::new(jws::PS256.signer_from_jwk(jwk)?),
            SigningAlg::ES256 => Box::new(jws::ES256.signer_from_jwk(jwk)?),
        })
    }

    fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
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

    fn encrypter(self, jwk: &Jwk) -> Result<Box<dyn JweEncrypter>, josekit::JoseError> {
        Ok(match self {
            EncryptionAlg::RsaOaep256 => Box::new(jwe::RSA_OAEP_256.encrypter_from_jwk(jwk)?),
            EncryptionAlg::EcdhEsA256kw => Box::new(jwe::ECDH_ES_A256KW.encrypter_from_jwk(jwk)?),
            EncryptionAlg::Dir => Box::new(jwe::Dir.encrypter_from_jwk(jwk)?),
        })
    }

    fn decrypter(self, jwk: &Jwk) -> Result<Box<dyn JweDecrypter>, josekit::JoseError> {
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

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members in lexicographic order.
pub fn thumbprint(jwk: &Jwk) -> Result<String, KeyError> {
    let member = |name: &str| -> Result<Value, KeyError> {
        jwk.parameter(name)
            .cloned()
            .ok_or_else(|| KeyError::Invalid(format!("JWK lacks `{name}`")))
    };
    let canonical = match jwk.key_type() {
        "RSA" => json!({"e": member("e")?, "kty": "RSA", "n": member("n")?}),
        "EC" => json!({"crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")?}),
        "oct" => json!({"k": member("k")?, "kty": "oct"}),
        other => return Err(KeyError::Invalid(format!("unsupported key type `{other}`"))),
    };
    // serde_json's Map is a BTreeMap here (no preserve_order), so keys serialize sorted.
    let bytes = serde_json::to_vec(&canonical).map_err(|e| KeyError::Invalid(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

fn kid_of(jwk: &Jwk) -> Result<String, KeyError> {
    match jwk.key_id() {
        Some(k) if !k.is_empty() => Ok(k.to_owned()),
        _ => thumbprint(jwk),
    }
}

/// The public half of a private JWK, keeping its `kid` (the thumbprint when it has none), `alg`
/// and `use` — josekit's `to_public_key` drops them, and a key without its `kid` matches nothing.
pub fn public_jwk(jwk: &Jwk) -> Result<Jwk, KeyError> {
    let kid = kid_of(jwk)?;
    let mut public = public_of(jwk, &kid)?;
    if let Some(alg) = jwk.algorithm() {
        public.set_algorithm(alg);
    }
    if let Some(u) = jwk.key_use() {
        public.set_key_use(u);
    }
    Ok(public)
}

fn public_of(jwk: &Jwk, kid: &str) -> Result<Jwk, KeyError> {
    let mut public = jwk.to_public_key().map_err(crypto)?;
    public.set_key_id(kid);
    Ok(public)
}

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

/// Write a secret file readable by its owner only, unless it exists. Returns whether this call
/// created it. The contents go to a temporary file first and are then hard-linked into place,
/// so two replicas starting together on a shared `keys/` never see a half-written key and never
/// overwrite each other: the loser reads the winner's key.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(contents).and_then(|_| f.sync_all()));
    let linked = written.and_then(|_| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // The example key of RFC 7638 §3.1 and its published thumbprint.
        let jwk = Jwk::from_bytes(br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

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
