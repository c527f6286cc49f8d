//! Everything a request handler needs, built once at start-up — of the configuration only the
//! few values each handler uses, never the settings tree; [`keys`], the store key layout, and
//! [`records`], what is stored under those keys.

pub mod keys;
pub mod records;

use std::sync::Arc;

use nv_store::{Clock, Store};
use nv_token::dispatch::CryptoRunner;
use nv_token::jwt::ReplayMark;
use nv_token::{ContentEncryption, SigningKeys};

use crate::clients::ClientRegistry;
use crate::config::Secret;
use crate::endpoints::backchannel::CibaSettings;
use crate::network::Identification;
use crate::operator_token::OperatorTokens;
use crate::recipient::RecipientKey;

pub struct AppState {
    pub issuer: String,
    pub signing: SigningKeys,
    pub recipient: RecipientKey,
    pub clients: ClientRegistry,
    /// Who sent an authorization request: the playground short-cut, trusted proxies, resolvers.
    pub identity: Identification,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub pairwise_salt: Secret,
    /// Signing and encryption: inline, or on the blocking pool one job per worker
    /// (`server.crypto`).
    pub crypto: CryptoRunner,
    /// The discovery document and the JWKS, serialised on first use: both depend only on the
    /// configuration and the signing keys, which do not change while the server runs.
    pub documents: Documents,
    /// Largest accepted request body, in bytes (`server.max_body_bytes`).
    pub max_body_bytes: usize,
    /// Lifetime of an authorization code, in seconds (`code.ttl_seconds`, at most 60).
    pub code_ttl_seconds: i64,
    pub client_jwt: ClientJwtPolicy,
    pub access_token: AccessTokenPolicy,
    /// The admin API's bearer token (`admin.token`); without one the admin API does not exist.
    pub admin_token: Option<Secret>,
    /// Dev mode: `/demo/callback` answers (a 404 otherwise).
    pub demo_callback: bool,
    /// How long a CGNAT port block lives without a refresh (`cgnat.allocation_timeout_seconds`).
    pub cgnat_allocation_timeout_seconds: i64,
    /// TS.43 operator tokens: the backend that resolves them, and issues them when simulated.
    pub operator_tokens: OperatorTokens,
    /// CIBA request lifetime and polling interval (`ciba.*`).
    pub ciba: CibaSettings,
    /// Discovery carries `fast_flow_csp_auth_endpoint` (`compat.fast_flow_csp_auth_endpoint`).
    pub discovery_fast_flow: bool,
}

/// What the JWTs clients sign (client assertions, request objects) are checked with.
#[derive(Debug, Clone, Copy)]
pub struct ClientJwtPolicy {
    /// Clock skew tolerated on `iat`/`nbf`/`exp` (`client_assertion.leeway_seconds`).
    pub leeway_seconds: i64,
}

/// What access tokens are issued as (`access_token.*`).
#[derive(Debug, Clone)]
pub struct AccessTokenPolicy {
    /// The resource server's identifier, in `aud` of API-scoped tokens.
    pub audience: String,
    /// At most 300 s.
    pub ttl_seconds: i64,
    pub content_encryption: ContentEncryption,
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

    /// Record a client-signed JWT's replay mark under `key` (from [`keys`]), in the shared store
    /// so every replica sees it. `Ok(false)`: already used.
    pub async fn first_use(
        &self,
        key: &str,
        mark: &ReplayMark,
    ) -> Result<bool, nv_store::StoreError> {
        self.store.put_if_absent(key, b"1", mark.ttl()).await
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
