//! The JWT-bearer grant (RFC 7523 §2.1) as the CAMARA profile has it: the assertion is the
//! client authentication, `sub` an operator token or (for a trusted client) a number, the scope
//! a claim. rp-jwt signs with the test key and may use every grant; rp-trusted (same key) may
//! assert numbers; rp-code-only (same key) has the code flow only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_store::Clock;
use serde_json::{json, Value};

use crate::helpers::*;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify";

/// The claims of a valid assertion by `iss` for `sub`, with `over` replacing (or, `null`,
/// removing) members.
fn claims(app: &TestApp, iss: &str, sub: &str, over: Value) -> Value {
    let now = app.clock.now();
    let mut c = json!({
        "iss": iss, "sub": sub, "aud": app.url("/token"), "iat": now, "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(), "scope": SCOPE,
    });
    for (k, v) in over.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn sign(app: &TestApp, claims: &Value) -> String {
    app.rp_key.sign_json(Some("JWT"), claims).unwrap()
}

async fn grant(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", JWT_BEARER), ("assertion", assertion)];
    form.extend_from_slice(extra);
    app.token_form(&form).await
}

#[tokio::test]
async fn an_operator_token_in_the_assertion_gives_a_sim_token_for_its_subscriber_once() {
    let app = spawn().await;
    let sub = app.operator_token_hint("rp-jwt").await;
    let assertion = sign(&app, &claims(&app, "rp-jwt", &sub, json!({})));
    let resp = grant(&app, &assertion, &[]).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert!(
        body["id_token"].is_string(),
        "openid was in the scope claim"
    );
    let at = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert_eq!(at.phone_number.as_str(), LOOPBACK_NUMBER);
    assert_eq!(at.amr, ["sim"]);
    assert_eq!(at.client_id, "rp-jwt");
    assert!(at.has_scope(nv_token::ApiScope::Verify));

    // The same assertion again, and a fresh one with the spent operator token.
    let (s, e, _) = TestApp::error_of(grant(&app, &assertion, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    let again = sign(&app, &claims(&app, "rp-jwt", &sub, json!({})));
    let (s, e, _) = TestApp::error_of(grant(&app, &again, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
}

#[tokio::test]
async fn an_operator_token_of_another_client_or_unknown_is_invalid_grant() {
    let app = spawn().await;
    let foreign = app.operator_token_hint("rp-backend").await;
    for sub in [foreign.as_str(), "operatortoken:never-issued"] {
        let assertion = sign(&app, &claims(&app, "rp-jwt", sub, json!({})));
        let (s, e, _) = TestApp::error_of(grant(&app, &assertion, &[]).await).await;
        assert_eq!((s, e.as_str()), (400, "invalid_grant"), "{sub}");
    }
}

#[tokio::test]
async fn only_a_trusted_client_may_assert_a_number_and_its_tokens_say_so() {
    let app = spawn().await;
    let assertion = sign(
        &app,
        &claims(&app, "rp-trusted", "tel:+99011110009", json!({})),
    );
    let body: Value = grant(&app, &assertion, &[]).await.json().await.unwrap();
    let at = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert_eq!(at.phone_number.as_str(), "+99011110009");
    assert_eq!(at.amr, ["rp_asserted"], "neither network nor SIM");

    let assertion = sign(&app, &claims(&app, "rp-jwt", "tel:+99011110009", json!({})));
    let (s, e, _) = TestApp::error_of(grant(&app, &assertion, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    // Without the tel: prefix it is no sub of this grant, even for the trusted client.
    let assertion = sign(&app, &claims(&app, "rp-trusted", "+99011110009", json!({})));
    let (s, e, _) = TestApp::error_of(grant(&app, &assertion, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_unauthorized() {
    let app = spawn().await;
    let sub = app.operator_token_hint("rp-jwt").await;
    let assertion = sign(&app, &claims(&app, "rp-code-only", &sub, json!({})));
    let (s, e, _) = TestApp::error_of(grant(&app, &assertion, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "unauthorized_client"));
}

#[tokio::test]
async fn every_bad_assertion_gets_its_error() {
    let app = spawn().await;
    let now = app.clock.now();
    let sub = "operatortoken:not-reached";
    for (over, code) in [
        (json!({"aud": app.url("/authorize")}), "invalid_grant"),
        (
            json!({"aud": [app.url("/token"), "https://other.example"]}),
            "invalid_grant",
        ),
        (json!({"aud": null}), "invalid_grant"),
        (json!({"jti": null}), "invalid_grant"),
        (json!({"sub": null}), "invalid_grant"),
        (json!({"scope": null}), "invalid_grant"),
        (json!({"iat": null}), "invalid_grant"),
        (json!({"exp": null}), "invalid_grant"),
        (json!({"exp": now + 301, "iat": now}), "invalid_grant"),
        (json!({"iat": now + 60, "exp": now + 90}), "invalid_grant"),
        (json!({"iat": now - 300, "exp": now + 10}), "invalid_grant"),
        (json!({"iat": now - 100, "exp": now - 10}), "invalid_grant"),
        (json!({"sub": "ipport:198.51.100.7"}), "invalid_grant"),
        (json!({"sub": "rp-jwt"}), "invalid_grant"),
        (
            json!({"scope": "openid number-verification:verify"}),
            "invalid_scope",
        ),
        (
            json!({"scope": "dpv:FraudPreventionAndDetection dpv:Other number-verification:verify"}),
            "invalid_scope",
        ),
        (
            json!({"scope": "openid dpv:FraudPreventionAndDetection"}),
            "invalid_scope",
        ),
        (
            json!({"scope": "dpv:NotRegistered number-verification:verify"}),
            "invalid_scope",
        ),
        (json!({"iss": "nobody"}), "invalid_client"),
    ] {
        let assertion = sign(&app, &claims(&app, "rp-jwt", sub, over.clone()));
        let (s, e, d) = TestApp::error_of(grant(&app, &assertion, &[]).await).await;
        let status = if code == "invalid_client" { 401 } else { 400 };
        assert_eq!((s, e.as_str()), (status, code), "{over}: {d}");
    }

    // Unsigned, HMAC, and signed by a key nobody registered.
    let payload = URL_SAFE_NO_PAD.encode(claims(&app, "rp-jwt", sub, json!({})).to_string());
    for header in [
        json!({"alg": "none"}),
        json!({"alg": "HS256", "typ": "JWT"}),
    ] {
        let jwt = format!(
            "{}.{payload}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(b"sig")
        );
        let (s, e, _) = TestApp::error_of(grant(&app, &jwt, &[]).await).await;
        assert_eq!((s, e.as_str()), (400, "invalid_grant"), "{header}");
    }
    let (other, _) = nv_token::SigningKey::generate(nv_token::SigningAlg::ES256).unwrap();
    let forged = other
        .sign_json(Some("JWT"), &claims(&app, "rp-jwt", sub, json!({})))
        .unwrap();
    let (s, e, _) = TestApp::error_of(grant(&app, &forged, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    let (s, e, _) = TestApp::error_of(grant(&app, "not-a-jwt", &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
}

#[tokio::test]
async fn the_request_must_carry_the_assertion_and_nothing_that_competes_with_it() {
    let app = spawn().await;
    let assertion = sign(&app, &claims(&app, "rp-jwt", "operatortoken:x", json!({})));
    for extra in [
        vec![("scope", SCOPE)],
        vec![("client_secret", SECRET)],
        vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ],
        vec![("client_id", "rp-secret")],
    ] {
        let (s, e, _) = TestApp::error_of(grant(&app, &assertion, &extra).await).await;
        assert_eq!((s, e.as_str()), (400, "invalid_request"), "{extra:?}");
    }
    let (s, e, _) = TestApp::error_of(app.token_form(&[("grant_type", JWT_BEARER)]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn an_assertion_expires_with_the_clock() {
    let app = spawn().await;
    let sub = app.operator_token_hint("rp-jwt").await;
    let assertion = sign(&app, &claims(&app, "rp-jwt", &sub, json!({})));
    app.clock.advance(61 + 5);
    let (s, e, d) = TestApp::error_of(grant(&app, &assertion, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    assert!(d.contains("expired"), "{d}");
}

#[tokio::test]
async fn one_operator_token_in_many_concurrent_assertions_gives_exactly_one_token() {
    let app = spawn().await;
    let sub = app.operator_token_hint("rp-jwt").await;
    let assertions: Vec<String> = (0..16)
        .map(|_| sign(&app, &claims(&app, "rp-jwt", &sub, json!({}))))
        .collect();
    let statuses: Vec<u16> =
        futures_util::future::join_all(assertions.iter().map(|a| grant(&app, a, &[])))
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_token_a_playground_number_obtained_stays_a_playground_identity() {
    let app = Builder {
        no_loopback: true,
        playground: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let body: Value = app
        .http
        .post(app.url("/entitlement/operator-token"))
        .form(&[("client_id", "rp-jwt"), ("login_hint", "tel:+99000000077")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sub = format!("operatortoken:{}", body["operator_token"].as_str().unwrap());
    let assertion = sign(&app, &claims(&app, "rp-jwt", &sub, json!({})));
    let body: Value = grant(&app, &assertion, &[]).await.json().await.unwrap();
    let at = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert_eq!(at.phone_number.as_str(), "+99000000077");
    assert_eq!(at.amr, ["playground"], "never upgraded to sim");
}

#[tokio::test]
async fn an_unreachable_external_entitlement_server_is_temporarily_unavailable_for_both_grants() {
    // Nothing listens on the discard port of loopback.
    let settings: OperatorTokenSettings = serde_json::from_value(json!({
        "backend": "external",
        "url": "http://127.0.0.1:9/operator-token",
        "credentials": {"bearer": {"token": "t"}},
        "timeout_ms": 500,
    }))
    .unwrap();
    let app = Builder {
        operator_token: Some(settings),
        ..Default::default()
    }
    .spawn()
    .await;
    let assertion = sign(
        &app,
        &claims(&app, "rp-jwt", "operatortoken:tok-x", json!({})),
    );
    let (s, e, _) = TestApp::error_of(grant(&app, &assertion, &[]).await).await;
    assert_eq!((s, e.as_str()), (503, "temporarily_unavailable"));
    let resp = app
        .http
        .post(app.url("/bc-authorize"))
        .form(&[
            ("client_id", "rp-backend"),
            ("client_secret", SECRET),
            ("scope", SCOPE),
            ("login_hint", "operatortoken:tok-y"),
        ])
        .send()
        .await
        .unwrap();
    let (s, e, _) = TestApp::error_of(resp).await;
    assert_eq!((s, e.as_str()), (503, "temporarily_unavailable"));
}
