//! Documents a server fetches and trusts — a client's `jwks_uri`, the resource server's JWKS,
//! the authorization server's JWKS — behind one cache with the failure behaviour a remote trust
//! anchor needs:
//!
//! - **single flight**: requests that find the cache empty or expired wait for one fetch, or,
//!   when a usable copy exists, answer with it while another request refreshes;
//! - **back-off**: after a failed fetch the next attempt waits 1, 2, 4 … up to
//!   [`CachePolicy::max_backoff`] seconds, so while the remote host is down the (often
//!   unauthenticated) requests that need it cannot turn the server into a request amplifier;
//! - **stale fallback**: when a refetch fails, the last good document keeps answering for
//!   [`CachePolicy::max_stale`] past its lifetime, so a short outage of the remote host does not
//!   break logins or verifications;
//! - **rate-limited refresh** for a document that lacks what a request names (an unknown `kid`:
//!   the owner rotated), at most once per [`CachePolicy::refresh_min_interval`];
//! - [`get_json`] refuses bodies over a size cap without buffering them.
//!
//! Time comes from the injected [`Clock`], so tests move it instead of sleeping.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use nv_store::Clock;

/// How a [`RemoteDocument`] ages and retries; all in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// A document younger than this is used without fetching.
    pub ttl: i64,
    /// How long past `ttl` the last good document keeps answering while fetches fail; `None`:
    /// until a fetch succeeds.
    pub max_stale: Option<i64>,
    /// A refresh for something the document lacks happens at most this often.
    pub refresh_min_interval: i64,
    /// Longest pause between attempts after repeated failures.
    pub max_backoff: i64,
}

/// Why no document could be had. The message is for the log (it may name the URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Fetch(String),
    #[error("the last fetch failed; the next attempt is in {0} s")]
    BackingOff(i64),
}

/// Where a document comes from: a URL, a file, a discovery step then a URL.
#[async_trait]
pub trait Source<T>: Send + Sync + 'static {
    async fn fetch(&self) -> Result<T, String>;
}

struct Cached<T> {
    value: Arc<T>,
    fetched_at: i64,
}

#[derive(Default)]
struct Attempts {
    last: Option<i64>,
    /// Consecutive failures since the last success.
    failures: u32,
    /// No new attempt before this instant.
    next_allowed: i64,
}

/// One remote document of type `T`.
pub struct RemoteDocument<T> {
    source: Box<dyn Source<T>>,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    cached: RwLock<Option<Cached<T>>>,
    attempts: tokio::sync::Mutex<Attempts>,
}

impl<T: Send + Sync + 'static> RemoteDocument<T> {
    pub fn new(source: Box<dyn Source<T>>, policy: CachePolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            source,
            policy,
            clock,
            cached: RwLock::new(None),
            attempts: tokio::sync::Mutex::new(Attempts::default()),
        }
    }

    fn cache(&self) -> Option<(Arc<T>, i64)> {
        let guard = self.cached.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|c| (c.value.clone(), c.fetched_at))
    }

    fn usable_stale(&self, at: i64, now: i64) -> bool {
        self.policy
            .max_stale
            .is_none_or(|m| now - at < self.policy.ttl.saturating_add(m))
    }

    /// The cached document while younger than the TTL; never fetches (for hot paths that must
    /// not wait).
    pub fn fresh(&self) -> Option<Arc<T>> {
        let now = self.clock.now();
        self.cache()
            .filter(|(_, at)| now - at < self.policy.ttl)
            .map(|(value, _)| value)
    }

    /// The document: cached while fresh, else fetched; a stale copy answers when the fetch
    /// fails or is backing off, or while another request is fetching.
    pub async fn get(&self) -> Result<Arc<T>, RemoteError> {
        let now = self.clock.now();
        let stale = match self.cache() {
            Some((value, at)) if now - at < self.policy.ttl => return Ok(value),
            Some((value, at)) if self.usable_stale(at, now) => Some(value),
            _ => None,
        };
        let mut attempts = match (self.attempts.try_lock(), &stale) {
            (Ok(guard), _) => guard,
            (Err(_), Some(value)) => return Ok(value.clone()),
            (Err(_), None) => self.attempts.lock().await,
        };
        // Whoever held the lock before may have fetched already.
        if let Some(value) = self.fresh() {
            return Ok(value);
        }
        // With a stale copy at hand, attempts are at least `refresh_min_interval` apart.
        if let Some(value) = &stale {
            if attempts
                .last
                .is_some_and(|t| now - t < self.policy.refresh_min_interval)
            {
                return Ok(value.clone());
            }
        }
        self.fetch_locked(&mut attempts)
            .await
            .or_else(|e| stale.ok_or(e))
    }

    /// Fetch again because the cached document lacks what `has` looks for (an unknown `kid`),
    /// unless an attempt was made less than `refresh_min_interval` ago. The cached document
    /// when it has it (another request refreshed meanwhile), else the fetched one, whether it
    /// has it or not; `Ok(None)`: not refetched (rate-limited).
    pub async fn refresh_unless(
        &self,
        has: impl Fn(&T) -> bool,
    ) -> Result<Option<Arc<T>>, RemoteError> {
        let mut attempts = self.attempts.lock().await;
        // A concurrent request may already have fetched what this one needs.
        if let Some((value, _)) = self.cache() {
            if has(&value) {
                return Ok(Some(value));
            }
        }
        let now = self.clock.now();
        if attempts
            .last
            .is_some_and(|t| now - t < self.policy.refresh_min_interval)
        {
            return Ok(None);
        }
        self.fetch_locked(&mut attempts).await.map(Some)
    }

    async fn fetch_locked(&self, attempts: &mut Attempts) -> Result<Arc<T>, RemoteError> {
        let now = self.clock.now();
        if now < attempts.next_allowed {
            return Err(RemoteError::BackingOff(attempts.next_allowed - now));
        }
        attempts.last = Some(now);
        match self.source.fetch().await {
            Ok(value) => {
                let value = Arc::new(value);
                *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
                    value: value.clone(),
                    fetched_at: self.clock.now(),
                });
                attempts.failures = 0;
                attempts.next_allowed = 0;
                Ok(value)
            }
            Err(e) => {
                // Logged once per attempt, and attempts are spaced by the back-off.
                tracing::warn!(error.cause = %e, "fetching a remote key document failed");
                attempts.failures = attempts.failures.saturating_add(1);
                // 2^(failures-1), capped; the exponent is bounded so the shift cannot overflow.
                let exponent = (attempts.failures - 1).min(30);
                let pause = (1i64 << exponent).clamp(1, self.policy.max_backoff.max(1));
                attempts.next_allowed = now + pause;
                Err(RemoteError::Fetch(e))
            }
        }
    }
}

/// `url` as logs may show it: origin and path, without the query (which may carry credentials).
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}{}", u.origin().ascii_serialization(), u.path()),
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// GET `url` and parse the body as JSON: a non-2xx status, a body over `max_bytes` (refused
/// unread when `Content-Length` says so) or invalid JSON is an error. Messages name the URL
/// without its query (which may carry credentials).
pub async fn get_json(
    http: &reqwest::Client,
    url: &str,
    max_bytes: usize,
) -> Result<serde_json::Value, String> {
    if url::Url::parse(url).is_err() {
        return Err("not a URL".to_owned());
    }
    let shown = shown_url(url);
    let fail = |what: String| format!("{shown}: {what}");
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    let body = read_capped(&mut response, max_bytes)
        .await
        .map_err(|e| fail(e.to_string()))?;
    serde_json::from_slice(&body).map_err(|_| fail("not JSON".into()))
}

/// Why [`read_capped`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum CappedBodyError {
    #[error("the body exceeds {0} bytes")]
    TooLarge(usize),
    /// The transfer failed; the message leaves the URL out.
    #[error("{0}")]
    Transport(String),
}

/// The whole body of `response`, at most `max_bytes`: refused unread when `Content-Length`
/// says it is larger, and as soon as the chunks received pass the bound otherwise, so a peer
/// that streams without end costs at most `max_bytes` of memory.
pub async fn read_capped(
    response: &mut reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, CappedBodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(CappedBodyError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| CappedBodyError::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(CappedBodyError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nv_store::FakeClock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A source that counts fetches and fails while `down` is set.
    struct Counted {
        fetches: Arc<AtomicUsize>,
        down: Arc<std::sync::atomic::AtomicBool>,
        delay_ms: u64,
    }

    #[async_trait]
    impl Source<usize> for Counted {
        async fn fetch(&self) -> Result<usize, String> {
            tokio::time::sleep(std::time::Duration::from_millis(self.delay_ms)).await;
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if self.down.load(Ordering::SeqCst) {
                Err("down".into())
            } else {
                Ok(n)
            }
        }
    }

    const POLICY: CachePolicy = CachePolicy {
        ttl: 300,
        max_stale: Some(3600),
        refresh_min_interval: 10,
        max_backoff: 60,
    };

    struct Fixture {
        doc: Arc<RemoteDocument<usize>>,
        clock: FakeClock,
        fetches: Arc<AtomicUsize>,
        down: Arc<std::sync::atomic::AtomicBool>,
    }

    fn fixture(policy: CachePolicy, delay_ms: u64) -> Fixture {
        let clock = FakeClock::new(1_000);
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let source = Counted {
            fetches: fetches.clone(),
            down: down.clone(),
            delay_ms,
        };
        let doc = Arc::new(RemoteDocument::new(
            Box::new(source),
            policy,
            Arc::new(clock.clone()),
        ));
        Fixture {
            doc,
            clock,
            fetches,
            down,
        }
    }

    #[tokio::test]
    async fn a_fresh_document_is_served_from_the_cache() {
        let f = fixture(POLICY, 0);
        assert_eq!(f.doc.fresh(), None, "fetched lazily");
        assert_eq!(*f.doc.get().await.unwrap(), 1);
        f.clock.advance(299);
        assert_eq!(*f.doc.get().await.unwrap(), 1);
        assert_eq!(f.doc.fresh().as_deref(), Some(&1));
        f.clock.advance(1);
        assert_eq!(f.doc.fresh(), None);
        assert_eq!(*f.doc.get().await.unwrap(), 2, "refetched once expired");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_one_fetch() {
        let f = fixture(POLICY, 200);
        let all: Vec<_> = (0..8)
            .map(|_| {
                let doc = f.doc.clone();
                tokio::spawn(async move { *doc.get().await.unwrap() })
            })
            .collect();
        for h in all {
            assert_eq!(h.await.unwrap(), 1);
        }
        assert_eq!(f.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_back_off_and_a_stale_copy_answers_for_a_bounded_time() {
        let f = fixture(POLICY, 0);
        f.doc.get().await.unwrap();
        f.down.store(true, Ordering::SeqCst);
        f.clock.advance(301);
        for _ in 0..10 {
            assert_eq!(*f.doc.get().await.unwrap(), 1, "stale");
        }
        assert_eq!(f.fetches.load(Ordering::SeqCst), 2, "one failed refetch");
        // Attempts are spaced: 1 s, then 2, 4, … (and at least the refresh interval apart).
        for _ in 0..5 {
            f.clock.advance(10);
            f.doc.get().await.unwrap();
        }
        assert_eq!(
            f.fetches.load(Ordering::SeqCst),
            6,
            "the fifth waits for its back-off"
        );
        f.clock.advance(3600);
        assert!(f.doc.get().await.is_err(), "too stale");
        f.down.store(false, Ordering::SeqCst);
        f.clock.advance(60);
        assert!(f.doc.get().await.is_ok(), "back after the back-off");
    }

    #[tokio::test]
    async fn without_a_copy_a_failure_is_an_error_and_the_next_attempt_waits() {
        let f = fixture(POLICY, 0);
        f.down.store(true, Ordering::SeqCst);
        assert!(matches!(f.doc.get().await, Err(RemoteError::Fetch(_))));
        assert!(matches!(f.doc.get().await, Err(RemoteError::BackingOff(1))));
        assert_eq!(f.fetches.load(Ordering::SeqCst), 1);
        f.clock.advance(1);
        assert!(f.doc.get().await.is_err());
        assert!(matches!(f.doc.get().await, Err(RemoteError::BackingOff(2))));
        assert_eq!(f.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refresh_for_a_missing_entry_is_rate_limited() {
        let f = fixture(POLICY, 0);
        f.doc.get().await.unwrap();
        let wants_two = |n: &usize| *n >= 2;
        assert_eq!(
            f.doc.refresh_unless(wants_two).await.unwrap(),
            None,
            "too soon"
        );
        f.clock.advance(10);
        assert_eq!(
            f.doc.refresh_unless(wants_two).await.unwrap().as_deref(),
            Some(&2)
        );
        assert_eq!(
            f.doc.refresh_unless(wants_two).await.unwrap().as_deref(),
            Some(&2),
            "already there: no fetch"
        );
        assert_eq!(f.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_back_off_stays_at_its_maximum_however_many_failures() {
        let f = fixture(POLICY, 0);
        f.down.store(true, Ordering::SeqCst);
        for _ in 0..100 {
            let _ = f.doc.get().await;
            f.clock.advance(60);
        }
        assert!(matches!(f.doc.get().await, Err(RemoteError::Fetch(_))));
        assert!(matches!(
            f.doc.get().await,
            Err(RemoteError::BackingOff(60))
        ));
    }

    #[tokio::test]
    async fn an_unbounded_stale_copy_answers_until_a_fetch_succeeds() {
        let f = fixture(
            CachePolicy {
                max_stale: None,
                ..POLICY
            },
            0,
        );
        f.doc.get().await.unwrap();
        f.down.store(true, Ordering::SeqCst);
        f.clock.advance(1_000_000);
        assert_eq!(*f.doc.get().await.unwrap(), 1);
    }
}
