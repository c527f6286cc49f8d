//! Test support (feature `testing`): a real, throw-away `redis-server` per test.
//!
//! ```no_run
//! # async fn demo() {
//! use nv_store::testing::RedisServer;
//! let Some(mut redis) = RedisServer::start_or_skip() else { return }; // reason printed
//! let store = redis.store("test:").await;
//! redis.stop();          // outage
//! redis.start_again();   // same port, empty data
//! # }
//! ```
//!
//! Each server listens on a free loopback port, keeps nothing on disk (`--save ""`,
//! `--appendonly no`, working files in a temporary directory) and is killed when dropped.
//!
//! When `redis-server` is not installed, [`RedisServer::start_or_skip`] prints why and returns
//! `None`, so a plain `cargo test` on a laptop without Redis skips these tests — unless
//! `REQUIRE_REDIS_TESTS=1` is set, as the project's test command does: then it panics, because CI
//! silently skipping the Redis tests would hide exactly the multi-replica bugs they exist for.
//!
//! This module panics on set-up failures on purpose: it only runs inside tests.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{RedisOptions, RedisStore};

/// The variable that turns a missing `redis-server` from "skip" into a test failure.
pub const REQUIRE_REDIS_VAR: &str = "REQUIRE_REDIS_TESTS";

const BINARY: &str = "redis-server";
/// Generous: a loaded 2-core CI machine running many test binaries at once.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// A free port found by binding port 0 can be taken by a parallel test before redis-server binds
/// it; trying a few ports makes that race harmless.
const PORT_ATTEMPTS: usize = 5;

/// A `redis-server` child process on `127.0.0.1:<port>`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server, or returns `None` (after printing the reason to stderr) when
    /// `redis-server` is not installed and `REQUIRE_REDIS_TESTS=1` is not set.
    ///
    /// # Panics
    /// When `redis-server` is missing and `REQUIRE_REDIS_TESTS=1`, or when it is installed but
    /// does not start.
    pub fn start_or_skip() -> Option<Self> {
        if redis_server_installed() {
            return Some(Self::start_installed());
        }
        if redis_required() {
            panic!(
                "\n\n*** {REQUIRE_REDIS_VAR}=1 but `{BINARY}` is not installed (not on PATH). ***\n\
                 The Redis tests must run here. Install it with\n\
                 \tapt-get install -y --no-install-recommends redis-server\n\
                 or unset {REQUIRE_REDIS_VAR} to let plain `cargo test` skip them.\n"
            );
        }
        eprintln!(
            "skipping: `{BINARY}` is not installed (apt-get install redis-server); \
             set {REQUIRE_REDIS_VAR}=1 to make this a failure"
        );
        None
    }

    /// Starts a server; for tests that cannot do without one.
    ///
    /// # Panics
    /// When `redis-server` is missing or does not start.
    pub fn start() -> Self {
        assert!(
            redis_server_installed(),
            "`{BINARY}` is not installed: apt-get install -y --no-install-recommends redis-server"
        );
        Self::start_installed()
    }

    fn start_installed() -> Self {
        let dir = temp_dir();
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut server = Self {
                port,
                dir: dir.clone(),
                child: None,
            };
            match server.launch() {
                Ok(()) => return server,
                Err(failure) => {
                    last_failure = failure;
                    // Keep the directory for the next attempt; `server` must not delete it.
                    server.dir = PathBuf::new();
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("`{BINARY}` did not start after {PORT_ATTEMPTS} attempts: {last_failure}");
    }

    /// `redis://127.0.0.1:<port>` — stays the same across [`stop`](Self::stop) and
    /// [`start_again`](Self::start_again).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process is currently started (between `start*` and `stop`).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// A [`RedisStore`] on this server with default options and the given key prefix.
    pub async fn store(&self, prefix: &str) -> RedisStore {
        let options = RedisOptions {
            prefix: prefix.to_owned(),
            ..RedisOptions::default()
        };
        match RedisStore::connect(&self.url(), options).await {
            Ok(store) => store,
            Err(e) => panic!("cannot open a store on the test Redis: {e}"),
        }
    }

    /// Kills the server and waits for it to exit: an outage. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Kill fails only if the process already exited; wait reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (with no data: nothing is persisted).
    ///
    /// # Panics
    /// When it does not come up, e.g. because another process took the port meanwhile.
    pub fn start_again(&mut self) {
        self.stop();
        if let Err(failure) = self.launch() {
            panic!(
                "`{BINARY}` did not start again on port {}: {failure}",
                self.port
            );
        }
    }

    /// Suspends the server (`SIGSTOP`): connections stay open but nothing answers, as with a
    /// network partition. This is the case where only timeouts protect the caller.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a [`freeze`](Self::freeze)d server (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let Some(child) = &self.child else {
            panic!("the test Redis is not running");
        };
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "kill {signal} failed: {status:?}"
        );
    }

    fn launch(&mut self) -> Result<(), String> {
        let child = Command::new(BINARY)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run `{BINARY}`: {e}"))?;
        self.child = Some(child);
        match self.wait_until_ready() {
            Ok(()) => Ok(()),
            Err(failure) => {
                self.stop();
                Err(format!("{failure}; log tail:\n{}", self.log_tail()))
            }
        }
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("`{BINARY}` exited at start-up ({status})"));
                }
            }
            if answers_ping(addr) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "`{BINARY}` did not answer PING on {addr} within {READY_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if self.dir != Path::new("") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn redis_required() -> bool {
    std::env::var(REQUIRE_REDIS_VAR).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn redis_server_installed() -> bool {
    match Command::new(BINARY)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) => status.success(),
        Err(e) => {
            // Anything but "not found" (e.g. permission denied) is a broken install: say so
            // rather than skip quietly.
            assert!(
                e.kind() == ErrorKind::NotFound,
                "cannot run `{BINARY}`: {e}"
            );
            false
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "nv-store-redis-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A raw RESP `PING`, so readiness does not depend on the client under test.
fn answers_ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
