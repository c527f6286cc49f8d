//! Opening an access token: decrypt the JWE with this server's key, verify the inner JWS with the
//! authorization server's keys, check `typ`, `iss`, `aud`, `exp`/`nbf`/`iat`.
//!
//! RSA decryption is the most expensive thing this server does (≈ 1,300/s per core). It runs
//! inline on the HTTP worker (one per core by default) or on a blocking pool with one job per
//! worker (`server.crypto`; [`nv_token::dispatch`] has the measurements).

use std::sync::Arc;

use nv_store::Clock;
use nv_token::dispatch::CryptoRunner;
use nv_token::seal::{decrypt, verify};
use nv_token::{
    AccessTokenClaims, Audience, ContentEncryption, DecryptionKeys, EncryptionAlg, OpenError,
    OpenPolicy, PhoneNumber, SigningAlg, VerificationKeys,
};
use serde::Deserialize;

use crate::error::{ApiError, TokenRejection};
use crate::issuer_keys::IssuerKeys;

/// What a token must satisfy, owned (the blocking pool needs `'static` data).
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    pub key_management: Vec<EncryptionAlg>,
    pub content: Vec<ContentEncryption>,
    pub signing: Vec<SigningAlg>,
    pub leeway: i64,
    pub accepted_amr: Vec<String>,
}

impl TokenPolicy {
    pub fn at(&self, now: i64) -> OpenPolicy<'_> {
        OpenPolicy {
            issuer: &self.issuer,
            audience: &self.audience,
            key_management: &self.key_management,
            content: &self.content,
            signing: &self.signing,
            now,
            leeway: self.leeway,
        }
    }
}

/// Everything needed to open tokens; one per application, shared by all workers.
pub struct TokenVerifier {
    pub decryption: Arc<DecryptionKeys>,
    pub issuer_keys: Arc<IssuerKeys>,
    pub policy: Arc<TokenPolicy>,
    pub clock: Arc<dyn Clock>,
    /// Inline, or on the blocking pool one job per worker (`server.crypto`).
    pub crypto: CryptoRunner,
}

fn rejected(e: OpenError) -> ApiError {
    ApiError::Unauthenticated(TokenRejection::Invalid(e))
}

impl TokenVerifier {
    /// Run `f` where `server.crypto` says.
    async fn run_crypto<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.crypto.run(f).await.map_err(ApiError::Internal)
    }

    /// Decrypt and verify `token`.
    pub async fn open(&self, token: String) -> Result<OpenedToken, ApiError> {
        let now = self.clock.now();

        let (decryption, policy) = (self.decryption.clone(), self.policy.clone());
        let (jws, keys, first) = match self.issuer_keys.fresh_cached() {
            // The common case: the AS keys are cached, so decrypt and verify in one job (one
            // thread hand-off per request instead of two when it goes to the pool).
            Some(keys) => {
                let k = keys.clone();
                let (jws, first) = self
                    .run_crypto(move || {
                        let jws = decrypt(&token, &decryption, &policy.at(now))?;
                        let first = verify(&jws, &k, &policy.at(now));
                        Ok::<_, OpenError>((jws, first))
                    })
                    .await?
                    .map_err(rejected)?;
                (Arc::new(jws), keys, first)
            }
            None => {
                // 1. Decrypt first: a token that is not for us fails here, before the AS keys
                // are needed (so garbage is a 401 even while the AS is unreachable).
                let jws = self
                    .run_crypto(move || decrypt(&token, &decryption, &policy.at(now)))
                    .await?
                    .map_err(rejected)?;
                // 2. Then fetch the AS keys and verify.
                let keys = self
                    .issuer_keys
                    .current()
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
                let jws = Arc::new(jws);
                let first = self.verify_with(jws.clone(), keys.clone(), now).await?;
                (jws, keys, first)
            }
        };
        // On an unknown kid, refetch the AS keys (rate-limited) and verify again.
        let result = match first {
            Err(e) if e.is_unknown_signing_key() => {
                let kid = match &e {
                    OpenError::Signature(nv_token::keys::VerifyError::UnknownKey(kid)) => {
                        kid.clone()
                    }
                    _ => String::new(),
                };
                match self
                    .issuer_keys
                    .refresh_for_unknown_kid(&kid)
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?
                {
                    Some(fresh) => self.verify_with(jws.clone(), fresh, now).await?,
                    None => Err(e),
                }
            }
            other => other,
        };
        match result {
            Ok(claims) => Ok(claims.into()),
            // The signature was checked before the claims were parsed: a genuine token that does
            // not name a usable phone number is a "token context" error (NV 0.3.1 / 1.0.0 403),
            // provided everything else about it is right. It is reported when the handler asks
            // for the number, after the body was validated.
            Err(OpenError::Claims(_)) => {
                let (keys, policy) = (keys, self.policy.clone());
                self.run_crypto(move || token_context(&jws, &keys, &policy, now))
                    .await?
                    .map_err(rejected)
            }
            Err(e) => Err(rejected(e)),
        }
    }

    async fn verify_with(
        &self,
        jws: Arc<String>,
        keys: Arc<VerificationKeys>,
        now: i64,
    ) -> Result<Result<AccessTokenClaims, OpenError>, ApiError> {
        let policy = self.policy.clone();
        self.run_crypto(move || verify(&jws, &keys, &policy.at(now)))
            .await
    }
}

/// What the checks after decryption need from a verified token.
#[derive(Debug)]
pub struct OpenedToken {
    pub client_id: String,
    pub scope: String,
    pub amr: Vec<String>,
    pub jti: String,
    pub exp: i64,
    /// `None`: a genuine token that names no usable phone number ("token context" error).
    pub phone_number: Option<PhoneNumber>,
}

impl OpenedToken {
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }

    pub fn has_amr(&self, accepted: &[String]) -> bool {
        self.amr.iter().any(|a| accepted.contains(a))
    }
}

impl From<AccessTokenClaims> for OpenedToken {
    fn from(c: AccessTokenClaims) -> Self {
        Self {
            client_id: c.client_id,
            scope: c.scope,
            amr: c.amr,
            jti: c.jti,
            exp: c.exp,
            phone_number: Some(c.phone_number),
        }
    }
}

/// The claims every access token has, `phone_number` aside.
#[derive(Deserialize)]
struct ContextClaims {
    iss: String,
    aud: Audience,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    amr: Vec<String>,
    phone_number: Option<serde_json::Value>,
}

/// The token, without phone number, when the (already verified) token is a valid access token
/// for us in every respect but a missing or malformed `phone_number`; otherwise the reason it is
/// simply invalid.
fn token_context(
    jws: &str,
    keys: &VerificationKeys,
    policy: &TokenPolicy,
    now: i64,
) -> Result<OpenedToken, OpenError> {
    let (_, payload) = keys
        .verify(jws, &policy.signing)
        .map_err(OpenError::Signature)?;
    let claims: ContextClaims =
        serde_json::from_slice(&payload).map_err(|e| OpenError::Claims(e.to_string()))?;
    if claims.iss != policy.issuer {
        return Err(OpenError::WrongIssuer(claims.iss));
    }
    if !claims.aud.contains(&policy.audience) {
        return Err(OpenError::WrongAudience);
    }
    if claims.exp + policy.leeway <= now {
        return Err(OpenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf - policy.leeway > now)
        || claims.iat.is_some_and(|iat| iat - policy.leeway > now)
    {
        return Err(OpenError::NotYetValid);
    }
    if claims.jti.is_empty() {
        return Err(OpenError::Claims("empty jti".into()));
    }
    let phone_ok = claims
        .phone_number
        .as_ref()
        .and_then(|v| v.as_str())
        .is_some_and(|s| s.parse::<PhoneNumber>().is_ok());
    if phone_ok {
        // The phone number is fine, so something else made the claims unparsable.
        return Err(OpenError::Claims("claims are not an access token".into()));
    }
    Ok(OpenedToken {
        client_id: claims.client_id,
        scope: claims.scope,
        amr: claims.amr,
        jti: claims.jti,
        exp: claims.exp,
        phone_number: None,
    })
}
