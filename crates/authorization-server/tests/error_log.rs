//! A failed request is logged exactly once: one event, at its end, in the request's root span,
//! which carries the error's code, description and internal cause. One test binary of its own:
//! it installs the global log subscriber.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authorization_server::Application;
use helpers::*;
use nv_store::{MapEntries, Store, StoreError};
use nv_token::{DecryptionKeys, EncryptionAlg, SigningAlg, SigningKey};
use server_kit::testing::LogCapture;

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// The lines logged in the root span of the request whose final event came after `offset`.
fn request_lines(capture: &LogCapture, offset: usize) -> Vec<String> {
    let logged = plain(&capture.text()[offset..]);
    let last = logged
        .lines()
        .find(|l| l.contains("request refused") || l.contains("request failed"))
        .unwrap_or_else(|| panic!("no final event:\n{logged}"));
    let id = last
        .split("request_id=")
        .nth(1)
        .and_then(|rest| rest.split([' ', '}']).next())
        .unwrap_or_else(|| panic!("no request id in {last}"));
    logged
        .lines()
        .filter(|l| l.contains(&format!("request_id={id}")))
        .map(str::to_owned)
        .collect()
}

/// The events (not the span's close) of the request; `what` names it in failures.
fn events(capture: &LogCapture, offset: usize, what: &str) -> Vec<String> {
    let lines = request_lines(capture, offset);
    let events: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.contains(" close time."))
        .collect();
    assert_eq!(
        events.len(),
        1,
        "{what}: one event, not\n{}",
        events.join("\n")
    );
    events
}

#[tokio::test]
async fn a_failed_request_is_logged_once_with_its_cause() {
    let capture = LogCapture::install();
    let app = Builder {
        trusted_proxies: vec![("127.0.0.1/32", ForwardingHeader::XForwardedFor)],
        no_loopback: true,
        admin_token: Some("admin-token-for-the-log-test-0123456789"),
        ..Default::default()
    }
    .spawn()
    .await;

    let at = capture.text().len();
    app.http.get(app.url("/nope")).send().await.unwrap();
    let e = events(&capture, at, "404");
    assert!(e[0].contains("not_found: no such endpoint"), "{e:?}");

    let at = capture.text().len();
    app.http.delete(app.url("/token")).send().await.unwrap();
    events(&capture, at, "405");

    let at = capture.text().len();
    app.http
        .post(app.url("/token"))
        .basic_auth("rp-secret", Some("wrong-secret"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    let e = events(&capture, at, "a wrong client secret");
    assert!(e[0].contains("invalid_client"), "{e:?}");

    let at = capture.text().len();
    app.http.get(app.url("/userinfo")).send().await.unwrap();
    events(&capture, at, "userinfo without a token");

    let at = capture.text().len();
    app.http
        .post(app.url("/admin/sessions"))
        .bearer_auth("admin-token-for-the-log-test-0123456789")
        .header("content-type", "application/json")
        .body(r#"{"network":"203.0.113.9","msisdn":99000000055}"#)
        .send()
        .await
        .unwrap();
    events(&capture, at, "a mistyped admin body");

    let at = capture.text().len();
    app.authorize(&[("client_id", "nobody")]).await;
    let e = events(&capture, at, "the error page");
    assert!(e[0].contains("invalid_client"), "{e:?}");

    // Behind the trusted proxy without its header: the client is told access_denied, the log
    // says why.
    let at = capture.text().len();
    app.authorize(&app.std_params(&[("prompt", "login")])).await;
    let e = events(&capture, at, "a refused forwarding header");
    assert!(
        e[0].contains("access_denied") && e[0].contains("sent no x-forwarded-for header"),
        "{e:?}"
    );

    // A store outage: 503, and the store's error in the same event.
    let (http, base, _keys) = spawn_with_store_down().await;
    let at = capture.text().len();
    let resp = http
        .post(format!("{base}/token"))
        .basic_auth("rp-secret", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "some-code"),
            ("redirect_uri", RP_REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let e = events(&capture, at, "a store outage");
    assert!(
        e[0].contains("ERROR")
            && e[0].contains("temporarily_unavailable")
            && e[0].contains("connection refused"),
        "{e:?}"
    );
}

/// A store that is down.
struct FailingStore;

fn refused() -> StoreError {
    StoreError::Unavailable("connection refused".into())
}

#[async_trait]
impl Store for FailingStore {
    async fn put_if_absent(&self, _: &str, _: &[u8], _: Duration) -> Result<bool, StoreError> {
        Err(refused())
    }
    async fn take(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Err(refused())
    }
    async fn put(&self, _: &str, _: &[u8], _: Duration) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Err(refused())
    }
    async fn delete(&self, _: &str) -> Result<bool, StoreError> {
        Err(refused())
    }
    async fn scan_prefix(&self, _: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Err(refused())
    }
    async fn map_put(&self, _: &str, _: &str, _: &[u8], _: Duration) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn map_remove(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        Err(refused())
    }
    async fn map_get(&self, _: &str) -> Result<MapEntries, StoreError> {
        Err(refused())
    }
    async fn map_scan_prefix(&self, _: &str) -> Result<Vec<(String, MapEntries)>, StoreError> {
        Err(refused())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(refused())
    }
}

/// The default settings on a store that is down; an HTTP client with its base URL.
async fn spawn_with_store_down() -> (reqwest::Client, String, tempfile::TempDir) {
    let dir = server_kit::testing::temp_dir();
    let rs = DecryptionKeys::from_jwks(&[EncryptionAlg::RsaOaep256.generate().unwrap()]).unwrap();
    std::fs::write(
        dir.path().join("rs.public.json"),
        rs.public_jwks().to_string(),
    )
    .unwrap();
    let (rp_key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let settings = Builder::default().settings(dir.path(), &rp_key);
    let deps = server_kit::testing::Fakes::default().dependencies_with(Arc::new(FailingStore));
    let app = Application::build_with(settings, deps).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped());
    (reqwest::Client::new(), base, dir)
}
