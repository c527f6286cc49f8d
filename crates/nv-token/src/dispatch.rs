//! Where a server runs its public-key cryptography: the `server.crypto` setting of both servers.
//!
//! `inline` (the default) runs it on the HTTP worker that received the request; workers are one
//! per core by default, so the crypto of all requests together uses every core and no more.
//! `pool` hands each job to a blocking thread, at most one job per HTTP worker at a time, so that
//! a request that does no crypto never waits behind one that does.
//!
//! Inline is the default because a hand-off to another thread and back costs about as much as
//! the cheap operations themselves, and with the pool a server did not keep every core busy
//! (the measurements: docs/performance.md, "Where the crypto runs", and decision 0007).
//! `pool` remains for keys slower than the defaults (RSA 4096, say), where a worker held for
//! several milliseconds would delay the cheap requests behind it.

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
    /// switches (decision 0007).
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

#[cfg(feature = "runtime")]
impl CryptoRunner {
    /// `threads`: how many pool jobs may run at once (the servers pass their HTTP worker count);
    /// 0 = one per core.
    pub fn new(dispatch: CryptoDispatch, threads: usize) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Self {
            dispatch,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(threads)),
        }
    }

    pub fn dispatch(&self) -> CryptoDispatch {
        self.dispatch
    }

    /// Run `job` inline or on the blocking pool; `Err` if the job panicked (in either mode: the
    /// request then gets a 500, not a dropped connection) or the runtime is shutting down, with a
    /// description for the server's log.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        if self.dispatch == CryptoDispatch::Inline {
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                .map_err(|_| "crypto job panicked".to_string());
        }
        // The permit moves into the job: if the request is dropped (the client went away) while
        // the job runs, the permit is still held until the job ends.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| format!("crypto pool: {e}"))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
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
        let panics = inline.run(|| -> u8 { panic!("a crypto job failed") }).await;
        assert!(panics.unwrap_err().contains("panicked"));
    }
}
