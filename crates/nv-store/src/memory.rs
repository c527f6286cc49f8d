use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::{Clock, MapEntries, Store, StoreError, SystemClock};

/// The embedded store for a single process. Expiry follows the injected [`Clock`]; expired
/// entries are dropped when touched, and each write also removes a few of the earliest-expiring
/// entries from a min-heap of expiries, so memory stays bounded without ever sweeping the whole
/// map under the lock (a full sweep stalled every request for milliseconds at 100k entries).
pub struct MemoryStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Vec<u8>, i64)>,
    /// Maps: field → (value, expiry); a map whose fields all expired is removed when touched or
    /// evicted.
    maps: HashMap<String, BTreeMap<String, (Vec<u8>, i64)>>,
    /// `(expiry, slot)` of every write, earliest first; stale items (key rewritten or removed)
    /// are skipped when popped.
    expiries: BinaryHeap<Reverse<(i64, Slot)>>,
}

/// What an expiry of the heap belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Entry(String),
    Map(String),
}

/// Expired entries removed per write: more than one, so the heap drains faster than it fills.
const EVICTIONS_PER_WRITE: usize = 4;

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

    /// The live fields of the map at `key` (expired fields dropped; an empty map removed).
    fn live_map(&mut self, key: &str, now: i64) -> Option<&mut BTreeMap<String, (Vec<u8>, i64)>> {
        let map = self.maps.get_mut(key)?;
        map.retain(|_, (_, exp)| *exp > now);
        if map.is_empty() {
            self.maps.remove(key);
            return None;
        }
        self.maps.get_mut(key)
    }

    fn wrote(&mut self, slot: Slot, exp: i64, now: i64) {
        self.expiries.push(Reverse((exp, slot)));
        for _ in 0..EVICTIONS_PER_WRITE {
            match self.expiries.peek() {
                Some(Reverse((e, _))) if *e <= now => {}
                _ => break,
            }
            match self.expiries.pop() {
                // Only if the entry still carries this expiry (it may have been rewritten).
                Some(Reverse((e, Slot::Entry(k)))) => {
                    if self.entries.get(&k).is_some_and(|(_, cur)| *cur == e) {
                        self.entries.remove(&k);
                    }
                }
                Some(Reverse((_, Slot::Map(k)))) => {
                    self.live_map(&k, now);
                }
                None => break,
            }
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
        inner.wrote(Slot::Entry(key.to_owned()), exp, now);
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
        inner.wrote(Slot::Entry(key.to_owned()), exp, now);
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

    async fn map_put(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let exp = self.expiry(ttl);
        let mut inner = self.lock();
        inner
            .maps
            .entry(key.to_owned())
            .or_default()
            .insert(field.to_owned(), (value.to_vec(), exp));
        inner.wrote(Slot::Map(key.to_owned()), exp, now);
        Ok(())
    }

    async fn map_remove(&self, key: &str, field: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let Some(map) = inner.live_map(key, now) else {
            return Ok(false);
        };
        let removed = map.remove(field).is_some();
        if map.is_empty() {
            inner.maps.remove(key);
        }
        Ok(removed)
    }

    async fn map_get(&self, key: &str) -> Result<MapEntries, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        Ok(inner
            .live_map(key, now)
            .map(|m| m.iter().map(|(f, (v, _))| (f.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn map_scan_prefix(&self, prefix: &str) -> Result<Vec<(String, MapEntries)>, StoreError> {
        let now = self.clock.now();
        let inner = self.lock();
        let mut out: Vec<(String, MapEntries)> = inner
            .maps
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, m)| {
                let live = m
                    .iter()
                    .filter(|(_, (_, exp))| *exp > now)
                    .map(|(f, (v, _))| (f.clone(), v.clone()))
                    .collect::<MapEntries>();
                (k.clone(), live)
            })
            .filter(|(_, m)| !m.is_empty())
            .collect();
        out.sort();
        Ok(out)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeClock;

    #[tokio::test]
    async fn expired_entries_are_evicted_by_later_writes_without_being_touched() {
        let clock = FakeClock::new(0);
        let store = MemoryStore::new(Arc::new(clock.clone()));
        for i in 0..1000 {
            store
                .put(&format!("old:{i}"), b"x", Duration::from_secs(10))
                .await
                .unwrap();
        }
        // Rewritten with a longer TTL: its first heap item is stale and must not evict it.
        store
            .put("old:7", b"y", Duration::from_secs(100))
            .await
            .unwrap();
        clock.advance(11);
        for i in 0..300 {
            store
                .put(&format!("new:{i}"), b"x", Duration::from_secs(10))
                .await
                .unwrap();
        }
        let len = store.lock().entries.len();
        assert!(len <= 301 + 1, "expired entries linger: {len}");
        assert_eq!(
            store.get("old:7").await.unwrap().as_deref(),
            Some(&b"y"[..])
        );
    }
}
