//! Sealing (sign, then encrypt) and opening (decrypt, then verify) access tokens.
//!
//! The result is a nested JWT (RFC 7519 §5.2, RFC 9068): a JWS with `typ: at+jwt` inside a JWE
//! with `cty: JWT`. Only the resource server can read the MSISDN; only the authorization server
//! could have written it. Opening checks the claims with [`crate::jwt::check`] and tells a
//! complete token from a genuine one without a usable phone number ([`Opened`]); the resource
//! server calls it through [`crate::opener::Opener`], which also refreshes the issuer's keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::{self, JweHeader};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::claims;
use crate::jwt::{
    self, AudienceRule, Claim, ClaimError, ClaimPolicy, Registered, ReplayMark, TimeError,
};
use crate::keys::{peek_jws_header, VerifyError};
use crate::{
    AccessTokenClaims, Amr, ApiScope, Audience, ContentEncryption, DecryptionKeys, EncryptionAlg,
    EncryptionKey, PhoneNumber, SigningAlg, SigningKey, VerificationKeys,
};

/// The `typ` of the inner JWS (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("could not sign the access token: {0}")]
    Sign(String),
    #[error("could not encrypt the access token: {0}")]
    Encrypt(String),
}

/// Sign `claims` (an [`AccessTokenClaims`] or a 2-legged [`crate::ClientAccessTokenClaims`]) with
/// `signer`, then encrypt the JWS to the resource server's `recipient` key.
pub fn seal<C: Serialize>(
    claims: &C,
    signer: &SigningKey,
    recipient: &EncryptionKey,
    content: ContentEncryption,
) -> Result<String, SealError> {
    let jws = signer
        .sign_json(Some(ACCESS_TOKEN_TYP), claims)
        .map_err(|e| SealError::Sign(e.to_string()))?;
    let mut header = JweHeader::new();
    header.set_content_encryption(content.name());
    header.set_content_type("JWT");
    header.set_key_id(recipient.kid());
    jwe::serialize_compact(jws.as_bytes(), &header, recipient.encrypter())
        .map_err(|e| SealError::Encrypt(e.to_string()))
}

/// What an access token must satisfy to be opened.
#[derive(Debug, Clone)]
pub struct OpenPolicy<'a> {
    /// The authorization server's issuer identifier (exact match).
    pub issuer: &'a str,
    /// This resource server's audience identifier; `aud` must contain it.
    pub audience: &'a str,
    /// Accepted JWE `alg` values (key management).
    pub key_management: &'a [EncryptionAlg],
    /// Accepted JWE `enc` values.
    pub content: &'a [ContentEncryption],
    /// Accepted inner JWS `alg` values.
    pub signing: &'a [SigningAlg],
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
}

/// Why a token could not be opened. The messages are for logs; callers answer a generic 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not a compact JWE")]
    Malformed,
    #[error("JWE algorithm not accepted: {0}")]
    AlgorithmNotAllowed(String),
    #[error("no decryption key for kid {0:?}")]
    UnknownDecryptionKey(Option<String>),
    #[error("decryption failed")]
    Decrypt,
    #[error("the JWE does not carry a JWT (cty)")]
    NotNested,
    #[error("inner JWS: {0}")]
    Signature(VerifyError),
    #[error("inner JWS is not an access token (typ {0:?})")]
    WrongType(Option<String>),
    #[error("claims are not an access token: {0}")]
    Claims(String),
    #[error("issuer {0} is not trusted")]
    WrongIssuer(String),
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `crit` in the JWE (`"JWE"`) or the inner JWS (`"JWS"`) header.
    #[error("the {0} header has crit, and no extension is understood")]
    Critical(&'static str),
    #[error("the JWE {0} has the wrong length for its algorithm")]
    BadLength(JweSegment),
}

/// The parts of a compact JWE (RFC 7516 §7.1) whose length its `alg` and `enc` fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JweSegment {
    EncryptedKey,
    InitializationVector,
    AuthenticationTag,
}

impl std::fmt::Display for JweSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JweSegment::EncryptedKey => "encrypted key",
            JweSegment::InitializationVector => "initialization vector",
            JweSegment::AuthenticationTag => "authentication tag",
        })
    }
}

impl OpenError {
    /// Whether fetching the issuer's JWKS again could help (key rotation).
    pub fn is_unknown_signing_key(&self) -> bool {
        matches!(self, OpenError::Signature(VerifyError::UnknownKey(_)))
    }
}

/// Decrypt the JWE with one of `keys`, honouring the policy's algorithm allow-lists. Returns the
/// inner compact JWS.
pub fn decrypt(
    token: &str,
    keys: &DecryptionKeys,
    policy: &OpenPolicy<'_>,
) -> Result<String, OpenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(encrypted_key), Some(iv), Some(ciphertext), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(OpenError::Malformed);
    };
    // Canonical base64url only (RFC 7515 §2: no padding; RFC 4648 §3.5: no stray bits), so every
    // token has one spelling and the lengths below are those of what josekit will decode.
    let decode = |segment: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|_| OpenError::Malformed)
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&decode(header)?).map_err(|_| OpenError::Malformed)?;
    let (encrypted_key, iv, tag) = (decode(encrypted_key)?, decode(iv)?, decode(tag)?);
    decode(ciphertext)?;
    // RFC 7516 §4.1.13, RFC 7515 §4.1.11: a `crit` the recipient does not understand must be
    // refused, and the contract understands no extension (an empty or non-array one is malformed).
    if header.contains_key("crit") {
        return Err(OpenError::Critical("JWE"));
    }
    let header = JweHeader::from_map(header).map_err(|_| OpenError::Malformed)?;
    // Refuse what is not configured before any key is used.
    let alg_name = header.algorithm().unwrap_or("");
    let Some(alg) = policy
        .key_management
        .iter()
        .copied()
        .find(|a| a.name() == alg_name)
    else {
        return Err(OpenError::AlgorithmNotAllowed(alg_name.to_owned()));
    };
    let enc = header.content_encryption().unwrap_or("");
    let Some(content) = policy.content.iter().copied().find(|c| c.name() == enc) else {
        return Err(OpenError::AlgorithmNotAllowed(enc.to_owned()));
    };
    if header.claim("zip").is_some() {
        // Compression before encryption leaks plaintext length; nobody should send it.
        return Err(OpenError::AlgorithmNotAllowed("zip".into()));
    }
    let key = keys
        .find(header.key_id(), alg)
        .ok_or_else(|| OpenError::UnknownDecryptionKey(header.key_id().map(str::to_owned)))?;

    // The lengths the algorithms fix, all checked here, before josekit trusts them.
    let content_key_len = match content {
        ContentEncryption::A256GCM => 32,
        ContentEncryption::A128GCM => 16,
    };
    let encrypted_key_len = match alg {
        // RFC 8017 §7.1.2: an RSAES-OAEP ciphertext is exactly as long as the modulus.
        EncryptionAlg::RsaOaep256 => key.rsa_modulus_len(),
        // RFC 7518 §4.6 → §4.4, RFC 3394 §2.2.1: AES key wrap adds 8 bytes to the content key.
        // josekit allocates `len - 8` bytes unchecked: a shorter key was a remote panic.
        EncryptionAlg::EcdhEsA256kw => Some(content_key_len + 8),
        // RFC 7518 §4.5: `dir` has an empty encrypted key.
        EncryptionAlg::Dir => Some(0),
    };
    if Some(encrypted_key.len()) != encrypted_key_len {
        return Err(OpenError::BadLength(JweSegment::EncryptedKey));
    }
    // RFC 7518 §5.3: AES-GCM has a 96-bit IV and a 128-bit tag. OpenSSL checks a shorter tag as
    // far as it goes (a 1-byte one is forged in 256 tries); the openssl crate panics on no IV.
    let (iv_len, tag_len) = match content {
        ContentEncryption::A256GCM | ContentEncryption::A128GCM => (12, 16),
    };
    if iv.len() != iv_len {
        return Err(OpenError::BadLength(JweSegment::InitializationVector));
    }
    if tag.len() != tag_len {
        return Err(OpenError::BadLength(JweSegment::AuthenticationTag));
    }

    let (payload, header) =
        jwe::deserialize_compact_with_selector(token, |_| Ok(Some(key.decrypter())))
            .map_err(|_| OpenError::Decrypt)?;
    if !header
        .content_type()
        .is_some_and(|c| c.eq_ignore_ascii_case("JWT"))
    {
        return Err(OpenError::NotNested);
    }
    String::from_utf8(payload).map_err(|_| OpenError::NotNested)
}

/// A genuine access token for this resource server: signed by the authorization server, for
/// this audience, within its validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Every claim is there. The mark is what the resource server records, set-if-absent,
    /// before it answers (single use, docs/decisions/0003).
    Complete(AccessTokenClaims, ReplayMark),
    /// Genuine and valid, but without a usable `phone_number`: the API versions answer their
    /// "token context" error. Such a token answers nothing, so it has no mark to record.
    WithoutPhoneNumber(TokenContext),
}

/// The claims of a genuine access token whose `phone_number` is missing or malformed: every
/// other claim the resource server needs (RFC 9068 §2.2, lenient on the ones it can do
/// without).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenContext {
    pub iss: String,
    pub aud: Audience,
    pub exp: i64,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub amr: Vec<Amr>,
}

impl TokenContext {
    fn registered(&self) -> Registered<'_> {
        Registered {
            iss: Some(&self.iss),
            aud: Some(&self.aud),
            exp: Some(self.exp),
            nbf: self.nbf,
            iat: self.iat,
            jti: Some(&self.jti),
        }
    }
}

impl Opened {
    pub fn client_id(&self) -> &str {
        match self {
            Opened::Complete(c, _) => &c.client_id,
            Opened::WithoutPhoneNumber(c) => &c.client_id,
        }
    }

    pub fn amr(&self) -> &[Amr] {
        match self {
            Opened::Complete(c, _) => &c.amr,
            Opened::WithoutPhoneNumber(c) => &c.amr,
        }
    }

    /// Whether one of the token's scopes grants what `required` grants, in whichever API
    /// version's name it was issued ([`ApiScope::grants`]).
    pub fn grants(&self, required: ApiScope) -> bool {
        let scope = match self {
            Opened::Complete(c, _) => &c.scope,
            Opened::WithoutPhoneNumber(c) => &c.scope,
        };
        claims::grants(scope, required)
    }

    pub fn has_amr(&self, accepted: &[Amr]) -> bool {
        claims::has_amr(self.amr(), accepted)
    }
}

impl OpenPolicy<'_> {
    /// What the claims of an access token must satisfy (RFC 9068 §4): the issuer, this audience
    /// among those of `aud`, the validity window with the leeway; the lifetime is the issuer's
    /// to choose. A `jti` is required: without one the token cannot be single use.
    pub fn claims(&self) -> ClaimPolicy<'_> {
        ClaimPolicy {
            issuer: Some(self.issuer),
            audience: AudienceRule::Contains(std::slice::from_ref(&self.audience)),
            max_lifetime: None,
            leeway: self.leeway,
            require_jti: true,
            require_iat: false,
            require_nbf: false,
            now: self.now,
        }
    }
}

/// What a claim check that failed means for an access token.
impl From<ClaimError> for OpenError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::WrongIssuer(iss) => OpenError::WrongIssuer(iss.unwrap_or_default()),
            ClaimError::WrongAudience => OpenError::WrongAudience,
            ClaimError::Time(TimeError::Expired) => OpenError::Expired,
            ClaimError::Time(TimeError::NotYetValid | TimeError::IssuedInTheFuture) => {
                OpenError::NotYetValid
            }
            e @ (ClaimError::Missing(_)
            | ClaimError::Time(TimeError::ExpiresTooLate | TimeError::LifetimeTooLong)) => {
                OpenError::Claims(e.to_string())
            }
        }
    }
}

/// Verify the inner JWS (once) and check its claims against the policy.
pub fn verify(
    jws: &str,
    keys: &VerificationKeys,
    policy: &OpenPolicy<'_>,
) -> Result<Opened, OpenError> {
    let header = peek_jws_header(jws).map_err(OpenError::Signature)?;
    // RFC 7515 §4.1.11 again: josekit refuses names it does not know but accepts `"crit": []`.
    if header.claim("crit").is_some() {
        return Err(OpenError::Critical("JWS"));
    }
    // RFC 9068 §4: the typ must be at+jwt (or application/at+jwt), so an ID token or any other JWT
    // signed by the same key cannot be replayed as an access token.
    let typ = header.token_type().map(str::to_owned);
    let typ_ok = typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(OpenError::WrongType(typ));
    }
    let payload = keys
        .verify_peeked(jws, &header, policy.signing)
        .map_err(OpenError::Signature)?;
    let claim_policy = policy.claims();
    match serde_json::from_slice::<AccessTokenClaims>(&payload) {
        Ok(claims) => {
            let mark = jwt::check(&claims.registered(), &claim_policy)?
                .ok_or(ClaimError::Missing(Claim::Jti))?;
            Ok(Opened::Complete(claims, mark))
        }
        Err(e) => without_phone_number(&payload, &claim_policy, e),
    }
}

/// The signed claims are not an access token's. If the only thing wrong is `phone_number`
/// (missing or not E.164) and the token is otherwise valid, it is a genuine token without a
/// usable phone number; else it is simply invalid, for the reason `full` gives.
fn without_phone_number(
    payload: &[u8],
    policy: &ClaimPolicy<'_>,
    full: serde_json::Error,
) -> Result<Opened, OpenError> {
    #[derive(Deserialize)]
    struct PhoneNumberClaim {
        phone_number: Option<Value>,
    }
    let context: TokenContext =
        serde_json::from_slice(payload).map_err(|e| OpenError::Claims(e.to_string()))?;
    jwt::check(&context.registered(), policy)?;
    let phone_ok = serde_json::from_slice::<PhoneNumberClaim>(payload)
        .ok()
        .and_then(|c| c.phone_number)
        .as_ref()
        .and_then(Value::as_str)
        .is_some_and(|s| s.parse::<PhoneNumber>().is_ok());
    if phone_ok {
        // The phone number is fine, so something else made the claims unparsable.
        return Err(OpenError::Claims(full.to_string()));
    }
    Ok(Opened::WithoutPhoneNumber(context))
}

/// Decrypt, then verify.
pub fn open(
    token: &str,
    decryption: &DecryptionKeys,
    verification: &VerificationKeys,
    policy: &OpenPolicy<'_>,
) -> Result<Opened, OpenError> {
    let jws = decrypt(token, decryption, policy)?;
    verify(&jws, verification, policy)
}
