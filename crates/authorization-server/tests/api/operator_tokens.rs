//! Issuing operator tokens with the simulated entitlement service: the device-facing endpoint
//! (network identity, playground hint) and the admin API. What a token proves is read back
//! through the same store, as a grant would redeem it.

use std::sync::Arc;

use authorization_server::operator_token::{
    OperatorToken, ProvenSubscriber, Refusal, SimulatedEntitlement,
};
use serde_json::{json, Value};

use crate::helpers::*;

const ADMIN: &str = "admin-token-for-operator-token-tests-0123";

async fn device_token(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url("/entitlement/operator-token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn admin_token(app: &TestApp, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/admin/operator-tokens"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Redeems `token` for `client_id` against the server's own store, as the grants do.
async fn redeem(app: &TestApp, token: &str, client_id: &str) -> Result<ProvenSubscriber, Refusal> {
    let service = SimulatedEntitlement::new(app.store.clone(), Arc::new(app.clock.clone()), 120);
    let token: OperatorToken = token.parse().unwrap();
    service.redeem(&token, client_id).await
}

async fn issued(resp: reqwest::Response, status: u16) -> (String, u64) {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    (
        body["operator_token"].as_str().unwrap().to_owned(),
        body["expires_in"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn a_device_on_the_network_gets_a_token_bound_to_its_subscriber_and_the_app() {
    let app = spawn().await;
    let (token, expires_in) =
        issued(device_token(&app, &[("client_id", "rp-jwt")]).await, 200).await;
    assert_eq!(expires_in, 120);
    let proven = redeem(&app, &token, "rp-jwt").await.unwrap();
    assert_eq!(proven.phone_number.as_str(), LOOPBACK_NUMBER);
    assert_eq!(proven.client_id, "rp-jwt");
    // Single use.
    assert_eq!(redeem(&app, &token, "rp-jwt").await, Err(Refusal::Unknown));
}

#[tokio::test]
async fn a_token_for_one_app_proves_nothing_to_another() {
    let app = spawn().await;
    let (token, _) = issued(device_token(&app, &[("client_id", "rp-jwt")]).await, 200).await;
    assert_eq!(
        redeem(&app, &token, "rp-secret").await,
        Err(Refusal::ForeignClient)
    );
}

#[tokio::test]
async fn a_token_expires_with_the_configured_lifetime() {
    let app = Builder {
        operator_token: Some(OperatorTokenSettings::Simulated { ttl_seconds: 30 }),
        ..Default::default()
    }
    .spawn()
    .await;
    let (token, expires_in) =
        issued(device_token(&app, &[("client_id", "rp-jwt")]).await, 200).await;
    assert_eq!(expires_in, 30);
    app.clock.advance(30);
    assert_eq!(redeem(&app, &token, "rp-jwt").await, Err(Refusal::Unknown));
}

#[tokio::test]
async fn a_device_the_network_does_not_know_gets_access_denied_and_a_hint_changes_nothing() {
    let app = Builder {
        no_loopback: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let (status, error, description) = TestApp::error_of(
        device_token(
            &app,
            &[("client_id", "rp-jwt"), ("login_hint", "tel:+99011110004")],
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (400, "access_denied"));
    assert!(description.contains("mobile"), "{description}");
}

#[tokio::test]
async fn in_playground_mode_a_test_number_hint_identifies_the_device() {
    let app = Builder {
        no_loopback: true,
        playground: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let (token, _) = issued(
        device_token(
            &app,
            &[("client_id", "rp-jwt"), ("login_hint", "tel:+99000000077")],
        )
        .await,
        200,
    )
    .await;
    let proven = redeem(&app, &token, "rp-jwt").await.unwrap();
    assert_eq!(proven.phone_number.as_str(), "+99000000077");
}

#[tokio::test]
async fn bad_device_requests_get_oauth_errors() {
    let app = spawn().await;
    for (form, status, code) in [
        (vec![], 400, "invalid_request"),
        (vec![("client_id", "nobody")], 400, "invalid_request"),
        // Registered for the redirect flow only: its tokens could never be redeemed.
        (vec![("client_id", "rp-secret")], 400, "unauthorized_client"),
        (
            vec![("client_id", "rp-jwt"), ("client_id", "rp-jwt")],
            400,
            "invalid_request",
        ),
        (
            vec![("client_id", "rp-jwt"), ("login_hint", "mailto:x")],
            400,
            "invalid_request",
        ),
    ] {
        let (s, e, _) = TestApp::error_of(device_token(&app, &form).await).await;
        assert_eq!((s, e.as_str()), (status, code), "{form:?}");
    }
    let resp = app
        .http
        .get(app.url("/entitlement/operator-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
}

#[tokio::test]
async fn the_admin_api_issues_a_token_for_a_number_and_an_app() {
    let app = Builder {
        admin_token: Some(ADMIN),
        ..Default::default()
    }
    .spawn()
    .await;
    let body = json!({"msisdn": "+99011110009", "client_id": "rp-jwt"}).to_string();
    let (token, expires_in) = issued(admin_token(&app, Some(ADMIN), &body).await, 201).await;
    assert_eq!(expires_in, 120);
    let proven = redeem(&app, &token, "rp-jwt").await.unwrap();
    assert_eq!(proven.phone_number.as_str(), "+99011110009");

    let (s, e, _) = TestApp::error_of(admin_token(&app, None, &body).await).await;
    assert_eq!((s, e.as_str()), (401, "invalid_token"));
    let (s, e, _) = TestApp::error_of(admin_token(&app, Some("wrong"), &body).await).await;
    assert_eq!((s, e.as_str()), (403, "forbidden"));
    for bad in [
        r#"{"msisdn": "0612345678", "client_id": "rp-jwt"}"#,
        r#"{"msisdn": 99011110009, "client_id": "rp-jwt"}"#,
        r#"{"msisdn": "+99011110009"}"#,
        r#"{"msisdn": "+99011110009", "client_id": "rp-jwt", "ttl": 5}"#,
        r#"{"msisdn": "+99011110009", "client_id": "rp-jwt", "client_id": "rp-secret"}"#,
        r#"{"msisdn": "+99011110009", "client_id": "nobody"}"#,
    ] {
        let (s, e, d) = TestApp::error_of(admin_token(&app, Some(ADMIN), bad).await).await;
        assert_eq!((s, e.as_str()), (400, "invalid_request"), "{bad}");
        // Admin errors never echo values.
        assert!(
            !d.contains("0612345678") && !d.contains("99011110009"),
            "{d}"
        );
    }
    let (s, e, _) = TestApp::error_of(
        admin_token(
            &app,
            Some(ADMIN),
            r#"{"msisdn": "+99011110009", "client_id": "rp-secret"}"#,
        )
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "unauthorized_client"));
}

#[tokio::test]
async fn with_an_external_entitlement_server_the_issuing_endpoints_do_not_exist() {
    let settings: OperatorTokenSettings = serde_json::from_value(json!({
        "backend": "external",
        "url": "http://127.0.0.1:9/operator-token",
        "credentials": {"bearer": {"token": "t"}},
    }))
    .unwrap();
    let app = Builder {
        admin_token: Some(ADMIN),
        operator_token: Some(settings),
        ..Default::default()
    }
    .spawn()
    .await;
    let (s, e, _) = TestApp::error_of(device_token(&app, &[("client_id", "rp-jwt")]).await).await;
    assert_eq!((s, e.as_str()), (404, "not_found"));
    let body = json!({"msisdn": "+99011110009", "client_id": "rp-jwt"}).to_string();
    let (s, e, _) = TestApp::error_of(admin_token(&app, Some(ADMIN), &body).await).await;
    assert_eq!((s, e.as_str()), (404, "not_found"));
}
