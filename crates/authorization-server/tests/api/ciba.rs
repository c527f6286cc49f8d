//! CIBA in poll mode: `/bc-authorize` then `grant_type=urn:openid:params:grant-type:ciba` at
//! `/token`, with operator-token, `ipport:` and `tel:` hints, signed requests, and every error.
//! rp-backend (client_secret_post) is registered for CIBA only; rp-jwt (private_key_jwt, the
//! test key) for every grant.

use nv_store::Clock;
use serde_json::{json, Value};

use crate::helpers::*;

const CIBA: &str = "urn:openid:params:grant-type:ciba";
const SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify";

async fn bc_authorize(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url("/bc-authorize"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// rp-backend's request with `extra` (replacing what it names).
async fn backend_request(app: &TestApp, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![
        ("client_id", "rp-backend"),
        ("client_secret", SECRET),
        ("scope", SCOPE),
    ];
    for (k, v) in extra {
        form.retain(|(fk, _)| fk != k);
        form.push((k, v));
    }
    bc_authorize(app, &form).await
}

async fn accepted(resp: reqwest::Response) -> String {
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["interval"], 2);
    body["auth_req_id"].as_str().unwrap().to_owned()
}

async fn poll(app: &TestApp, client: &str, auth_req_id: &str) -> reqwest::Response {
    let mut form = vec![("grant_type", CIBA), ("auth_req_id", auth_req_id)];
    let assertion;
    if client == "rp-jwt" {
        assertion = app.assertion(&app.assertion_claims("rp-jwt"));
        form.extend([
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ]);
    } else {
        form.extend([("client_id", client), ("client_secret", SECRET)]);
    }
    app.token_form(&form).await
}

#[tokio::test]
async fn an_operator_token_is_a_subscriber_whose_tokens_the_first_poll_after_the_interval_gets() {
    let app = spawn().await;
    let hint = app.operator_token_hint("rp-backend").await;
    let id = accepted(backend_request(&app, &[("login_hint", &hint)]).await).await;
    // Too soon: the interval runs from the request, and a slow_down adds 5 s to it.
    let (s, e, _) = TestApp::error_of(poll(&app, "rp-backend", &id).await).await;
    assert_eq!((s, e.as_str()), (400, "slow_down"));
    app.clock.advance(7);
    let resp = poll(&app, "rp-backend", &id).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["id_token"].is_string(), "openid was asked");
    assert!(body.get("refresh_token").is_none());
    let claims = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert_eq!(claims.phone_number.as_str(), LOOPBACK_NUMBER);
    assert_eq!(claims.amr, ["sim"]);
    assert_eq!(claims.client_id, "rp-backend");
    // Single use.
    app.clock.advance(2);
    let (s, e, _) = TestApp::error_of(poll(&app, "rp-backend", &id).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
}

#[tokio::test]
async fn an_operator_token_works_once_and_only_for_its_client() {
    let app = spawn().await;
    let hint = app.operator_token_hint("rp-backend").await;
    accepted(backend_request(&app, &[("login_hint", &hint)]).await).await;
    let (s, e, _) = TestApp::error_of(backend_request(&app, &[("login_hint", &hint)]).await).await;
    assert_eq!((s, e.as_str()), (400, "unknown_user_id"));
    // Issued for rp-jwt, presented by rp-backend.
    let foreign = app.operator_token_hint("rp-jwt").await;
    let (s, e, _) =
        TestApp::error_of(backend_request(&app, &[("login_hint", &foreign)]).await).await;
    assert_eq!((s, e.as_str()), (400, "unknown_user_id"));
    let (s, e, _) = TestApp::error_of(
        backend_request(&app, &[("login_hint", "operatortoken:never-issued")]).await,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "unknown_user_id"));
}

#[tokio::test]
async fn an_ipport_hint_resolves_through_the_network_resolvers() {
    let app = spawn().await;
    for (hint, number) in [
        ("ipport:198.51.100.7", "+99011110004"),
        ("ipport:100.64.0.1:1500", "+99011110001"),
        ("ipport:100.64.0.1:3000", "+99011110002"),
    ] {
        let id = accepted(backend_request(&app, &[("login_hint", hint)]).await).await;
        app.clock.advance(2);
        let body: Value = poll(&app, "rp-backend", &id).await.json().await.unwrap();
        let claims = app
            .open(body["access_token"].as_str().unwrap(), AUDIENCE)
            .await;
        assert_eq!(claims.phone_number.as_str(), number, "{hint}");
        assert_eq!(claims.amr, ["network"]);
    }
    for hint in ["ipport:203.0.113.200", "ipport:100.64.0.1"] {
        let (s, e, _) =
            TestApp::error_of(backend_request(&app, &[("login_hint", hint)]).await).await;
        assert_eq!((s, e.as_str()), (400, "unknown_user_id"), "{hint}");
    }
}

#[tokio::test]
async fn a_tel_hint_proves_nothing_except_a_playground_number_in_playground_mode() {
    let app = spawn().await;
    let (s, e, _) =
        TestApp::error_of(backend_request(&app, &[("login_hint", "tel:+99011110004")]).await).await;
    assert_eq!((s, e.as_str()), (403, "access_denied"));

    let app = Builder {
        playground: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let id = accepted(backend_request(&app, &[("login_hint", "tel:+99000000077")]).await).await;
    app.clock.advance(2);
    let body: Value = poll(&app, "rp-backend", &id).await.json().await.unwrap();
    let claims = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert_eq!(claims.phone_number.as_str(), "+99000000077");
    assert_eq!(claims.amr, ["playground"]);
    // A number that is not a playground number is still refused.
    let (s, e, _) =
        TestApp::error_of(backend_request(&app, &[("login_hint", "tel:+34600000001")]).await).await;
    assert_eq!((s, e.as_str()), (403, "access_denied"));
}

#[tokio::test]
async fn bad_backchannel_requests_get_the_ciba_errors() {
    let app = spawn().await;
    let ip = ("login_hint", "ipport:198.51.100.7");
    for (extra, status, code) in [
        (vec![], 400, "invalid_request"),
        (vec![("login_hint", "mailto:a@b")], 400, "invalid_request"),
        (vec![ip, ("login_hint_token", "x")], 400, "invalid_request"),
        (vec![ip, ("id_token_hint", "x")], 400, "invalid_request"),
        (vec![ip, ("scope", "")], 400, "invalid_request"),
        (
            vec![ip, ("scope", "openid number-verification:verify")],
            400,
            "invalid_scope",
        ),
        (
            vec![
                ip,
                (
                    "scope",
                    "dpv:FraudPreventionAndDetection dpv:Other number-verification:verify",
                ),
            ],
            400,
            "invalid_scope",
        ),
        (
            vec![
                ip,
                (
                    "scope",
                    "openid dpv:NotRegistered number-verification:verify",
                ),
            ],
            400,
            "invalid_scope",
        ),
        (vec![ip, ("request_uri", "urn:x")], 400, "invalid_request"),
        (vec![ip, ("scope", "openid")], 400, "invalid_scope"),
        (
            vec![ip, ("client_secret", "wrong-secret")],
            401,
            "invalid_client",
        ),
    ] {
        let (s, e, _) = TestApp::error_of(backend_request(&app, &extra).await).await;
        assert_eq!((s, e.as_str()), (status, code), "{extra:?}");
    }
    // Not registered for CIBA.
    let (s, e, _) = TestApp::error_of(
        bc_authorize(
            &app,
            &[
                ("client_id", "rp-secret"),
                ("client_secret", SECRET),
                ("scope", SCOPE),
                ip,
            ],
        )
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "unauthorized_client"));
    // A hint twice.
    let (s, e, _) = TestApp::error_of(
        bc_authorize(
            &app,
            &[
                ("client_id", "rp-backend"),
                ("client_secret", SECRET),
                ("scope", SCOPE),
                ip,
                ("login_hint", "ipport:198.51.100.8"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "invalid_request"));
    let resp = app.http.get(app.url("/bc-authorize")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
}

#[tokio::test]
async fn polls_of_unknown_foreign_or_expired_requests_are_refused() {
    let app = spawn().await;
    let (s, e, _) = TestApp::error_of(poll(&app, "rp-backend", "no-such-request").await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    let (s, e, _) = TestApp::error_of(
        app.token_form(&[
            ("grant_type", CIBA),
            ("client_id", "rp-backend"),
            ("client_secret", SECRET),
        ])
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "invalid_request"));

    let id = accepted(backend_request(&app, &[("login_hint", "ipport:198.51.100.7")]).await).await;
    app.clock.advance(2);
    // Another client's: refused, and not spent for the rightful one.
    let (s, e, _) = TestApp::error_of(poll(&app, "rp-jwt", &id).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    // Expired.
    app.clock.advance(120);
    let (s, e, _) = TestApp::error_of(poll(&app, "rp-backend", &id).await).await;
    assert_eq!((s, e.as_str()), (400, "expired_token"));

    // A client not registered for the grant cannot poll at all.
    let (s, e, _) = TestApp::error_of(
        app.token_form(&[
            ("grant_type", CIBA),
            ("auth_req_id", &id),
            ("client_id", "rp-secret"),
            ("client_secret", SECRET),
        ])
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "unauthorized_client"));
}

#[tokio::test]
async fn polling_faster_than_the_interval_is_slow_down_each_time() {
    let app = spawn().await;
    let id = accepted(backend_request(&app, &[("login_hint", "ipport:198.51.100.7")]).await).await;
    app.clock.advance(1);
    let (_, e, _) = TestApp::error_of(poll(&app, "rp-backend", &id).await).await;
    assert_eq!(e, "slow_down");
    // After slow_down the client must wait the interval plus 5 s, and each further early poll
    // adds 5 s more (CIBA §11: "for this and all subsequent requests").
    app.clock.advance(6);
    let (_, e, d) = TestApp::error_of(poll(&app, "rp-backend", &id).await).await;
    assert_eq!(e, "slow_down");
    assert!(d.contains("wait 12 s"), "{d}");
    app.clock.advance(11);
    let (_, e, d) = TestApp::error_of(poll(&app, "rp-backend", &id).await).await;
    assert_eq!(e, "slow_down");
    assert!(d.contains("wait 17 s"), "{d}");
    app.clock.advance(17);
    assert_eq!(poll(&app, "rp-backend", &id).await.status().as_u16(), 200);
}

#[tokio::test]
async fn concurrent_polls_of_one_request_give_exactly_one_token() {
    let app = spawn().await;
    let id = accepted(backend_request(&app, &[("login_hint", "ipport:198.51.100.7")]).await).await;
    app.clock.advance(2);
    let polls = (0..16).map(|_| poll(&app, "rp-backend", &id));
    let statuses: Vec<u16> = futures_util::future::join_all(polls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

/// A signed authentication request (CIBA Core §7.1.1) from rp-jwt, its claims `claims` over
/// the defaults.
fn signed_request(app: &TestApp, claims: Value) -> String {
    let now = app.clock.now();
    let mut c = json!({
        "iss": "rp-jwt", "aud": app.base, "iat": now, "nbf": now, "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
        "scope": SCOPE, "login_hint": "ipport:198.51.100.7",
    });
    for (k, v) in claims.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    app.rp_key.sign_json(Some("JWT"), &c).unwrap()
}

async fn signed_bc_authorize(
    app: &TestApp,
    request: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut claims = app.assertion_claims("rp-jwt");
    claims["aud"] = json!(app.url("/bc-authorize"));
    let assertion = app.assertion(&claims);
    let mut form = vec![
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
        ("request", request),
    ];
    form.extend_from_slice(extra);
    bc_authorize(app, &form).await
}

#[tokio::test]
async fn a_signed_authentication_request_carries_every_parameter_and_works_once() {
    let app = spawn().await;
    let request = signed_request(&app, json!({}));
    let id = accepted(signed_bc_authorize(&app, &request, &[]).await).await;
    app.clock.advance(2);
    let body: Value = poll(&app, "rp-jwt", &id).await.json().await.unwrap();
    let claims = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert_eq!(claims.phone_number.as_str(), "+99011110004");
    // The same signed request again: its jti is spent.
    let (s, e, _) = TestApp::error_of(signed_bc_authorize(&app, &request, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_request_object"));
    // The backchannel endpoint as the audience works too.
    let request = signed_request(&app, json!({"aud": app.url("/bc-authorize")}));
    accepted(signed_bc_authorize(&app, &request, &[]).await).await;

    for (claims, what) in [
        (json!({"nbf": null}), "nbf"),
        (json!({"jti": null}), "jti"),
        (json!({"aud": app.url("/authorize")}), "aud"),
        (json!({"iss": "rp-secret"}), "iss"),
        (json!({"exp": app.clock.now() + 3600}), "exp"),
    ] {
        let request = signed_request(&app, claims);
        let (s, e, d) = TestApp::error_of(signed_bc_authorize(&app, &request, &[]).await).await;
        assert_eq!(
            (s, e.as_str()),
            (400, "invalid_request_object"),
            "{what}: {d}"
        );
    }
    // Parameters beside the signed request are refused, not merged.
    let request = signed_request(&app, json!({}));
    let (s, e, d) = TestApp::error_of(
        signed_bc_authorize(&app, &request, &[("login_hint", "ipport:100.64.0.1:1500")]).await,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "invalid_request_object"), "{d}");
    // Another key's signature.
    let (other, _) = nv_token::SigningKey::generate(nv_token::SigningAlg::ES256).unwrap();
    let now = app.clock.now();
    let forged = other
        .sign_json(
            Some("JWT"),
            &json!({"iss": "rp-jwt", "aud": app.base, "iat": now, "nbf": now, "exp": now + 60,
                "jti": "j-forged", "scope": SCOPE, "login_hint": "ipport:198.51.100.7"}),
        )
        .unwrap();
    let (s, e, _) = TestApp::error_of(signed_bc_authorize(&app, &forged, &[]).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_request_object"));
}

#[tokio::test]
async fn discovery_lists_the_backchannel_endpoint_and_poll_mode() {
    let app = spawn().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["backchannel_authentication_endpoint"],
        app.url("/bc-authorize")
    );
    assert_eq!(
        doc["backchannel_token_delivery_modes_supported"],
        json!(["poll"])
    );
    assert_eq!(
        doc["backchannel_authentication_request_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256"])
    );
    assert_eq!(doc["backchannel_user_code_parameter_supported"], false);
    assert_eq!(
        doc["grant_types_supported"],
        json!([
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            CIBA,
            "client_credentials"
        ])
    );
}

#[tokio::test]
async fn the_lifetime_and_the_interval_are_the_configured_ones() {
    let app = Builder {
        ciba: Some(CibaSettings {
            expires_in_seconds: 30,
            interval_seconds: 5,
        }),
        ..Default::default()
    }
    .spawn()
    .await;
    let resp = backend_request(&app, &[("login_hint", "ipport:198.51.100.7")]).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["expires_in"].as_i64(), body["interval"].as_i64()),
        (Some(30), Some(5))
    );
    let id = body["auth_req_id"].as_str().unwrap();
    app.clock.advance(4);
    let (_, e, d) = TestApp::error_of(poll(&app, "rp-backend", id).await).await;
    assert_eq!(e, "slow_down");
    assert!(d.contains("wait 10 s"), "{d}");
    app.clock.advance(10);
    assert_eq!(poll(&app, "rp-backend", id).await.status().as_u16(), 200);

    let resp = backend_request(&app, &[("login_hint", "ipport:198.51.100.7")]).await;
    let body: Value = resp.json().await.unwrap();
    app.clock.advance(30);
    let (_, e, _) =
        TestApp::error_of(poll(&app, "rp-backend", body["auth_req_id"].as_str().unwrap()).await)
            .await;
    assert_eq!(e, "expired_token");
}

#[tokio::test]
async fn only_a_client_registered_for_address_hints_may_name_a_device_by_address() {
    let app = spawn().await;
    // rp-trusted may use CIBA but not `ipport:` hints.
    let mut claims = app.assertion_claims("rp-trusted");
    claims["aud"] = json!(app.url("/bc-authorize"));
    let assertion = app.assertion(&claims);
    let form = |hint: &'static str, assertion: String| {
        vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion),
            ("scope", SCOPE.to_owned()),
            ("login_hint", hint.to_owned()),
        ]
    };
    let resp = app
        .http
        .post(app.url("/bc-authorize"))
        .form(&form("ipport:198.51.100.7", assertion))
        .send()
        .await
        .unwrap();
    let (s, e, d) = TestApp::error_of(resp).await;
    assert_eq!((s, e.as_str()), (403, "access_denied"), "{d}");
    assert!(d.contains("ipport"), "{d}");
}
