//! `rediss://` and `rediss+cluster://` really speak TLS: a `redis-server` (and a three-master
//! cluster) with a throw-away self-signed certificate.
//!
//! Needs `redis-server` built with TLS (Debian's is) and the `openssl` command to make the
//! certificate; skips with a printed reason when either is missing (TLS is an optional deployment
//! choice, so `REQUIRE_REDIS_TESTS` does not make the certificate tooling mandatory).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nv_store::testing::{RedisCluster, RedisServer};
use nv_store::{RedisOptions, RedisStore, Store};

struct TlsRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn self_signed_certificate(dir: &Path) -> bool {
    Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_tls_redis() -> Option<TlsRedis> {
    // Only to find out whether redis-server exists (and to honour REQUIRE_REDIS_TESTS); the TLS
    // server is started separately below.
    let plain = RedisServer::start_or_skip()?;
    let port = plain.port();
    drop(plain);

    let dir = std::env::temp_dir().join(format!("nv-store-tls-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if !self_signed_certificate(&dir) {
        eprintln!("skipping: the `openssl` command is needed to make a test certificate");
        let _ = std::fs::remove_dir_all(&dir);
        return None;
    }
    let child = Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--tls-auth-clients", "no"])
        .arg("--tls-cert-file")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key-file")
        .arg(dir.join("key.pem"))
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = TlsRedis { child, port, dir };
    std::thread::sleep(Duration::from_millis(200));
    if let Ok(Some(status)) = server.child.try_wait() {
        eprintln!("skipping: this redis-server does not start with TLS options ({status})");
        return None;
    }
    Some(server)
}

#[tokio::test]
async fn rediss_urls_connect_over_tls_and_verify_the_certificate() {
    let Some(server) = start_tls_redis() else {
        return;
    };
    let options = || RedisOptions {
        prefix: "tls:".to_owned(),
        ..RedisOptions::default()
    };

    // `#insecure` skips certificate verification: the only way to trust a self-signed test
    // certificate without touching the machine's trust store.
    let url = format!("rediss://127.0.0.1:{}/#insecure", server.port);
    let store = RedisStore::connect(&url, options()).await.unwrap();
    let started = Instant::now();
    while store.ping().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "no TLS answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store
        .put_if_absent("jti:1", b"1", Duration::from_secs(5))
        .await
        .unwrap());
    assert!(!store
        .put_if_absent("jti:1", b"1", Duration::from_secs(5))
        .await
        .unwrap());

    // Without it, the untrusted certificate is refused: verification is on by default.
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let strict = RedisStore::connect(&url, options()).await.unwrap();
    assert!(strict.ping().await.is_err());
    assert!(strict.get("jti:1").await.is_err());

    // And a plain-text client gets nothing from a TLS port.
    let url = format!("redis://127.0.0.1:{}", server.port);
    let plain = RedisStore::connect(&url, options()).await.unwrap();
    assert!(plain.ping().await.is_err());
}

/// Three TLS-only cluster masters (the cluster bus on TLS too), sharing one self-signed
/// certificate that is also their CA, so the nodes verify each other.
struct TlsCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    dir: std::path::PathBuf,
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        for child in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_tls_cluster() -> Option<TlsCluster> {
    // Only to find out whether redis-server and redis-cli exist (and to honour
    // REQUIRE_REDIS_TESTS); the TLS cluster is started separately below.
    drop(RedisCluster::start_or_skip()?);

    let dir = std::env::temp_dir().join(format!(
        "nv-store-tls-cluster-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    if !self_signed_certificate(&dir) {
        eprintln!("skipping: the `openssl` command is needed to make a test certificate");
        let _ = std::fs::remove_dir_all(&dir);
        return None;
    }
    let mut cluster = TlsCluster {
        nodes: Vec::new(),
        ports: Vec::new(),
        dir,
    };
    for i in 0..3 {
        let node_dir = cluster.dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--tls-cluster", "yes"])
            .args(["--cluster-port", &free_port().to_string()])
            .args(["--tls-auth-clients", "no"])
            .arg("--tls-cert-file")
            .arg(cluster.dir.join("cert.pem"))
            .arg("--tls-key-file")
            .arg(cluster.dir.join("key.pem"))
            .arg("--tls-ca-cert-file")
            .arg(cluster.dir.join("cert.pem"))
            .arg("--dir")
            .arg(&node_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        cluster.nodes.push(child);
        cluster.ports.push(port);
    }
    let cli = |args: &[&str]| {
        Command::new("redis-cli")
            .args(["--tls", "--insecure"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster.ports.iter().all(|p| {
        cli(&["-p", &p.to_string(), "ping"])
            .stdout
            .starts_with(b"PONG")
    }) {
        if Instant::now() > deadline {
            eprintln!("skipping: this redis-server does not start a TLS cluster");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let nodes: Vec<String> = cluster
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let mut create = vec!["--cluster", "create"];
    create.extend(nodes.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    let out = cli(&create);
    assert!(
        out.status.success(),
        "TLS cluster create failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    while !cluster.ports.iter().all(|p| {
        String::from_utf8_lossy(&cli(&["-p", &p.to_string(), "cluster", "info"]).stdout)
            .contains("cluster_state:ok")
    }) {
        assert!(Instant::now() < deadline, "the TLS cluster is not ok");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(cluster)
}

#[tokio::test]
async fn rediss_cluster_urls_connect_over_tls_and_verify_the_certificate() {
    let Some(cluster) = start_tls_cluster() else {
        return;
    };
    let options = || RedisOptions {
        prefix: "tls:".to_owned(),
        ..RedisOptions::default()
    };
    let seeds: Vec<String> = cluster
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();

    let url = format!("rediss+cluster://{}/#insecure", seeds.join(","));
    let store = RedisStore::connect(&url, options()).await.unwrap();
    let started = Instant::now();
    while store.ping().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "no TLS answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Keys on every master: the client reaches the nodes it discovers over TLS too.
    for i in 0..30 {
        assert!(store
            .put_if_absent(&format!("jti:{i}"), b"1", Duration::from_secs(5))
            .await
            .unwrap());
    }
    assert_eq!(store.scan_prefix("jti:").await.unwrap().len(), 30);

    // Without `#insecure` the untrusted certificate is refused.
    let url = format!("rediss+cluster://{}", seeds.join(","));
    let strict = RedisStore::connect(&url, options()).await.unwrap();
    assert!(strict.ping().await.is_err());
    assert!(strict.get("jti:1").await.is_err());

    // And a plain-text cluster client gets nothing from TLS ports.
    let url = format!("redis+cluster://{}", seeds.join(","));
    let plain = RedisStore::connect(&url, options()).await.unwrap();
    assert!(plain.ping().await.is_err());
}
