//! Opening access tokens at the resource server, in one call: decrypt with its own keys, verify
//! with the authorization server's keys (refreshed through [`IssuerKeys`] when a token names an
//! unknown `kid`: the issuer rotated its key), check the claims ([`crate::jwt`]), and say what
//! the token is ([`Opened`]).
//!
//! The crypto runs where `server.crypto` says ([`CryptoRunner`]: inline on the HTTP worker, or
//! on the blocking pool one job per worker). RSA decryption is the most expensive thing the
//! resource server does (≈ 1,300/s per core); in the common case, with the issuer's keys at hand,
//! decryption and verification are one job, so a pooled token costs one thread hand-off.

use std::sync::Arc;

use crate::dispatch::CryptoRunner;
use crate::keys::VerifyError;
use crate::seal::{decrypt, verify};
use crate::{
    ContentEncryption, DecryptionKeys, EncryptionAlg, OpenError, OpenPolicy, Opened, SigningAlg,
    VerificationKeys,
};

/// Where the authorization server's signature keys come from; the resource server implements it
/// (a file, a JWKS URL or discovery, cached and refreshed at a bounded rate).
#[async_trait::async_trait]
pub trait IssuerKeys: Send + Sync {
    /// The keys if fresh ones are at hand; never fetches, never waits.
    fn fresh(&self) -> Option<Arc<VerificationKeys>>;

    /// The current keys: cached, or fetched when there are none or they are too old.
    async fn current(&self) -> Result<Arc<VerificationKeys>, KeysUnavailable>;

    /// A token names `kid`, which the keys at hand lack: fetch them again unless that is
    /// rate-limited (`Ok(None)`). The fresh set may still lack `kid`; verification then says so.
    async fn refresh_for_unknown_kid(
        &self,
        kid: &str,
    ) -> Result<Option<Arc<VerificationKeys>>, KeysUnavailable>;
}

/// The issuer's keys could not be obtained; the message is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("authorization server keys unavailable: {0}")]
pub struct KeysUnavailable(pub String);

/// What an access token must satisfy, owned (a job on the blocking pool needs `'static` data).
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    pub key_management: Vec<EncryptionAlg>,
    pub content: Vec<ContentEncryption>,
    pub signing: Vec<SigningAlg>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
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

/// Why a token was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenFailure {
    /// The token is not a valid access token for this server (a 401).
    #[error("{0}")]
    Invalid(OpenError),
    /// The issuer's keys are needed and could not be had (a 503, never an acceptance).
    #[error("{0}")]
    Unavailable(KeysUnavailable),
    /// The crypto job failed (it panicked, or the runtime is going down).
    #[error("{0}")]
    Crypto(String),
}

/// Everything needed to open tokens; one per server, shared by all workers.
pub struct Opener {
    pub decryption: Arc<DecryptionKeys>,
    pub issuer_keys: Arc<dyn IssuerKeys>,
    pub policy: Arc<TokenPolicy>,
    pub crypto: CryptoRunner,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("decryption", &self.decryption)
            .field("policy", &self.policy)
            .field("crypto", &self.crypto.dispatch())
            .finish_non_exhaustive()
    }
}

impl Opener {
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, OpenFailure> {
        self.crypto.run(job).await.map_err(OpenFailure::Crypto)
    }

    async fn verify_with(
        &self,
        jws: Arc<String>,
        keys: Arc<VerificationKeys>,
        now: i64,
    ) -> Result<Result<Opened, OpenError>, OpenFailure> {
        let policy = self.policy.clone();
        self.run(move || verify(&jws, &keys, &policy.at(now))).await
    }

    /// Decrypt, verify and check `token` at `now`.
    pub async fn open(&self, token: String, now: i64) -> Result<Opened, OpenFailure> {
        let (decryption, policy) = (self.decryption.clone(), self.policy.clone());
        let (jws, first) = match self.issuer_keys.fresh() {
            // The common case: decrypt and verify in one job.
            Some(keys) => {
                let (jws, first) = self
                    .run(move || {
                        let jws = decrypt(&token, &decryption, &policy.at(now))?;
                        let first = verify(&jws, &keys, &policy.at(now));
                        Ok::<_, OpenError>((jws, first))
                    })
                    .await?
                    .map_err(OpenFailure::Invalid)?;
                (Arc::new(jws), first)
            }
            None => {
                // Decrypt first: a token that is not for this server fails here, before the
                // issuer's keys are needed (so garbage is refused even while they cannot be had).
                let jws = self
                    .run(move || decrypt(&token, &decryption, &policy.at(now)))
                    .await?
                    .map_err(OpenFailure::Invalid)?;
                let keys = self
                    .issuer_keys
                    .current()
                    .await
                    .map_err(OpenFailure::Unavailable)?;
                let jws = Arc::new(jws);
                let first = self.verify_with(jws.clone(), keys, now).await?;
                (jws, first)
            }
        };
        let opened = match first {
            Err(OpenError::Signature(VerifyError::UnknownKey(kid))) => {
                match self
                    .issuer_keys
                    .refresh_for_unknown_kid(&kid)
                    .await
                    .map_err(OpenFailure::Unavailable)?
                {
                    Some(fresh) => self.verify_with(jws, fresh, now).await?,
                    None => Err(OpenError::Signature(VerifyError::UnknownKey(kid))),
                }
            }
            other => other,
        };
        opened.map_err(OpenFailure::Invalid)
    }
}
