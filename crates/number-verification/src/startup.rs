//! Building and running the server: [`Application::build`] binds its own listener (port 0 works)
//! and reports the bound address; `main` and the tests use the same code path.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App};
use nv_token::dispatch::CryptoRunner;
use nv_token::opener::{Opener, TokenPolicy};
pub use server_kit::startup::Dependencies;
use server_kit::startup::{BindError, Listener};
use tracing_actix_web::TracingLogger;

use crate::config::{Mode, Settings};
use crate::correlator::correlate;
use crate::issuer_keys::IssuerKeyCache;
use crate::keys::{load_decryption_keys, KeyLoadError};
use crate::routes;
use crate::state::AppState;
use crate::telemetry::RootSpan;
use crate::token::TokenVerifier;

/// Why the server could not start. Every message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Keys(#[from] KeyLoadError),
    #[error("{0} (change server.host / server.port, NV_SERVER__PORT)")]
    Bind(#[from] BindError),
    #[error("store.url (NV_STORE__URL): {0}")]
    Store(#[from] nv_store::StoreError),
    #[error("cannot create the HTTP client for the authorization server: {0}")]
    HttpClient(String),
}

/// In-flight requests get this long to finish when the server stops (actix-web's default).
const SHUTDOWN_SECONDS: u64 = 30;

pub struct Application {
    server: Server,
    local_addr: SocketAddr,
    crypto: nv_token::CryptoDispatch,
}

impl Application {
    /// Build with the store named by `store.url` (`memory` or `redis://…`) and the system clock.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let deps = Dependencies::from_settings(&settings.store).await?;
        Self::build_with(settings, deps).await
    }

    pub async fn build_with(
        settings: Settings,
        deps: Dependencies,
    ) -> Result<Application, StartupError> {
        if settings.mode == Mode::Production && settings.accepts_playground() {
            tracing::warn!(
                "tokens.accept_playground is on in production mode: playground identities (from a login hint, not the network) are accepted"
            );
        }
        let keys = load_decryption_keys(&settings)?;
        let issuer_keys = IssuerKeyCache::new(&settings.authorization_server, deps.clock.clone())
            .map_err(|e| StartupError::HttpClient(e.to_string()))?;
        let policy = TokenPolicy {
            issuer: settings.authorization_server.issuer.clone(),
            audience: settings.audience.clone(),
            key_management: settings.keys.key_management.clone(),
            content: settings.keys.content_encryption.clone(),
            signing: settings.tokens.signing_algorithms.clone(),
            leeway: settings.tokens.leeway_seconds,
        };
        let state = web::Data::new(AppState {
            verifier: TokenVerifier {
                opener: Opener {
                    decryption: Arc::new(keys.decryption),
                    issuer_keys: Arc::new(issuer_keys),
                    policy: Arc::new(policy),
                    crypto: CryptoRunner::new(settings.server.crypto, settings.server.workers()),
                },
                accepted_amr: settings.accepted_amr(),
                clock: deps.clock.clone(),
            },
            store: deps.store,
            clock: deps.clock,
            public_jwks: keys.public_jwks.to_string(),
        });

        let listener = Listener::on(&settings.server)?;
        let local_addr = listener.local_addr();

        let crypto = state.verifier.opener.crypto.dispatch();
        server_kit::startup::ready("number-verification", local_addr, settings.mode, crypto);
        let prefix = settings.server.path_prefix.clone();
        let aliases = settings.aliases();
        for alias in &aliases {
            tracing::info!(alias.base = %alias.base, alias.surface = ?alias.surface, "serving an API surface under another base");
        }
        let max_body = settings.server.max_body_bytes;
        let workers = settings.server.workers();
        let server = listener.serve(workers, SHUTDOWN_SECONDS, move || {
            let app = App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                // Inner: x-correlator validation and echo runs inside the root span.
                .wrap(from_fn(correlate))
                .wrap(TracingLogger::<RootSpan>::new())
                .default_service(web::to(routes::not_found));
            let app = if prefix.is_empty() {
                app
            } else {
                app.service(web::scope(&prefix).configure(routes::configure))
            };
            let app = aliases.iter().fold(app, |app, alias| {
                app.configure(|cfg| routes::configure_alias(cfg, alias))
            });
            app.configure(routes::configure)
        })?;
        Ok(Application {
            server,
            local_addr,
            crypto,
        })
    }

    /// Where this server runs its crypto (`server.crypto`, as the running state has it).
    pub fn crypto(&self) -> nv_token::CryptoDispatch {
        self.crypto
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serve until the process is signalled (SIGINT/SIGTERM: graceful shutdown).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        server_kit::startup::run_until_stopped(self.server, Vec::new()).await
    }
}
