//! Key documents fetched over HTTP — a client's `jwks_uri`, the resource server's JWKS — behind
//! one cache with the failure behaviour a remote trust anchor needs:
//!
//! - **single flight**: concurrent requests that find the cache empty or expired wait for one
//!   fetch (or, when a usable copy exists, answer with it while another request refreshes);
//! - **back-off**: after a failed fetch the next attempt waits 1, 2, 4 … up to 60 s, so while a
//!   key host is down the unauthenticated requests that name it cannot turn this server into a
//!   request amplifier against it;
//! - **stale fallback**: when a refetch fails, the last good document keeps working for
//!   [`MAX_STALE_SECONDS`] after it expired, so a key host's short outage does not break logins;
//! - bodies larger than [`MAX_DOCUMENT_BYTES`] are refused without being buffered, and redirects
//!   are not followed (the HTTP client's policy).
//!
//! Time is the application clock (seconds), so tests move it instead of sleeping.

use std::sync::{Arc, RwLock};

/// How long a fetched document is used before it is fetched again.
pub const TTL_SECONDS: i64 = 300;
/// How long past its TTL a document keeps working while refetches fail.
pub const MAX_STALE_SECONDS: i64 = 3600;
/// Longest pause between attempts after repeated failures.
pub const MAX_BACKOFF_SECONDS: i64 = 60;
/// An unknown `kid` refetches at most once in this interval, so forged `kid`s cannot make this
/// server fetch on every request.
pub const REFRESH_MIN_INTERVAL_SECONDS: i64 = 10;
/// Largest accepted key document.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Why no document could be had. The message is for the log (it may name the URL).
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Fetch(String),
    #[error("the last fetch failed; the next attempt is in {0} s")]
    BackingOff(i64),
}

struct Cached<T> {
    value: Arc<T>,
    fetched_at: i64,
}

#[derive(Default)]
struct Attempts {
    /// Consecutive failures since the last success.
    failures: u32,
    /// No new attempt before this instant.
    next_allowed: i64,
}

/// Turns the fetched JSON into the document's type.
pub type Parser<T> = Box<dyn Fn(&serde_json::Value) -> Result<T, String> + Send + Sync>;

/// One remote document, parsed into `T`.
pub struct RemoteDocument<T> {
    uri: String,
    parse: Parser<T>,
    cached: RwLock<Option<Cached<T>>>,
    attempts: tokio::sync::Mutex<Attempts>,
}

/// Whether the caller needs a document at all, or a newer one than `fetched_at`.
enum Want {
    Fresh,
    NewerThan(i64),
}

impl<T: Send + Sync + 'static> RemoteDocument<T> {
    pub fn new(uri: String, parse: Parser<T>) -> Self {
        Self {
            uri,
            parse,
            cached: RwLock::new(None),
            attempts: tokio::sync::Mutex::new(Attempts::default()),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    fn cache(&self) -> Option<(Arc<T>, i64)> {
        let guard = self.cached.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|c| (c.value.clone(), c.fetched_at))
    }

    /// The document: cached while younger than [`TTL_SECONDS`], else fetched (a stale copy is
    /// used when the fetch fails or is backing off).
    pub async fn get(&self, http: &reqwest::Client, now: i64) -> Result<Arc<T>, RemoteError> {
        let stale = match self.cache() {
            Some((value, at)) if now - at < TTL_SECONDS => return Ok(value),
            Some((value, at)) if now - at < TTL_SECONDS + MAX_STALE_SECONDS => Some(value),
            _ => None,
        };
        let attempts = match (self.attempts.try_lock(), &stale) {
            (Ok(guard), _) => guard,
            // Another request is fetching: the stale copy answers this one.
            (Err(_), Some(value)) => return Ok(value.clone()),
            (Err(_), None) => self.attempts.lock().await,
        };
        self.fetch_locked(http, now, attempts, Want::Fresh)
            .await
            .or_else(|e| stale.ok_or(e))
    }

    /// Fetch again because the cached document lacks a key (the owner rotated), unless it was
    /// fetched less than [`REFRESH_MIN_INTERVAL_SECONDS`] ago. `Ok(None)`: not refetched.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        now: i64,
    ) -> Result<Option<Arc<T>>, RemoteError> {
        let seen = self.cache().map(|(_, at)| at);
        if seen.is_some_and(|at| now - at < REFRESH_MIN_INTERVAL_SECONDS) {
            return Ok(None);
        }
        let attempts = self.attempts.lock().await;
        let want = seen.map_or(Want::Fresh, Want::NewerThan);
        self.fetch_locked(http, now, attempts, want).await.map(Some)
    }

    async fn fetch_locked(
        &self,
        http: &reqwest::Client,
        now: i64,
        mut attempts: tokio::sync::MutexGuard<'_, Attempts>,
        want: Want,
    ) -> Result<Arc<T>, RemoteError> {
        // Whoever held the lock before may have fetched what this caller needs.
        if let Some((value, at)) = self.cache() {
            let enough = match want {
                Want::Fresh => now - at < TTL_SECONDS,
                Want::NewerThan(seen) => at > seen,
            };
            if enough {
                return Ok(value);
            }
        }
        if now < attempts.next_allowed {
            return Err(RemoteError::BackingOff(attempts.next_allowed - now));
        }
        match self.fetch(http).await {
            Ok(value) => {
                let value = Arc::new(value);
                *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
                    value: value.clone(),
                    fetched_at: now,
                });
                *attempts = Attempts::default();
                Ok(value)
            }
            Err(e) => {
                // Logged once per attempt, and attempts are spaced by the back-off.
                tracing::warn!(error.cause = %e, "fetching a remote key document failed");
                attempts.failures = attempts.failures.saturating_add(1);
                let pause = 1i64
                    .checked_shl(attempts.failures - 1)
                    .unwrap_or(MAX_BACKOFF_SECONDS)
                    .min(MAX_BACKOFF_SECONDS);
                attempts.next_allowed = now + pause;
                Err(RemoteError::Fetch(e))
            }
        }
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<T, String> {
        let uri = &self.uri;
        let mut response = http
            .get(uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("fetching {uri}: {e}"))?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!(
                "{uri}: the document exceeds {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading {uri}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "{uri}: the document exceeds {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("{uri} is not JSON: {e}"))?;
        (self.parse)(&doc).map_err(|e| format!("{uri}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Client `jwks_uri`s are https in practice: the HTTP client must speak TLS (built alone, the
    /// crate once had no TLS feature and answered "scheme not supported" without connecting).
    #[tokio::test]
    async fn an_https_document_is_fetched_over_tls() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connected = Arc::new(AtomicBool::new(false));
        let seen = connected.clone();
        std::thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                seen.store(true, Ordering::SeqCst);
                // Not a TLS server hello: the handshake fails.
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            }
        });
        let doc: RemoteDocument<serde_json::Value> = RemoteDocument::new(
            format!("https://127.0.0.1:{port}/jwks"),
            Box::new(|v| Ok(v.clone())),
        );
        let err = doc.get(&reqwest::Client::new(), 0).await.unwrap_err();
        assert!(connected.load(Ordering::SeqCst), "no connection: {err}");
        assert!(!err.to_string().contains("scheme"), "{err}");
    }
}
