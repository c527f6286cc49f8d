use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::{Clock, Store, StoreError, SystemClock};

/// The embedded store for a single process. Expiry follows the injected [`Clock`]; expired
/// entries are dropped when touched and swept every 1024 writes so memory stays bounded.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Vec<u8>, i64)>,
    writes: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
        }
    }

    fn expiry(&self, ttl: Duration) -> i64 {
        // Round up: a 1.5 s TTL must not expire after 1 s.
        self.clock.now() + ttl.as_secs() as i64 + i64::from(ttl.subsec_nanos() > 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave an entry half-written (single inserts and
        // removes), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn live(&mut self, key: &str, now: i64) -> Option<&(Vec<u8>, i64)> {
        if self.entries.get(key).is_some_and(|(_, exp)| *exp <= now) {
            self.entries.remove(key);
        }
        self.entries.get(key)
    }

    fn wrote(&mut self, now: i64) {
        self.writes += 1;
        if self.writes % 1024 == 0 {
            self.entries.retain(|_, (_, exp)| *exp > now);
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let exp = self.expiry(ttl);
        let mut inner = self.lock();
        if inner.live(key, now).is_some() {
            return Ok(false);
        }
        inner.entries.insert(key.to_owned(), (value.to_vec(), exp));
        inner.wrote(now);
        Ok(true)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        Ok(inner
            .entries
            .remove(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let now = self.clock.now();
        let exp = self.expiry(ttl);
        let mut inner = self.lock();
        inner.entries.insert(key.to_owned(), (value.to_vec(), exp));
        inner.wrote(now);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now();
        Ok(self.lock().live(key, now).map(|(v, _)| v.clone()))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        Ok(self
            .lock()
            .entries
            .remove(key)
            .is_some_and(|(_, exp)| exp > now))
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let now = self.clock.now();
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .entries
            .iter()
            .filter(|(k, (_, exp))| k.starts_with(prefix) && *exp > now)
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
