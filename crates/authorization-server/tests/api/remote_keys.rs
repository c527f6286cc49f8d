//! Keys fetched over HTTP: a client's `jwks_uri` (cached, refetched on an unknown kid at a
//! bounded rate) and the resource server's JWKS (cached).

use nv_token::{DecryptionKeys, EncryptionAlg, SigningAlg, SigningKey};
use serde_json::{json, Value};

use crate::helpers::*;

fn jwks_of(key: &SigningKey) -> Value {
    json!({"keys": [Value::Object(key.public_jwk().as_ref().clone())]})
}

async fn redeem_remote(app: &TestApp, key: &SigningKey) -> reqwest::Response {
    let code = app.code(&[("client_id", "rp-remote")]).await;
    let assertion = key
        .sign_json(None, &app.assertion_claims("rp-remote"))
        .unwrap();
    app.redeem_with_assertion(&code, &assertion).await
}

#[tokio::test]
async fn a_client_jwks_uri_is_fetched_once_cached_and_refetched_when_the_client_rotates() {
    let (key1, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
    let jwks = JsonServer::start(jwks_of(&key1)).await;
    let app = spawn_with_remote_client(&jwks.url).await;
    assert_eq!(jwks.hits(), 0, "fetched lazily, not at start-up");
    assert_eq!(redeem_remote(&app, &key1).await.status(), 200);
    assert_eq!(redeem_remote(&app, &key1).await.status(), 200);
    assert_eq!(jwks.hits(), 1, "cached");

    // The client rotates to a new key: the unknown kid triggers one refetch.
    let (key2, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    *jwks.doc.write().unwrap() = jwks_of(&key2);
    // Within the minimum refresh interval the refetch is refused (no amplification)...
    let (status, error, _) = TestApp::error_of(redeem_remote(&app, &key2).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert_eq!(jwks.hits(), 1);
    // ...and allowed once the interval has passed.
    app.clock.advance(11);
    assert_eq!(redeem_remote(&app, &key2).await.status(), 200);
    assert_eq!(jwks.hits(), 2);
}

/// While a client's key host is down, requests naming the client do not each trigger a fetch
/// (back-off), and the keys fetched before keep its logins working (stale fallback).
#[tokio::test]
async fn a_failing_client_jwks_uri_is_retried_with_back_off_and_its_last_keys_keep_working() {
    let (key, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
    let jwks = JsonServer::start(jwks_of(&key)).await;
    let app = spawn_with_remote_client(&jwks.url).await;
    assert_eq!(redeem_remote(&app, &key).await.status(), 200);
    assert_eq!(jwks.hits(), 1);

    // The key host fails; the cache expires.
    *jwks.doc.write().unwrap() = Value::Null;
    app.clock.advance(301);
    for _ in 0..5 {
        assert_eq!(redeem_remote(&app, &key).await.status(), 200, "stale keys");
    }
    assert_eq!(jwks.hits(), 2, "one failed refetch, then back-off");
    // Forged kids do not fetch either while backing off.
    let (stranger, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
    app.clock.advance(1);
    for _ in 0..5 {
        let (status, _, _) = TestApp::error_of(redeem_remote(&app, &stranger).await).await;
        assert_eq!(status, 401);
    }
    assert!(jwks.hits() <= 3, "{} fetches", jwks.hits());

    // Back again: the next attempt after the back-off succeeds and resets it.
    *jwks.doc.write().unwrap() = jwks_of(&key);
    app.clock.advance(120);
    assert_eq!(redeem_remote(&app, &key).await.status(), 200);
    let after = jwks.hits();
    assert_eq!(redeem_remote(&app, &key).await.status(), 200);
    assert_eq!(jwks.hits(), after, "cached again");

    // Stale keys are not used forever: an hour past their lifetime without a good fetch, the
    // client cannot log in.
    *jwks.doc.write().unwrap() = Value::Null;
    app.clock.advance(300 + 3600 + 1);
    let (status, error, _) = TestApp::error_of(redeem_remote(&app, &key).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
}

/// Concurrent requests that find no cached keys wait for one fetch instead of each making one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_one_jwks_fetch() {
    let (key, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
    let jwks = JsonServer::start(jwks_of(&key)).await;
    jwks.delay_ms
        .store(300, std::sync::atomic::Ordering::SeqCst);
    let app = spawn_with_remote_client(&jwks.url).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(app.code(&[("client_id", "rp-remote")]).await);
    }
    let requests = codes.iter().map(|code| {
        let assertion = key
            .sign_json(None, &app.assertion_claims("rp-remote"))
            .unwrap();
        let app = &app;
        async move { app.redeem_with_assertion(code, &assertion).await.status() }
    });
    for status in futures_util::future::join_all(requests).await {
        assert_eq!(status, 200);
    }
    assert_eq!(jwks.hits(), 1);
}

#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let (key, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
    let mut doc = jwks_of(&key);
    doc["padding"] = json!("x".repeat(300 * 1024));
    let jwks = JsonServer::start(doc).await;
    let app = spawn_with_remote_client(&jwks.url).await;
    let (status, error, _) = TestApp::error_of(redeem_remote(&app, &key).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
}

#[tokio::test]
async fn the_resource_server_key_is_fetched_from_its_jwks_and_cached() {
    let rs_private = EncryptionAlg::RsaOaep256.generate().unwrap();
    let public = DecryptionKeys::from_jwks(std::slice::from_ref(&rs_private))
        .unwrap()
        .public_jwks();
    let rs = JsonServer::start(public).await;
    let app = Builder {
        rs_jwks_uri: Some(rs.url.clone()),
        rs_key: Some(rs_private),
        ..Default::default()
    }
    .spawn()
    .await;
    for _ in 0..2 {
        let code = app.code(&[]).await;
        let body: Value = app.redeem(&code).await.json().await.unwrap();
        let claims = app
            .open(body["access_token"].as_str().unwrap(), AUDIENCE)
            .await;
        assert_eq!(claims.phone_number.as_str(), LOOPBACK_NUMBER);
    }
    assert_eq!(rs.hits(), 1);
}

#[tokio::test]
async fn an_unreachable_resource_server_jwks_is_a_clean_503() {
    let app = Builder {
        rs_jwks_uri: Some("http://127.0.0.1:9/jwks".into()),
        ..Default::default()
    }
    .spawn()
    .await;
    let code = app.code(&[]).await;
    let (status, error, _) = TestApp::error_of(app.redeem(&code).await).await;
    assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));
}

#[tokio::test]
async fn an_oversized_resource_server_jwks_is_a_clean_503() {
    let rs_private = EncryptionAlg::RsaOaep256.generate().unwrap();
    let mut public = DecryptionKeys::from_jwks(std::slice::from_ref(&rs_private))
        .unwrap()
        .public_jwks();
    public["padding"] = json!("x".repeat(300 * 1024));
    let rs = JsonServer::start(public).await;
    let app = Builder {
        rs_jwks_uri: Some(rs.url.clone()),
        rs_key: Some(rs_private),
        ..Default::default()
    }
    .spawn()
    .await;
    let code = app.code(&[]).await;
    let (status, error, _) = TestApp::error_of(app.redeem(&code).await).await;
    assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));
}
