//! Shared state for both servers.
//!
//! Everything that several replicas must agree on — authorization codes, replay caches, single-use
//! marks, revocations, dynamic IP sessions, playground numbers — goes through [`Store`]. The
//! operations are the few the protocols need, each atomic on its own:
//!
//! - [`Store::put_if_absent`]: set-if-absent with a TTL (replay caches, single-use marks);
//! - [`Store::take`]: read-and-delete in one step (authorization codes: two racing redemptions
//!   cannot both see the code);
//! - plain `put` / `get` / `delete` and a prefix scan for the admin API.
//!
//! Keys are plain strings; each backend adds its own deployment prefix. Every value expires.
//! Time is injected through [`Clock`], so expiry is tested by moving a [`FakeClock`].

mod clock;
mod memory;

use std::time::Duration;

use async_trait::async_trait;

pub use clock::{Clock, FakeClock, SystemClock};
pub use memory::MemoryStore;

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

    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}
