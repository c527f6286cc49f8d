//! Where a server runs its public-key cryptography: the `server.crypto` setting of both servers.
//!
//! `inline` (the default) runs it on the HTTP worker that received the request; workers are one
//! per core, so the crypto of all requests together still uses every core and no more. `pool`
//! hands each job to a blocking thread, at most one job per core at a time, so that a request
//! that does no crypto never waits behind one that does.
//!
//! Measured on the 2-core benchmark machine (docs/performance.md), inline is better for every
//! algorithm profile: with RSA (≈ 0.7 ms per private-key operation) +17 % flows/s, −5 % server
//! CPU per flow and a lower p99 at half load (5.1 against 6.4–7.3 ms); with ES256 and `dir`
//! (5–80 µs per operation) +17 % flows/s, since each hand-off to another thread and back cost as
//! much as the operation itself. `pool` remains for keys slower than these (RSA 4096, say),
//! where a worker held for several milliseconds would delay the cheap requests behind it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CryptoDispatch {
    /// On the HTTP worker that received the request.
    #[default]
    Inline,
    /// A blocking thread pool, at most one job per core at a time.
    Pool,
}

impl CryptoDispatch {
    pub fn name(self) -> &'static str {
        match self {
            CryptoDispatch::Inline => "inline",
            CryptoDispatch::Pool => "pool",
        }
    }
}

/// Runs crypto jobs where the setting says (feature `runtime`: both servers use it).
#[cfg(feature = "runtime")]
pub struct CryptoRunner {
    dispatch: CryptoDispatch,
    /// One permit per pool thread: more threads doing RSA on the same cores only add context
    /// switches (measured: +10 % CPU per request at 32 in flight).
    permits: tokio::sync::Semaphore,
}

#[cfg(feature = "runtime")]
impl CryptoRunner {
    /// `threads` (for `pool`) = 0: one per core.
    pub fn new(dispatch: CryptoDispatch, threads: usize) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Self {
            dispatch,
            permits: tokio::sync::Semaphore::new(threads),
        }
    }

    pub fn dispatch(&self) -> CryptoDispatch {
        self.dispatch
    }

    /// Run `job` inline or on the blocking pool; `Err` only if the pool failed (a panic in the
    /// job, or a runtime shutting down), with a description for the server's log.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        if self.dispatch == CryptoDispatch::Inline {
            return Ok(job());
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| format!("crypto pool: {e}"))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| format!("crypto pool: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_parses_from_lowercase_names() {
        for d in [CryptoDispatch::Inline, CryptoDispatch::Pool] {
            let parsed: CryptoDispatch =
                serde_json::from_str(&format!("\"{}\"", d.name())).unwrap();
            assert_eq!(parsed, d);
        }
        assert_eq!(CryptoDispatch::default(), CryptoDispatch::Inline);
        assert!(serde_json::from_str::<CryptoDispatch>("\"threads\"").is_err());
    }

    #[cfg(feature = "runtime")]
    #[tokio::test]
    async fn the_runner_runs_inline_or_on_another_thread() {
        let here = std::thread::current().id();
        let inline = CryptoRunner::new(CryptoDispatch::Inline, 1);
        assert_eq!(
            inline
                .run(move || std::thread::current().id())
                .await
                .unwrap(),
            here
        );
        let pool = CryptoRunner::new(CryptoDispatch::Pool, 1);
        assert_ne!(
            pool.run(move || std::thread::current().id()).await.unwrap(),
            here
        );
        let panics = pool.run(|| -> u8 { panic!("a crypto job failed") }).await;
        assert!(panics.unwrap_err().starts_with("crypto pool"));
    }
}
