//! The authorization server's signature keys, as this resource server learns them.
//!
//! Fetched lazily on first need (in the local stack the authorization server may start after
//! this one), from `authorization_server.jwks_file`, `authorization_server.jwks_uri`, or the
//! `jwks_uri` of `{issuer}/.well-known/openid-configuration` (OIDC Discovery §4; the document's
//! `issuer` must equal the configured one, §4.3). Parsed once into [`VerificationKeys`] and
//! shared behind an `Arc`: readers clone the `Arc` under a short read lock and never wait for a
//! fetch. A token naming an unknown `kid` triggers a refetch (the AS rotated its key), at most
//! once per `jwks_refresh_min_interval_seconds`, so forged `kid`s cannot make this server hammer
//! the AS. Fetches are single-flight: concurrent requests wait for the same one.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use nv_store::Clock;
use nv_token::VerificationKeys;
use url::Url;

use crate::config::AuthorizationServerSettings;

/// Largest discovery document or JWKS accepted, in bytes.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// After a failed fetch with nothing cached, wait this long before the next attempt.
const FAILURE_BACKOFF_SECONDS: i64 = 1;

/// The keys could not be obtained; the message is for the log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("authorization server keys unavailable: {0}")]
pub struct KeysUnavailable(pub String);

#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Uri(Url),
    Discovery { issuer: String },
}

struct Cached {
    keys: Arc<VerificationKeys>,
    fetched_at: i64,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<i64>,
    last_failed: bool,
    /// `jwks_uri` found by discovery, kept for the next fetches.
    discovered: Option<Url>,
}

pub struct IssuerKeys {
    source: Source,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    min_refresh_interval: i64,
    max_age: i64,
    cached: RwLock<Option<Cached>>,
    fetch: tokio::sync::Mutex<FetchState>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("source", &self.source)
            .finish()
    }
}

impl IssuerKeys {
    pub fn new(
        settings: &AuthorizationServerSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        let source = match (&settings.jwks_file, &settings.jwks_uri) {
            (Some(file), _) => Source::File(file.clone()),
            (None, Some(uri)) => Source::Uri(uri.clone()),
            (None, None) => Source::Discovery {
                issuer: settings.issuer.clone(),
            },
        };
        let timeout = Duration::from_millis(settings.http_timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            // The JWKS is a trust anchor: do not follow it to wherever a redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("number-verification/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            source,
            http,
            clock,
            min_refresh_interval: settings.jwks_refresh_min_interval_seconds as i64,
            max_age: settings.jwks_max_age_seconds as i64,
            cached: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        })
    }

    fn read_cache(&self) -> Option<(Arc<VerificationKeys>, i64)> {
        let guard = self.cached.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|c| (c.keys.clone(), c.fetched_at))
    }

    /// The cached keys if they are younger than `jwks_max_age_seconds`; never fetches (the hot
    /// path uses it to verify in the same blocking job that decrypts).
    pub fn fresh_cached(&self) -> Option<Arc<VerificationKeys>> {
        let now = self.clock.now();
        self.read_cache()
            .filter(|(_, at)| now - at < self.max_age)
            .map(|(keys, _)| keys)
    }

    /// The current keys: cached, or fetched when none are cached or the cache is older than
    /// `jwks_max_age_seconds` (a stale set is still used if that refetch fails).
    pub async fn current(&self) -> Result<Arc<VerificationKeys>, KeysUnavailable> {
        let now = self.clock.now();
        let stale = match self.read_cache() {
            Some((keys, at)) if now - at < self.max_age => return Ok(keys),
            other => other.map(|(keys, _)| keys),
        };
        let mut state = match (self.fetch.try_lock(), &stale) {
            (Ok(state), _) => state,
            // Someone is refreshing already: answer with what we have rather than wait.
            (Err(_), Some(keys)) => return Ok(keys.clone()),
            (Err(_), None) => self.fetch.lock().await,
        };
        // Another request may have fetched while this one waited for the lock.
        if let Some((keys, at)) = self.read_cache() {
            if self.clock.now() - at < self.max_age {
                return Ok(keys);
            }
        }
        let since_last = state.last_attempt.map(|t| now - t);
        match &stale {
            // The AS is down and the old keys still work: do not retry on every request.
            Some(keys) if since_last.is_some_and(|s| s < self.min_refresh_interval) => {
                return Ok(keys.clone());
            }
            None if state.last_failed
                && since_last.is_some_and(|s| s < FAILURE_BACKOFF_SECONDS) =>
            {
                return Err(KeysUnavailable(
                    "the last fetch failed moments ago; retrying shortly".into(),
                ));
            }
            _ => {}
        }
        match self.fetch_locked(&mut state).await {
            Ok(keys) => Ok(keys),
            Err(e) => match stale {
                Some(keys) => {
                    tracing::warn!(error = %e, "could not refresh the authorization server's JWKS; using the cached keys");
                    Ok(keys)
                }
                None => Err(e),
            },
        }
    }

    /// A token names `kid`, which the cached set lacks: refetch unless that happened less than
    /// `jwks_refresh_min_interval_seconds` ago. `Ok(None)` when rate-limited or still unknown.
    pub async fn refresh_for_unknown_kid(
        &self,
        kid: &str,
    ) -> Result<Option<Arc<VerificationKeys>>, KeysUnavailable> {
        let mut state = self.fetch.lock().await;
        // A concurrent request may already have fetched the new key.
        if let Some((keys, _)) = self.read_cache() {
            if keys.contains_kid(kid) {
                return Ok(Some(keys));
            }
        }
        let now = self.clock.now();
        if state
            .last_attempt
            .is_some_and(|t| now - t < self.min_refresh_interval)
        {
            tracing::debug!(jwks.kid = kid, "unknown kid; JWKS refresh rate-limited");
            return Ok(None);
        }
        tracing::info!(
            jwks.kid = kid,
            "token names an unknown kid; refetching the authorization server's JWKS"
        );
        let keys = self.fetch_locked(&mut state).await?;
        Ok(keys.contains_kid(kid).then_some(keys))
    }

    async fn fetch_locked(
        &self,
        state: &mut FetchState,
    ) -> Result<Arc<VerificationKeys>, KeysUnavailable> {
        state.last_attempt = Some(self.clock.now());
        let result = self.fetch_jwks(state).await.and_then(|jwks| {
            let keys = VerificationKeys::from_jwks(&jwks)
                .map_err(|e| KeysUnavailable(format!("the JWKS is not usable: {e}")))?;
            if keys.is_empty() {
                return Err(KeysUnavailable(
                    "the JWKS has no signature key this server can use".into(),
                ));
            }
            Ok(Arc::new(keys))
        });
        state.last_failed = result.is_err();
        match &result {
            Ok(keys) => {
                tracing::info!(jwks.keys = ?keys, "loaded the authorization server's signature keys");
                let mut guard = self.cached.write().unwrap_or_else(|p| p.into_inner());
                *guard = Some(Cached {
                    keys: keys.clone(),
                    fetched_at: self.clock.now(),
                });
            }
            Err(e) => tracing::warn!(error = %e, "could not fetch the authorization server's JWKS"),
        }
        result
    }

    async fn fetch_jwks(
        &self,
        state: &mut FetchState,
    ) -> Result<serde_json::Value, KeysUnavailable> {
        match &self.source {
            Source::File(path) => {
                let path = path.clone();
                let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
                    .await
                    .map_err(|e| KeysUnavailable(e.to_string()))?
                    .map_err(|e| KeysUnavailable(format!("jwks_file: {e}")))?;
                serde_json::from_slice(&bytes)
                    .map_err(|_| KeysUnavailable("jwks_file is not JSON".into()))
            }
            Source::Uri(uri) => self.get_json(uri.clone()).await,
            Source::Discovery { issuer } => {
                let jwks_uri = match &state.discovered {
                    Some(uri) => uri.clone(),
                    None => {
                        let uri = self.discover(issuer).await?;
                        state.discovered = Some(uri.clone());
                        uri
                    }
                };
                self.get_json(jwks_uri).await
            }
        }
    }

    async fn discover(&self, issuer: &str) -> Result<Url, KeysUnavailable> {
        // OIDC Discovery §4: the issuer, without a trailing slash, + /.well-known/openid-configuration.
        let url = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .map_err(|e| KeysUnavailable(format!("issuer is not a URL: {e}")))?;
        let doc = self.get_json(url).await?;
        // §4.3: the issuer in the document MUST be identical to the one used for discovery;
        // otherwise another server's keys could be trusted.
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err(KeysUnavailable(
                "the discovery document names another issuer".into(),
            ));
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| KeysUnavailable("the discovery document has no jwks_uri".into()))?;
        Url::parse(jwks_uri).map_err(|e| KeysUnavailable(format!("jwks_uri is not a URL: {e}")))
    }

    async fn get_json(&self, url: Url) -> Result<serde_json::Value, KeysUnavailable> {
        let shown = format!("{}{}", url.origin().ascii_serialization(), url.path());
        let fail = |what: String| KeysUnavailable(format!("{shown}: {what}"));
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(fail("document too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| fail("not JSON".into()))
    }
}
