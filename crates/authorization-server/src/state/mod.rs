//! Everything a request handler needs, built once at start-up; [`keys`], the store key layout,
//! and [`records`], what is stored under those keys.

pub mod keys;
pub mod records;

use std::sync::Arc;

use nv_store::{Clock, Store};
use nv_token::dispatch::CryptoRunner;
use nv_token::SigningKeys;

use crate::clients::ClientRegistry;
use crate::config::{Secret, Settings};
use crate::network::Identification;
use crate::recipient::RecipientKey;

pub struct AppState {
    pub settings: Settings,
    pub issuer: String,
    pub signing: SigningKeys,
    pub recipient: RecipientKey,
    pub clients: ClientRegistry,
    /// Who sent an authorization request: the playground short-cut, trusted proxies, resolvers.
    pub identity: Identification,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub pairwise_salt: Secret,
    pub http: reqwest::Client,
    /// Signing and encryption: inline, or on the blocking pool one job per worker
    /// (`server.crypto`).
    pub crypto: CryptoRunner,
    /// The discovery document and the JWKS, serialised on first use: both depend only on the
    /// configuration and the signing keys, which do not change while the server runs.
    pub documents: Documents,
}

#[derive(Default)]
pub struct Documents {
    pub discovery: std::sync::OnceLock<actix_web::web::Bytes>,
    pub jwks: std::sync::OnceLock<actix_web::web::Bytes>,
}

impl AppState {
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    pub fn token_endpoint(&self) -> String {
        self.endpoint("/token")
    }

    /// Remember a client-signed JWT's `jti` under `key` until it expires (`exp` plus the clock
    /// leeway), in the shared store so every replica sees it. `Ok(false)`: already used. An
    /// accepted JWT expires within the 300 s window; the TTL is capped there whatever `exp` says.
    pub async fn first_use_of_jti(
        &self,
        key: &str,
        exp: i64,
    ) -> Result<bool, nv_store::StoreError> {
        let leeway = self.settings.client_assertion.leeway_seconds;
        let window = crate::protocol::client_jwt::MAX_LIFETIME.saturating_add(leeway);
        let remaining = exp.saturating_sub(self.now()).clamp(0, window);
        let ttl = std::time::Duration::from_secs(remaining.saturating_add(leeway).max(1) as u64);
        self.store.put_if_absent(key, b"1", ttl).await
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
