//! The authorization server's signature keys, as this resource server learns them.
//!
//! Fetched lazily on first need (in the local stack the authorization server may start after
//! this one), from `authorization_server.jwks_file`, `authorization_server.jwks_uri`, or the
//! `jwks_uri` of `{issuer}/.well-known/openid-configuration` (OIDC Discovery §4; the document's
//! `issuer` must equal the configured one, §4.3). Parsed once into [`VerificationKeys`] and
//! shared behind an `Arc`, through the shared cache of fetched documents
//! (`server_kit::remote`): readers never wait for a fetch when a copy is fresh; fetches are
//! single-flight; a token naming an unknown `kid` triggers a refetch (the AS rotated its key), at
//! most once per `jwks_refresh_min_interval_seconds`, so forged `kid`s cannot make this server
//! hammer the AS; failures back off; the stale set keeps working while the AS is unreachable.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nv_store::Clock;
use nv_token::opener::{IssuerKeys, KeysUnavailable};
use nv_token::VerificationKeys;
use server_kit::remote::{get_json, CachePolicy, RemoteDocument, Source};
use url::Url;

use crate::config::{AuthorizationServerSettings, IssuerKeySource};

/// How long past `jwks_max_age_seconds` the last keys keep working while refetches fail.
const MAX_STALE_SECONDS: i64 = 24 * 3600;

/// Largest discovery document or JWKS accepted, in bytes.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    Uri(Url),
    Discovery { issuer: String },
}

/// Where the keys come from, and the `jwks_uri` discovery found (kept for the next fetches).
struct AsKeys {
    location: Location,
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<Url>>,
}

/// The authorization server's keys, cached: what [`nv_token::opener::Opener`] verifies with.
pub struct IssuerKeyCache {
    location: Location,
    keys: RemoteDocument<VerificationKeys>,
}

impl std::fmt::Debug for IssuerKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeyCache")
            .field("source", &self.location)
            .finish()
    }
}

impl IssuerKeyCache {
    pub fn new(
        settings: &AuthorizationServerSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        let location = match &settings.keys {
            IssuerKeySource::File(file) => Location::File(file.clone()),
            IssuerKeySource::JwksUri(uri) => Location::Uri(uri.clone()),
            IssuerKeySource::Discovery => Location::Discovery {
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
        let min_refresh = settings.jwks_refresh_min_interval_seconds as i64;
        let policy = CachePolicy {
            ttl: settings.jwks_max_age_seconds as i64,
            // Tokens are verified with the last keys while the AS's JWKS is unreachable, for a
            // day: long enough to ride out an outage, short enough that a key the AS withdrew
            // does not stay valid for as long as an attacker can keep the refetch failing.
            max_stale: Some(MAX_STALE_SECONDS),
            refresh_min_interval: min_refresh,
            max_backoff: min_refresh.max(1),
        };
        let source = AsKeys {
            location: location.clone(),
            http,
            discovered: tokio::sync::Mutex::new(None),
        };
        Ok(Self {
            location,
            keys: RemoteDocument::new(Box::new(source), policy, clock),
        })
    }
}

#[async_trait]
impl IssuerKeys for IssuerKeyCache {
    /// The cached keys if they are younger than `jwks_max_age_seconds`; never fetches (the hot
    /// path uses it to verify in the same crypto job that decrypts).
    fn fresh(&self) -> Option<Arc<VerificationKeys>> {
        self.keys.fresh()
    }

    /// The current keys: cached, or fetched when none are cached or the cache is older than
    /// `jwks_max_age_seconds` (a stale set is still used if that refetch fails).
    async fn current(&self) -> Result<Arc<VerificationKeys>, KeysUnavailable> {
        self.keys
            .get()
            .await
            .map_err(|e| KeysUnavailable(e.to_string()))
    }

    /// A token names `kid`, which the cached set lacks: refetch unless that happened less than
    /// `jwks_refresh_min_interval_seconds` ago. `Ok(None)` when rate-limited; the refetched set
    /// may still lack `kid`, which the signature check then reports.
    async fn refresh_for_unknown_kid(
        &self,
        kid: &str,
    ) -> Result<Option<Arc<VerificationKeys>>, KeysUnavailable> {
        tracing::debug!(jwks.kid = kid, "token names an unknown kid");
        self.keys
            .refresh_unless(|keys| keys.contains_kid(kid))
            .await
            .map_err(|e| KeysUnavailable(e.to_string()))
    }
}

#[async_trait]
impl Source<VerificationKeys> for AsKeys {
    async fn fetch(&self) -> Result<VerificationKeys, String> {
        let jwks = match &self.location {
            Location::File(path) => {
                let path = path.clone();
                let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("jwks_file: {e}"))?;
                serde_json::from_slice(&bytes).map_err(|_| "jwks_file is not JSON".to_owned())?
            }
            Location::Uri(uri) => get_json(&self.http, uri.as_str(), MAX_DOCUMENT_BYTES).await?,
            Location::Discovery { issuer } => {
                let mut discovered = self.discovered.lock().await;
                let jwks_uri = match &*discovered {
                    Some(uri) => uri.clone(),
                    None => {
                        let uri = self.discover(issuer).await?;
                        *discovered = Some(uri.clone());
                        uri
                    }
                };
                get_json(&self.http, jwks_uri.as_str(), MAX_DOCUMENT_BYTES).await?
            }
        };
        let keys = VerificationKeys::from_jwks(&jwks)
            .map_err(|e| format!("the JWKS is not usable: {e}"))?;
        if keys.is_empty() {
            return Err("the JWKS has no signature key this server can use".into());
        }
        tracing::info!(jwks.keys = ?keys, "loaded the authorization server's signature keys");
        Ok(keys)
    }
}

impl AsKeys {
    async fn discover(&self, issuer: &str) -> Result<Url, String> {
        // OIDC Discovery §4: the issuer, without a trailing slash, + /.well-known/openid-configuration.
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        Url::parse(&url).map_err(|e| format!("issuer is not a URL: {e}"))?;
        let doc = get_json(&self.http, &url, MAX_DOCUMENT_BYTES).await?;
        // §4.3: the issuer in the document MUST be identical to the one used for discovery;
        // otherwise another server's keys could be trusted.
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err("the discovery document names another issuer".into());
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or("the discovery document has no jwks_uri")?;
        Url::parse(jwks_uri).map_err(|e| format!("jwks_uri is not a URL: {e}"))
    }
}
