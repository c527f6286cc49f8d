//! RADIUS accounting (RFC 2866) from the packet core: the gateways (GGSN / PGW / SMF, or a
//! RADIUS proxy in front of them) report each data session, and the listener writes it into the
//! sessions the resolver reads ([`super::sessions`]), through the same writes as the admin API.
//!
//! - Start / Interim-Update: bind the session's addresses (Framed-IP-Address, Framed-IPv6-Prefix,
//!   Delegated-IPv6-Prefix, Framed-IPv6-Address) to the Calling-Station-Id until
//!   `radius.session_timeout_seconds` after the update.
//! - Stop: unbind that session (NAS + Acct-Session-Id) and the leases it superseded.
//! - Accounting-On / Off: every session of that NAS (NAS-IP-Address, else the peer) is dropped.
//!
//! The codec is `radius_accounting`; the listener, its duplicate cache and its bounds are in
//! [`listener`]; the counters in [`counters`].

pub mod counters;
pub mod listener;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use nv_store::{Clock, Store, StoreError};
use nv_token::PhoneNumber;
use tokio::task::JoinHandle;

pub use counters::{CountersSnapshot, DropReason, FeedCounters};
use listener::{Handler, NasTable};

use super::feed::{bind_udp, report_changes, Tasks};
use super::{ClientAddr, IdentityResolver};
use crate::config::Settings;
use crate::startup::StartupError;

/// The running listener. Dropping it stops it.
pub struct RadiusFeed {
    local_addr: SocketAddr,
    counters: Arc<FeedCounters>,
    _tasks: Tasks,
}

impl RadiusFeed {
    /// Binds and starts the listener `radius` configures for this mode, if any. The dev-mode
    /// default address taken by another process is a warning, not an error: a second local
    /// server (or a FreeRADIUS) on the same machine still starts.
    pub fn start(
        settings: &Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Self>, StartupError> {
        let Some(config) = settings.radius.effective(settings.mode) else {
            return Ok(None);
        };
        let Some((socket, local_addr)) = bind_udp(
            config.addr,
            config.dev_default,
            "RADIUS accounting listener",
        )?
        else {
            return Ok(None);
        };
        let socket = Arc::new(socket);
        let counters = Arc::new(FeedCounters::default());
        let handler = Arc::new(Handler::new(
            NasTable::new(&config.clients),
            store,
            clock,
            counters.clone(),
            settings.server.trusted_proxies.clone(),
            settings.radius.session_timeout_seconds as i64,
        ));
        let mut tasks: Vec<JoinHandle<()>> = (0..settings.radius.max_in_flight)
            .map(|_| tokio::spawn(listener::serve(socket.clone(), handler.clone())))
            .collect();
        tasks.push(tokio::spawn(report(counters.clone())));
        let tasks = Tasks(tasks);
        tracing::info!(
            radius.address = %local_addr,
            radius.clients = config.clients.len(),
            "RADIUS accounting listener ready"
        );
        Ok(Some(Self {
            local_addr,
            counters,
            _tasks: tasks,
        }))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn counters(&self) -> Arc<FeedCounters> {
        self.counters.clone()
    }

    /// `resolver` (the sessions), with its lookups counted as the feed's hits and misses.
    pub fn count_lookups<R: IdentityResolver>(&self, resolver: R) -> CountedResolver<R> {
        CountedResolver {
            inner: resolver,
            counters: self.counters.clone(),
        }
    }
}

/// Logs the counters each interval in which they changed; store failures as a warning.
async fn report(counters: Arc<FeedCounters>) {
    report_changes(
        || counters.snapshot(),
        |last, now| {
            let json = serde_json::to_string(now).unwrap_or_default();
            let failures = now.dropped["store_error"] - last.dropped["store_error"];
            if failures > 0 {
                tracing::warn!(radius.counters = %json, radius.store_errors = failures,
                    "RADIUS accounting: updates not stored (not answered; the gateways retry)");
            } else {
                tracing::info!(radius.counters = %json, "RADIUS accounting");
            }
        },
    )
    .await
}

/// A resolver whose answers are counted as lookup hits and misses.
pub struct CountedResolver<R> {
    inner: R,
    counters: Arc<FeedCounters>,
}

#[async_trait]
impl<R: IdentityResolver> IdentityResolver for CountedResolver<R> {
    async fn resolve(&self, addr: &ClientAddr, at: i64) -> Result<Option<PhoneNumber>, StoreError> {
        let found = self.inner.resolve(addr, at).await?;
        self.counters.lookup(found.is_some());
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
