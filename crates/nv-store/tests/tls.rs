//! `rediss://` really speaks TLS: a `redis-server` with a throw-away self-signed certificate.
//!
//! Needs `redis-server` built with TLS (Debian's is) and the `openssl` command to make the
//! certificate; skips with a printed reason when either is missing (TLS is an optional deployment
//! choice, so `REQUIRE_REDIS_TESTS` does not make the certificate tooling mandatory).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nv_store::testing::RedisServer;
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
