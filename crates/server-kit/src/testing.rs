//! Test support both servers' suites and the end-to-end tests share (feature `testing`): the
//! log capture, the fakes a server under test is built with, a stand-in HTTP server for key
//! documents, temporary directories and settings files, and a run of a server binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use nv_store::{FakeClock, MemoryStore, Store};
use serde_json::{json, Value};
pub use tempfile::TempDir;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::startup::Dependencies;

/// Everything the process logs, at every level and with span closes, kept in memory: the
/// no-personal-data log tests read it. Installs the global subscriber, so one per test binary.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn install() -> Self {
        let capture = Self::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_env_filter(
                "trace,h2=info,hyper=info,hyper_util=info,reqwest=info,mio=info,tokio=info,\
                 actix_server=info,actix_http=info",
            )
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(move || writer.clone())
            .init();
        capture
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fake clock and a fresh memory store on it: what a server under test is built with, on
/// port 0, so a test moves time itself and sees only its own state.
pub struct Fakes {
    pub clock: FakeClock,
    pub memory: Arc<MemoryStore>,
}

impl Default for Fakes {
    fn default() -> Self {
        let clock = FakeClock::starting_now();
        let memory = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
        Self { clock, memory }
    }
}

impl Fakes {
    /// The memory store and the fake clock.
    pub fn dependencies(&self) -> Dependencies {
        self.dependencies_with(self.memory.clone())
    }

    /// Another store (shared with a second server, or one that fails) and the fake clock.
    pub fn dependencies_with(&self, store: Arc<dyn Store>) -> Dependencies {
        Dependencies {
            store,
            clock: Arc::new(self.clock.clone()),
        }
    }
}

/// The client tests speak to a server with: redirects are answers to look at, not to follow.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// A directory (a keys directory, a settings file's) removed when dropped.
pub fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// A settings file in a directory of its own, removed when dropped.
pub struct SettingsFile {
    _dir: TempDir,
    path: PathBuf,
}

impl SettingsFile {
    pub fn new(toml: &str) -> Self {
        let dir = temp_dir();
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, toml).expect("write the settings file");
        Self { _dir: dir, path }
    }

    /// Replaces what the file says.
    pub fn rewrite(&self, toml: &str) {
        std::fs::write(&self.path, toml).expect("write the settings file");
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Removes every variable that starts with `prefix` (`AS_`, `NV_`) from this process: a test of
/// what a file says must not read the shell's overrides.
pub fn without_environment(prefix: &str) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with(prefix) {
            std::env::remove_var(name);
        }
    }
}

/// An example configuration with every `#key = value` line made a setting; explanations
/// (`# text`) stay comments. The example files list every key this way, so loading the result
/// proves each of them is a real key with a valid value.
pub fn uncomment_every_setting(toml: &str) -> String {
    toml.lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| !c.is_whitespace()) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a binary run printed and how it exited.
pub struct Exit {
    /// The exit code (-1: killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a server binary with `args` and `env` in an empty directory. Panics if it is still
/// running after ten seconds: it started a server, which a usage error must never do.
pub fn run_binary(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Exit {
    let dir = temp_dir();
    let mut child = std::process::Command::new(binary)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().expect("kill");
            panic!("`{binary} {}` started a server", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    Exit {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A JSON document served over real HTTP on port 0 — a client's or a resource server's JWKS, or
/// an authorization server's — replaceable at runtime, counting how often it is fetched.
/// `Value::Null` answers 500 (a key host that is down), and `delay_ms` slows every answer.
pub struct JsonServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// `{base}/jwks`.
    pub url: String,
    pub doc: Arc<RwLock<Value>>,
    pub hits: Arc<AtomicUsize>,
    pub delay_ms: Arc<AtomicU64>,
}

impl JsonServer {
    /// Serves `doc` at every path.
    pub async fn start(doc: Value) -> Self {
        Self::serve(doc, false).await
    }

    /// A stand-in issuer: its OpenID Connect discovery document (`issuer` = [`Self::base`],
    /// `jwks_uri` = [`Self::url`]; not counted) and `doc` at `/jwks`; any other path is 404.
    pub async fn issuer(doc: Value) -> Self {
        Self::serve(doc, true).await
    }

    async fn serve(doc: Value, discovery: bool) -> Self {
        let doc = Arc::new(RwLock::new(doc));
        let hits = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let url = format!("{base}/jwks");
        let (d, h, w, b) = (doc.clone(), hits.clone(), delay_ms.clone(), base.clone());
        let server = HttpServer::new(move || {
            let (d, h, w) = (d.clone(), h.clone(), w.clone());
            let answer = web::to(move || {
                let (d, h, w) = (d.clone(), h.clone(), w.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let wait = w.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    let body = d.read().unwrap_or_else(|p| p.into_inner()).clone();
                    if body.is_null() {
                        return HttpResponse::InternalServerError().finish();
                    }
                    HttpResponse::Ok().json(body)
                }
            });
            if !discovery {
                return App::new().default_service(answer);
            }
            let document = json!({ "issuer": b, "jwks_uri": format!("{b}/jwks") });
            App::new()
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(move || {
                        let document = document.clone();
                        async move { HttpResponse::Ok().json(document) }
                    }),
                )
                .route("/jwks", answer)
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self {
            base,
            url,
            doc,
            hits,
            delay_ms,
        }
    }

    /// Serves `doc` from now on.
    pub fn set(&self, doc: Value) {
        *self.doc.write().unwrap_or_else(|p| p.into_inner()) = doc;
    }

    /// What is served now.
    pub fn doc(&self) -> Value {
        self.doc.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// One of the documented example configurations (`docs/examples/…`). Each must load as shipped
/// and change nothing (every uncommented value there is the default), and every commented-out
/// `#key = value` line in it must be a real key with a valid value, so the file cannot drift from
/// the server's `config.rs` unnoticed.
pub struct Example {
    path: PathBuf,
}

impl Example {
    /// `docs/examples/<name>` seen from the crate at `manifest_dir` (`crates/<server>`). The
    /// variables starting with `prefix` are removed first: the file is under test, not the shell,
    /// and they would override what it says.
    pub fn new(manifest_dir: &str, name: &str, prefix: &str) -> Self {
        without_environment(prefix);
        Self {
            path: Path::new(manifest_dir)
                .join("../../docs/examples")
                .join(name),
        }
    }

    /// Loads the file as shipped and checks that it keeps every default.
    pub fn loads_with_the_defaults<S: std::fmt::Debug, E: std::fmt::Debug>(
        &self,
        load: impl Fn(Option<&Path>) -> Result<S, E>,
        defaults: S,
    ) -> S {
        let loaded = load(Some(&self.path)).expect("the example configuration loads");
        assert_eq!(
            format!("{loaded:?}"),
            format!("{defaults:?}"),
            "an uncommented value in the example differs from the default in config.rs"
        );
        loaded
    }

    /// Loads the file with every commented setting uncommented.
    pub fn with_every_setting<S, E: std::fmt::Debug>(
        &self,
        load: impl Fn(Option<&Path>) -> Result<S, E>,
    ) -> S {
        let text = std::fs::read_to_string(&self.path).expect("the example exists");
        let file = SettingsFile::new(&uncomment_every_setting(&text));
        load(Some(file.path())).expect("every commented setting is valid")
    }
}
