//! What operators and developers use besides the API: health, readiness, OpenAPI documents,
//! the JWKS, the path prefix, and behaviour when the store is down.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nv_store::{MapEntries, Store, StoreError};
use serde_json::{json, Value};

use crate::helpers::*;

/// A store that is down.
struct FailingStore;

#[async_trait]
impl Store for FailingStore {
    async fn put_if_absent(&self, _: &str, _: &[u8], _: Duration) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn take(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn put(&self, _: &str, _: &[u8], _: Duration) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn delete(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn scan_prefix(&self, _: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn map_put(&self, _: &str, _: &str, _: &[u8], _: Duration) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn map_remove(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn map_get(&self, _: &str) -> Result<MapEntries, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn map_scan_prefix(&self, _: &str) -> Result<Vec<(String, MapEntries)>, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(StoreError::Timeout(Duration::from_millis(500)))
    }
}

#[tokio::test]
async fn a_store_outage_is_503_unavailable_never_an_acceptance() {
    let app = TestApp::builder()
        .store(Arc::new(FailingStore))
        .spawn()
        .await;
    let token = app.token();
    let response = app
        .post_json(
            "/number-verification/v2/verify",
            Some(&token),
            &json!({ "phoneNumber": PHONE }),
        )
        .await;
    assert_eq!(response.headers()["retry-after"], "1");
    let body = assert_error(response, 503, "UNAVAILABLE").await;
    assert!(
        !body["message"].as_str().unwrap().contains("refused"),
        "no internals: {body}"
    );
    let response = app
        .get("/number-verification/v2/device-phone-number", Some(&token))
        .await;
    assert_error(response, 503, "UNAVAILABLE").await;
    let response = app.get("/readyz", None).await;
    assert_error(response, 503, "UNAVAILABLE").await;
    assert_eq!(
        app.get("/healthz", None).await.status(),
        200,
        "liveness ignores the store"
    );
}

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(
        json_body(app.get("/healthz", None).await).await,
        json!({ "status": "ok" })
    );
    assert_eq!(
        json_body(app.get("/readyz", None).await).await,
        json!({ "status": "ready" })
    );
}

#[tokio::test]
async fn each_version_serves_its_openapi_document() {
    let app = TestApp::spawn().await;
    for (version, expected) in [
        ("v2", "version: 2.1.0"),
        ("v1", "version: 1.0.0"),
        ("v0", "version: 0.3.1"),
    ] {
        let response = app
            .get(
                &format!("/number-verification/{version}/openapi.yaml"),
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/yaml");
        let text = response.text().await.unwrap();
        assert!(text.starts_with("openapi: 3.0.3"), "{version}");
        assert!(text.contains(expected), "{version}");
    }
}

#[tokio::test]
async fn the_public_encryption_jwks_is_published_without_private_members() {
    let app = TestApp::spawn().await;
    let jwks: Value = json_body(app.get("/.well-known/jwks.json", None).await).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["use"], "enc");
    assert_eq!(keys[0]["alg"], "RSA-OAEP-256");
    assert!(keys[0]["kid"].is_string());
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(keys[0].get(private).is_none(), "{private} leaked");
    }
}

#[tokio::test]
async fn the_api_is_served_under_the_configured_prefix_too() {
    let prefix = "/camara/playground/api";
    let app = TestApp::builder()
        .settings(|s| s.server.path_prefix = prefix.into())
        .spawn()
        .await;
    let token = app.token();
    let body = json_body(
        app.post_json(
            &format!("{prefix}/number-verification/v1/verify"),
            Some(&token),
            &json!({ "phoneNumber": PHONE }),
        )
        .await,
    )
    .await;
    assert_eq!(body, json!({ "devicePhoneNumberVerified": true }));
    let body = json_body(
        app.get(
            &format!("{prefix}/number-verification/v2/device-phone-number"),
            Some(&app.token()),
        )
        .await,
    )
    .await;
    assert_eq!(body, json!({ "devicePhoneNumber": PHONE }));
    let response = app
        .get(
            &format!("{prefix}/number-verification/v2/openapi.yaml"),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    // The plain paths still work; an unknown path under the prefix is a CAMARA 404.
    assert_eq!(
        app.get(
            "/number-verification/v2/device-phone-number",
            Some(&app.token())
        )
        .await
        .status(),
        200
    );
    let response = app.get(&format!("{prefix}/nothing"), None).await;
    assert_error(response, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn phone_numbers_never_leave_in_error_bodies() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.amr = vec!["pwd".into()]);
    let response = app
        .get("/number-verification/v2/device-phone-number", Some(&token))
        .await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("99012345678"), "{text}");
}
