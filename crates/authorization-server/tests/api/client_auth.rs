//! Client authentication at /token: private_key_jwt rules (CAMARA ICM "Client Authentication"),
//! secrets only where registered.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_store::Clock;
use nv_token::{SigningAlg, SigningKey};
use serde_json::{json, Value};

use crate::helpers::*;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn with_assertion(app: &TestApp, assertion: &str) -> reqwest::Response {
    let code = app.code(&[]).await;
    app.redeem_with_assertion(&code, assertion).await
}

async fn refused(app: &TestApp, assertion: &str, needle: &str) {
    let (status, error, description) =
        TestApp::error_of(with_assertion(app, assertion).await).await;
    assert_eq!(
        (status, error.as_str()),
        (401, "invalid_client"),
        "{description}"
    );
    assert!(
        description.contains(needle),
        "expected `{needle}` in `{description}`"
    );
}

fn edit(app: &TestApp, f: impl FnOnce(&mut Value)) -> Value {
    let mut c = app.assertion_claims("rp-jwt");
    f(&mut c);
    c
}

#[tokio::test]
async fn assertions_for_the_issuer_or_the_token_endpoint_are_accepted() {
    let app = spawn().await;
    let issuer = app.base.clone();
    assert_eq!(
        with_assertion(
            &app,
            &app.assertion(&edit(&app, |c| c["aud"] = json!(issuer)))
        )
        .await
        .status(),
        200
    );
    let token_ep = app.url("/token");
    for aud in [json!(token_ep), json!([token_ep]), json!([issuer])] {
        assert_eq!(
            with_assertion(
                &app,
                &app.assertion(&edit(&app, |c| c["aud"] = aud.clone()))
            )
            .await
            .status(),
            200,
            "{aud}"
        );
    }
}

/// An array that merely contains this server let an assertion made for several servers (any of
/// which could replay it here) authenticate the client.
#[tokio::test]
async fn an_audience_array_naming_other_servers_is_refused() {
    let app = spawn().await;
    let token_ep = app.url("/token");
    for aud in [
        json!(["https://other-operator.example/token", token_ep]),
        json!([app.base, token_ep]),
        json!([]),
    ] {
        refused(
            &app,
            &app.assertion(&edit(&app, |c| c["aud"] = aud.clone())),
            "aud",
        )
        .await;
    }
}

#[tokio::test]
async fn a_jwt_typed_as_another_kind_is_not_a_client_assertion() {
    let app = spawn().await;
    let claims = app.assertion_claims("rp-jwt");
    for typ in ["oauth-authz-req+jwt", "at+jwt", "dpop+jwt"] {
        let jwt = app.rp_key.sign_json(Some(typ), &claims).unwrap();
        refused(&app, &jwt, "typ").await;
    }
    for typ in ["JWT", "client-authentication+jwt"] {
        let jwt = app
            .rp_key
            .sign_json(Some(typ), &app.assertion_claims("rp-jwt"))
            .unwrap();
        assert_eq!(with_assertion(&app, &jwt).await.status(), 200, "{typ}");
    }
}

/// RFC 7515 §4.1.11: an extension the server does not understand, even an empty list of them.
#[tokio::test]
async fn an_assertion_with_a_crit_header_is_refused() {
    let (key, private) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let jwks =
        JsonServer::start(json!({"keys": [Value::Object(key.public_jwk().as_ref().clone())]}))
            .await;
    let app = spawn_with_remote_client(&jwks.url).await;
    let signer = josekit::jws::ES256.signer_from_jwk(&private).unwrap();
    for crit in [json!([]), json!(["urn:example:must-understand"])] {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(key.kid());
        header.set_claim("crit", Some(crit)).unwrap();
        header
            .set_claim("urn:example:must-understand", Some(json!(true)))
            .unwrap();
        let payload = app.assertion_claims("rp-remote").to_string();
        let jwt = josekit::jws::serialize_compact(payload.as_bytes(), &header, &signer).unwrap();
        let code = app.code(&[("client_id", "rp-remote")]).await;
        let resp = app.redeem_with_assertion(&code, &jwt).await;
        let (status, error, description) = TestApp::error_of(resp).await;
        assert_eq!(
            (status, error.as_str()),
            (401, "invalid_client"),
            "{description}"
        );
    }
}

/// `exp - iat` computed in plain i64 wrapped for these values, and the assertion was accepted.
#[tokio::test]
async fn time_claims_that_overflow_are_refused() {
    let app = spawn().await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| {
            c["iat"] = json!(-(1i64 << 62));
            c["exp"] = json!(i64::MAX - 1000);
        })),
        "300",
    )
    .await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| c["iat"] = json!(i64::MIN))),
        "300",
    )
    .await;
}

#[tokio::test]
async fn an_unsigned_assertion_is_refused() {
    let app = spawn().await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(app.assertion_claims("rp-jwt").to_string());
    refused(&app, &format!("{header}.{body}."), "alg").await;
}

#[tokio::test]
async fn an_hmac_assertion_keyed_with_public_material_is_refused() {
    let app = spawn().await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(app.assertion_claims("rp-jwt").to_string());
    refused(&app, &format!("{header}.{body}.c2ln"), "alg").await;
}

#[tokio::test]
async fn the_wrong_audience_is_refused() {
    let app = spawn().await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| {
            c["aud"] = json!("https://other-as.example/token")
        })),
        "aud",
    )
    .await;
}

#[tokio::test]
async fn stale_far_future_or_overlong_assertions_are_refused() {
    let app = spawn().await;
    let now = app.clock.now();
    refused(
        &app,
        &app.assertion(&edit(&app, |c| c["exp"] = json!(now - 60))),
        "expired",
    )
    .await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| c["exp"] = json!(now + 400))),
        "300",
    )
    .await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| {
            c["iat"] = json!(now - 290);
            c["exp"] = json!(now + 20);
        })),
        "300",
    )
    .await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| c["iat"] = json!(now + 120))),
        "iat is later",
    )
    .await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| {
            c.as_object_mut().unwrap().remove("exp");
        })),
        "exp",
    )
    .await;
    // At exactly 300 s it is fine.
    assert_eq!(
        with_assertion(
            &app,
            &app.assertion(&edit(&app, |c| c["exp"] = json!(now + 300)))
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let app = spawn().await;
    let assertion = app.assertion(&app.assertion_claims("rp-jwt"));
    assert_eq!(with_assertion(&app, &assertion).await.status(), 200);
    refused(&app, &assertion, "jti").await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| {
            c.as_object_mut().unwrap().remove("jti");
        })),
        "jti",
    )
    .await;
}

/// The claims are read before the signature is checked (to find the client) and reused after:
/// a genuine signature over other claims must still be refused, e.g. a used assertion given a
/// fresh `jti` to get past the replay cache.
#[tokio::test]
async fn a_genuine_signature_over_other_claims_is_refused() {
    let app = spawn().await;
    let genuine = app.assertion(&app.assertion_claims("rp-jwt"));
    assert_eq!(with_assertion(&app, &genuine).await.status(), 200);
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["jti"] = json!("a-fresh-jti");
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
    refused(&app, &forged, "signature").await;
}

#[tokio::test]
async fn an_assertion_signed_by_an_unknown_key_is_refused() {
    let app = spawn().await;
    let (rogue, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    refused(
        &app,
        &rogue
            .sign_json(None, &app.assertion_claims("rp-jwt"))
            .unwrap(),
        "kid",
    )
    .await;
    // Same kid as the registered key, different key material.
    let mut jwk = SigningAlg::ES256.generate().unwrap();
    jwk.set_key_id(app.rp_key.kid());
    let impostor = SigningKey::from_jwk(&jwk, None).unwrap();
    refused(
        &app,
        &impostor
            .sign_json(None, &app.assertion_claims("rp-jwt"))
            .unwrap(),
        "signature",
    )
    .await;
}

#[tokio::test]
async fn iss_and_sub_must_both_be_the_client() {
    let app = spawn().await;
    refused(
        &app,
        &app.assertion(&edit(&app, |c| c["sub"] = json!("someone-else"))),
        "sub",
    )
    .await;
    let code = app.code(&[]).await;
    let resp = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP_REDIRECT),
            ("client_id", "rp-secret"),
            ("client_assertion_type", JWT_BEARER),
            (
                "client_assertion",
                &app.assertion(&app.assertion_claims("rp-jwt")),
            ),
        ])
        .await;
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_client");
}

#[tokio::test]
async fn a_secret_client_authenticates_with_basic_or_post() {
    let app = spawn().await;
    let code = app.code(&[("client_id", "rp-secret")]).await;
    let resp = app.redeem_basic("rp-secret", &code, RP_REDIRECT).await;
    assert_eq!(resp.status(), 200);
    let code = app.code(&[("client_id", "rp-secret")]).await;
    let resp = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP_REDIRECT),
            ("client_id", "rp-secret"),
            ("client_secret", SECRET),
        ])
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_wrong_secret_gets_401_with_a_basic_challenge() {
    let app = spawn().await;
    let resp = app
        .http
        .post(app.url("/token"))
        .basic_auth("rp-secret", Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", RP_REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(
        TestApp::error_of(resp).await,
        (
            401,
            "invalid_client".into(),
            "client authentication failed".into()
        )
    );
}

#[tokio::test]
async fn a_secret_in_the_wrong_place_is_refused() {
    let app = spawn().await;
    let resp = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", RP_REDIRECT),
            ("client_id", "rp-basic-only"),
            ("client_secret", SECRET),
        ])
        .await;
    let (status, error, description) = TestApp::error_of(resp).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(description.contains("client_secret_post"), "{description}");
    // A private_key_jwt client cannot fall back to no authentication.
    let resp = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", RP_REDIRECT),
            ("client_id", "rp-jwt"),
        ])
        .await;
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_client");
}

#[tokio::test]
async fn two_authentication_methods_at_once_are_refused() {
    let app = spawn().await;
    let resp = app
        .http
        .post(app.url("/token"))
        .basic_auth("rp-secret", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_request");
}
