//! The resource server's public encryption key: access tokens are encrypted to it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nv_token::{EncryptionAlg, EncryptionKey};
use tokio::sync::RwLock;

/// A fetched JWKS is used this long before it is fetched again; if the refetch fails the old key
/// keeps working (the resource server being briefly down must not stop token issuance).
const CACHE_TTL: Duration = Duration::from_secs(300);

pub enum RecipientKey {
    Static(Arc<EncryptionKey>),
    Remote {
        uri: String,
        alg: Option<EncryptionAlg>,
        cache: RwLock<Option<(Arc<EncryptionKey>, Instant)>>,
    },
}

impl RecipientKey {
    pub fn remote(uri: String, alg: Option<EncryptionAlg>) -> Self {
        Self::Remote {
            uri,
            alg,
            cache: RwLock::new(None),
        }
    }

    pub async fn get(&self, http: &reqwest::Client) -> Result<Arc<EncryptionKey>, String> {
        let (uri, alg, cache) = match self {
            RecipientKey::Static(k) => return Ok(k.clone()),
            RecipientKey::Remote { uri, alg, cache } => (uri, alg, cache),
        };
        let stale = cache.read().await.clone();
        if let Some((key, at)) = &stale {
            if at.elapsed() < CACHE_TTL {
                return Ok(key.clone());
            }
        }
        match fetch(http, uri, *alg).await {
            Ok(key) => {
                *cache.write().await = Some((key.clone(), Instant::now()));
                Ok(key)
            }
            Err(e) => match stale {
                Some((key, _)) => {
                    tracing::warn!(error.cause = %e, "keeping the cached resource-server key");
                    Ok(key)
                }
                None => Err(e),
            },
        }
    }
}

async fn fetch(
    http: &reqwest::Client,
    uri: &str,
    alg: Option<EncryptionAlg>,
) -> Result<Arc<EncryptionKey>, String> {
    let doc: serde_json::Value = http
        .get(uri)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("fetching the resource server's JWKS from {uri}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the resource server's JWKS at {uri} is not JSON: {e}"))?;
    let key = match alg {
        None => EncryptionKey::from_jwks(&doc),
        Some(alg) => doc["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| josekit::jwk::Jwk::from_map(k.as_object()?.clone()).ok())
            .find_map(|j| EncryptionKey::from_jwk(&j, Some(alg)).ok())
            .ok_or_else(|| nv_token::KeyError::Invalid(format!("no {} key", alg.name()))),
    }
    .map_err(|e| format!("the resource server's JWKS at {uri}: {e}"))?;
    Ok(Arc::new(key))
}
