//! The client-credentials grant: 2-legged tokens for the scopes a client registered as
//! 2-legged; Number Verification scopes are 3-legged only. rp-service (secret) is registered
//! with `operator-api:read` and `operator-api:write`.

use nv_store::Clock;
use nv_token::{ContentEncryption, EncryptionAlg, OpenPolicy, Opened, SigningAlg};
use serde_json::Value;

use crate::helpers::*;

async fn grant(app: &TestApp, client: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", SECRET),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    app.token_form(&form).await
}

#[tokio::test]
async fn a_2_legged_token_names_the_client_and_no_subscriber() {
    let app = spawn().await;
    let resp = grant(
        &app,
        "rp-service",
        Some("operator-api:read operator-api:read"),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "operator-api:read");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    // Sealed for the resource server like every access token; it opens as a genuine token
    // without a phone number, which the API answers nothing with.
    let keys = app.jwks().await;
    let policy = OpenPolicy {
        issuer: &app.base,
        audience: AUDIENCE,
        key_management: &[EncryptionAlg::RsaOaep256],
        content: &[ContentEncryption::A256GCM],
        signing: &SigningAlg::ALL,
        now: app.clock.now(),
        leeway: 0,
    };
    let opened = nv_token::open(
        body["access_token"].as_str().unwrap(),
        &app.rs_keys,
        &keys,
        &policy,
    )
    .unwrap();
    let Opened::WithoutPhoneNumber(context) = opened else {
        panic!("a 2-legged token has no phone number")
    };
    assert_eq!(context.client_id, "rp-service");
    assert_eq!(context.scope, "operator-api:read");
    assert!(context.amr.is_empty());
}

#[tokio::test]
async fn number_verification_scopes_are_3_legged_only_and_scopes_must_be_registered() {
    let app = spawn().await;
    for scope in [
        "number-verification:verify",
        "operator-api:read number-verification:device-phone-number:read",
        "openid operator-api:read",
        "dpv:FraudPreventionAndDetection operator-api:read",
        "operator-api:admin",
    ] {
        let (s, e, d) = TestApp::error_of(grant(&app, "rp-service", Some(scope)).await).await;
        assert_eq!((s, e.as_str()), (400, "invalid_scope"), "{scope}: {d}");
    }
    let (s, e, d) =
        TestApp::error_of(grant(&app, "rp-service", Some("number-verification:verify")).await)
            .await;
    assert_eq!((s, e.as_str()), (400, "invalid_scope"));
    assert!(d.contains("3-legged only"), "{d}");
    for scope in [None, Some(" ")] {
        let (s, e, _) = TestApp::error_of(grant(&app, "rp-service", scope).await).await;
        assert_eq!((s, e.as_str()), (400, "invalid_request"), "{scope:?}");
    }
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_unauthorized() {
    let app = spawn().await;
    let (s, e, _) =
        TestApp::error_of(grant(&app, "rp-secret", Some("operator-api:read")).await).await;
    assert_eq!((s, e.as_str()), (400, "unauthorized_client"));
    let (s, e, _) = TestApp::error_of(
        app.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "rp-service"),
            ("client_secret", "wrong"),
            ("scope", "operator-api:read"),
        ])
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (401, "invalid_client"));
}
