//! Test support (feature `testing`): a real, throw-away `redis-server` per test, or a real
//! three-master Redis Cluster.
//!
//! ```no_run
//! # async fn demo() {
//! use nv_store::testing::{RedisCluster, RedisServer};
//! let Some(mut redis) = RedisServer::start_or_skip() else { return }; // reason printed
//! let store = redis.store("test:").await;
//! redis.stop();          // outage
//! redis.start_again();   // same port, empty data
//!
//! let Some(mut cluster) = RedisCluster::start_or_skip() else { return };
//! let store = cluster.store("test:").await; // on `redis+cluster://…` (hash-tagged keys)
//! cluster.node_mut(0).stop();               // one master down
//! cluster.restart_node(0);                  // back, and the cluster is `ok` again
//! # }
//! ```
//!
//! Each server listens on a free loopback port, keeps nothing on disk (`--save ""`,
//! `--appendonly no`, working files in a temporary directory) and is killed when dropped. A
//! cluster node keeps only its cluster configuration (`nodes.conf`), so a restarted master rejoins
//! with its slots (and no data).
//!
//! When `redis-server` (and, for a cluster, `redis-cli`) is not installed,
//! [`RedisServer::start_or_skip`] and [`RedisCluster::start_or_skip`] print why and return `None`,
//! so a plain `cargo test` on a laptop without Redis skips these tests — unless
//! `REQUIRE_REDIS_TESTS=1` is set, as the project's test command does: then they panic, because CI
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
/// Creates the cluster and answers `CLUSTER INFO` (Debian: package `redis-tools`, which
/// `redis-server` depends on).
const CLI: &str = "redis-cli";
/// Masters of a test cluster: the fewest Redis accepts.
const MASTERS: usize = 3;
/// Generous: a loaded 2-core CI machine running many test binaries at once.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// A free port found by binding port 0 can be taken by a parallel test before redis-server binds
/// it; trying a few ports makes that race harmless.
const PORT_ATTEMPTS: usize = 5;

/// A `redis-server` child process on `127.0.0.1:<port>`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    /// The cluster bus port of a cluster node (`None`: a standalone server).
    cluster_port: Option<u16>,
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
        installed_or_skip(&[BINARY]).then(|| Self::start_installed(false))
    }

    /// Starts a server; for tests that cannot do without one.
    ///
    /// # Panics
    /// When `redis-server` is missing or does not start.
    pub fn start() -> Self {
        assert!(
            installed(BINARY),
            "`{BINARY}` is not installed: apt-get install -y --no-install-recommends redis-server"
        );
        Self::start_installed(false)
    }

    fn start_installed(cluster_node: bool) -> Self {
        let dir = temp_dir();
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let mut server = Self {
                port: free_port(),
                cluster_port: cluster_node.then(free_port),
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
        open_store(&self.url(), prefix).await
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
        let mut command = Command::new(BINARY);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.log_path());
        if let Some(bus) = self.cluster_port {
            // The bus port is explicit: the default, port + 10000, may not exist for a high
            // ephemeral port. Full coverage is not required, so the masters that are up keep
            // serving their slots while a test keeps one down (the default stops them all once
            // the down master is declared failed).
            command
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-port", &bus.to_string()])
                .args(["--cluster-require-full-coverage", "no"]);
        }
        let child = command
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

/// A Redis Cluster of three masters (no replicas) on free loopback ports, created with
/// `redis-cli --cluster create`; every node is killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts a cluster and waits until every node reports `cluster_state:ok`, or returns `None`
    /// (after printing the reason to stderr) when `redis-server` or `redis-cli` is not installed
    /// and `REQUIRE_REDIS_TESTS=1` is not set.
    ///
    /// # Panics
    /// When a tool is missing and `REQUIRE_REDIS_TESTS=1`, or when the cluster does not form.
    pub fn start_or_skip() -> Option<Self> {
        if !installed_or_skip(&[BINARY, CLI]) {
            return None;
        }
        let cluster = Self {
            nodes: (0..MASTERS)
                .map(|_| RedisServer::start_installed(true))
                .collect(),
        };
        let create = Command::new(CLI)
            .arg("--cluster")
            .arg("create")
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.port)),
            )
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{CLI}`: {e}"));
        assert!(
            create.status.success(),
            "`{CLI} --cluster create` failed ({}):\n{}{}",
            create.status,
            String::from_utf8_lossy(&create.stdout),
            String::from_utf8_lossy(&create.stderr)
        );
        cluster.wait_until_ok();
        Some(cluster)
    }

    /// `redis+cluster://127.0.0.1:<port>,…` with every master as a seed node.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// A [`RedisStore`] on this cluster with default options and the given key prefix.
    pub async fn store(&self, prefix: &str) -> RedisStore {
        open_store(&self.url(), prefix).await
    }

    /// The masters, each a [`RedisServer`] (`url()` names that one node).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One master, to [`stop`](RedisServer::stop), [`freeze`](RedisServer::freeze), ….
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// Starts a stopped master again (same ports, same cluster identity and slots, no data) and
    /// waits until the cluster is `ok` again.
    pub fn restart_node(&mut self, index: usize) {
        self.nodes[index].start_again();
        self.wait_until_ok();
    }

    /// Stops every master: the whole cluster is down.
    pub fn stop(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::stop);
    }

    /// Starts every master again and waits until the cluster is `ok`.
    pub fn start_again(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::start_again);
        self.wait_until_ok();
    }

    /// Waits until every node answers `CLUSTER INFO` with `cluster_state:ok` and all slots
    /// assigned.
    ///
    /// # Panics
    /// After [`READY_TIMEOUT`] without that.
    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::new();
        loop {
            let mut ok = true;
            for node in &self.nodes {
                last = cluster_info(node.port);
                ok &= last.contains("cluster_state:ok") && last.contains("cluster_slots_ok:16384");
            }
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test cluster is not ok within {READY_TIMEOUT:?}; last CLUSTER INFO:\n{last}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `CLUSTER INFO` of one node, or what went wrong asking.
fn cluster_info(port: u16) -> String {
    match Command::new(CLI)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "cluster",
            "info",
        ])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).replace('\r', ""),
        Err(e) => format!("cannot run `{CLI}`: {e}"),
    }
}

async fn open_store(url: &str, prefix: &str) -> RedisStore {
    let options = RedisOptions {
        prefix: prefix.to_owned(),
        ..RedisOptions::default()
    };
    match RedisStore::connect(url, options).await {
        Ok(store) => store,
        Err(e) => panic!("cannot open a store on the test Redis: {e}"),
    }
}

fn redis_required() -> bool {
    std::env::var(REQUIRE_REDIS_VAR).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Whether every binary is installed; if not, `false` after saying so, or a panic when the
/// Redis tests are required.
fn installed_or_skip(binaries: &[&str]) -> bool {
    let Some(missing) = binaries.iter().find(|b| !installed(b)) else {
        return true;
    };
    if redis_required() {
        panic!(
            "\n\n*** {REQUIRE_REDIS_VAR}=1 but `{missing}` is not installed (not on PATH). ***\n\
             The Redis tests must run here. Install it with\n\
             \tapt-get install -y --no-install-recommends redis-server redis-tools\n\
             or unset {REQUIRE_REDIS_VAR} to let plain `cargo test` skip them.\n"
        );
    }
    eprintln!(
        "skipping: `{missing}` is not installed (apt-get install redis-server redis-tools); \
         set {REQUIRE_REDIS_VAR}=1 to make this a failure"
    );
    false
}

fn installed(binary: &str) -> bool {
    match Command::new(binary)
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
                "cannot run `{binary}`: {e}"
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
