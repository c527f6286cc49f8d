//! The start-up pieces both servers repeat: the store and clock from settings
//! ([`Dependencies`]), the public listener on the configured address (port 0 works) and the
//! HTTP server on it ([`Listener`]), the one "ready" event ([`ready`]), liveness ([`liveness`])
//! and the graceful stop of a server and the listeners that live with it
//! ([`run_until_stopped`]). What is served, and what else a server starts, stays in each server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, HttpServer};
use nv_store::{Clock, Store, StoreError, SystemClock};
use nv_token::CryptoDispatch;

use crate::config::{Mode, ServerSettings, StoreSettings};

/// What a server needs from outside, injected so that tests (and the local stack) choose it:
/// a fresh `MemoryStore` and a `FakeClock`, or one store shared by several servers.
pub struct Dependencies {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

impl Dependencies {
    /// The store `[store]` names and the system clock. A Redis that is down at start-up does
    /// not stop the server: the store reconnects by itself and `/readyz` reports it meanwhile.
    /// The error never quotes the URL (it may carry a password).
    pub async fn from_settings(store: &StoreSettings) -> Result<Self, StoreError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = nv_store::connect_store(&store.url, &store.prefix, clock.clone()).await?;
        Ok(Self { store, clock })
    }
}

/// An address could not be listened on.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// A bound TCP listener and the address it got (the port chosen when 0 was asked for).
pub struct Listener {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl Listener {
    /// `server.host` and `server.port`.
    pub fn on<Own>(server: &ServerSettings<Own>) -> Result<Self, BindError> {
        Self::bind(SocketAddr::new(server.host, server.port))
    }

    pub fn bind(addr: SocketAddr) -> Result<Self, BindError> {
        let error = |source| BindError { addr, source };
        let listener = TcpListener::bind(addr).map_err(error)?;
        let local_addr = listener.local_addr().map_err(error)?;
        Ok(Self {
            listener,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs `factory`'s app on this listener with `workers` HTTP workers. On SIGINT or SIGTERM
    /// (or [`run_until_stopped`] stopping it) the server stops accepting and gives the requests
    /// in flight `shutdown_seconds` to finish.
    pub fn serve<F, T, B>(
        self,
        workers: usize,
        shutdown_seconds: u64,
        factory: F,
    ) -> Result<Server, BindError>
    where
        F: Fn() -> App<T> + Send + Clone + 'static,
        T: ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        let addr = self.local_addr;
        Ok(HttpServer::new(factory)
            .workers(workers)
            .shutdown_timeout(shutdown_seconds)
            .listen(self.listener)
            .map_err(|source| BindError { addr, source })?
            .run())
    }
}

/// The one event that says a server is up, with the fields both servers log. Logged inside the
/// caller's span, so a server adds its own facts as that span's fields.
pub fn ready(server: &str, address: SocketAddr, mode: Mode, crypto: CryptoDispatch) {
    tracing::info!(
        server.address = %address,
        server.mode = ?mode,
        server.crypto = crypto.name(),
        "{server} ready"
    );
}

/// Liveness (`/healthz`): the process answers HTTP. Touches no dependency, so a store outage
/// does not get every replica restarted.
pub async fn liveness() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Serves until `main` stops (a signal: graceful shutdown); the servers `alongside` (another
/// listener of the same process, such as an admin API of its own) run meanwhile and are then
/// stopped gracefully too.
pub async fn run_until_stopped(main: Server, alongside: Vec<Server>) -> std::io::Result<()> {
    let handles: Vec<_> = alongside.iter().map(Server::handle).collect();
    let tasks: Vec<_> = alongside.into_iter().map(tokio::spawn).collect();
    let result = main.await;
    for handle in handles {
        handle.stop(true).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    result
}
