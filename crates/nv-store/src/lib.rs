//! Shared state for both servers.
//!
//! Everything that several replicas must agree on — authorization codes, replay caches, single-use
//! marks, revocations, dynamic IP sessions, playground numbers — goes through [`Store`]. The
//! operations are the few the protocols need, each atomic on its own:
//!
//! - [`Store::put_if_absent`]: set-if-absent with a TTL (replay caches, single-use marks);
//! - [`Store::take`]: read-and-delete in one step (authorization codes: two racing redemptions
//!   cannot both see the code);
//! - plain `put` / `get` / `delete` and a prefix scan for the admin API;
//! - maps with a TTL per field ([`Store::map_put`], [`Store::map_remove`], [`Store::map_get`]):
//!   each update changes one field in one atomic step, so concurrent writers of different fields
//!   of one key (the leases of one address) never lose each other's updates, as a
//!   read-modify-write of a whole value would (CWE-362).
//!
//! Keys are plain strings; each backend adds its own deployment prefix. Every value expires.
//! Time is injected through [`Clock`], so expiry is tested by moving a [`FakeClock`].
//!
//! Backends: [`MemoryStore`] (one process, the default) and [`RedisStore`] (several replicas, on
//! one Redis or a Redis Cluster, where keys are hash-tagged so related keys share a slot);
//! [`connect_store`] picks one from the configured URL. With the `testing` feature,
//! `testing::RedisServer` and `testing::RedisCluster` start a throw-away `redis-server` or a
//! three-master cluster for tests.

mod clock;
mod memory;
mod redis_store;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use clock::{Clock, FakeClock, SystemClock};
pub use memory::MemoryStore;
pub use redis_store::{RedisOptions, RedisStore, RECONNECT_MAX_DELAY};

/// The live `(field, value)` pairs of one map, in field order.
pub type MapEntries = Vec<(String, Vec<u8>)>;

/// A store operation failed. Callers map this to `temporarily_unavailable` / 503, never to success.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the shared store is unavailable: {0}")]
    Unavailable(String),
    #[error("the shared store did not answer within {0:?}")]
    Timeout(Duration),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Store `value` under `key` for `ttl` unless the key exists. `true` when stored (first use).
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Remove `key` and return its value, atomically: of concurrent takers exactly one gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Store `value` under `key` for `ttl`, replacing any value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// `true` if something was deleted.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Every live `(key, value)` whose key starts with `prefix` (admin listings; not a hot path).
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Set `field` of the map at `key` to `value` for `ttl`, replacing only that field, in one
    /// atomic step. The map lives as long as its longest-lived field; expired fields are gone.
    async fn map_put(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Remove one field of the map at `key`. `true` if a live field was removed.
    async fn map_remove(&self, key: &str, field: &str) -> Result<bool, StoreError>;

    /// Every live `(field, value)` of the map at `key`, in field order (empty when absent).
    async fn map_get(&self, key: &str) -> Result<MapEntries, StoreError>;

    /// Every live map whose key starts with `prefix`, with its live fields (admin listings; not
    /// a hot path).
    async fn map_scan_prefix(&self, prefix: &str) -> Result<Vec<(String, MapEntries)>, StoreError>;

    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Opens the store named by the configured URL: `memory` (or empty) for the in-process
/// [`MemoryStore`] — `prefix` is then irrelevant, nothing is shared — and `redis://…` /
/// `rediss://…` (TLS) for a [`RedisStore`] on one node, `redis+cluster://host:port[,host:port…]`
/// / `rediss+cluster://…` for one on a Redis Cluster, with `prefix` and default timeouts.
///
/// Returns within about a second even when Redis is down (the Redis store then starts
/// disconnected and reconnects on demand). Errors are start-up configuration errors; their
/// message never quotes the URL, which may carry a password.
pub async fn connect_store(
    url: &str,
    prefix: &str,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, StoreError> {
    let url = url.trim();
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        None if url.is_empty() || url.eq_ignore_ascii_case("memory") => {
            Ok(Arc::new(MemoryStore::new(clock)))
        }
        Some("redis" | "rediss" | "redis+cluster" | "rediss+cluster") => {
            let options = RedisOptions {
                prefix: prefix.to_owned(),
                ..RedisOptions::default()
            };
            Ok(Arc::new(RedisStore::connect(url, options).await?))
        }
        other => Err(StoreError::Unavailable(format!(
            "unsupported store URL{}: expected `memory`, {}",
            other.map(|s| format!(" scheme `{s}`")).unwrap_or_default(),
            redis_store::URL_FORMS
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Arc<dyn Clock> {
        Arc::new(FakeClock::new(0))
    }

    #[tokio::test]
    async fn memory_and_an_empty_url_give_the_memory_store() {
        for url in ["memory", "", " MEMORY "] {
            let store = connect_store(url, "nv:", clock()).await.unwrap();
            assert!(store
                .put_if_absent("k", b"v", Duration::from_secs(5))
                .await
                .unwrap());
        }
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_a_clear_error_without_the_url() {
        let err = connect_store("postgres://user:s3cret@db/nv", "nv:", clock())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("scheme `postgres`"), "{err}");
        assert!(err.contains("redis://"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");

        let err = connect_store("localhost:6379", "nv:", clock())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("unsupported store URL"), "{err}");
    }

    #[tokio::test]
    async fn a_redis_url_gives_a_redis_store_even_when_redis_is_down() {
        // Nothing listens on port 1: the store starts disconnected instead of failing.
        let store = connect_store("redis://127.0.0.1:1", "nv:", clock())
            .await
            .unwrap();
        assert!(store.ping().await.is_err());
    }

    #[tokio::test]
    async fn a_cluster_url_gives_a_cluster_store_even_when_the_cluster_is_down() {
        let store = connect_store("redis+cluster://127.0.0.1:1,127.0.0.1:2", "nv:", clock())
            .await
            .unwrap();
        assert!(store.ping().await.is_err());
        assert!(store.get("k").await.is_err());
    }
}
