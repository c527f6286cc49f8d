//! Signed authorization requests (`request`, OIDC Core §6.1, RFC 9101) as the CAMARA profile
//! requires them: signature with the client's registered key, iss/aud/iat/exp/jti, lifetime at
//! most 300 s, single use, the four parameters that must match, everything else from the object.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_store::Clock;
use nv_token::{SigningAlg, SigningKey};
use serde_json::{json, Value};

use crate::helpers::*;

fn claims(app: &TestApp) -> Value {
    let now = app.clock.now();
    json!({
        "iss": "rp-jwt", "aud": app.url("/authorize"), "iat": now, "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
        "client_id": "rp-jwt", "response_type": "code", "redirect_uri": RP_REDIRECT,
        "scope": NV_SCOPE, "state": "signed-state", "nonce": "signed-nonce", "prompt": "none",
    })
}

fn sign(app: &TestApp, claims: &Value) -> String {
    app.rp_key
        .sign_json(Some("oauth-authz-req+jwt"), claims)
        .unwrap()
}

/// The plain parameters that must accompany the object, a `state` that must be ignored, and the
/// object.
async fn send(app: &TestApp, client_id: &str, object: &str) -> reqwest::Response {
    app.authorize(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", RP_REDIRECT),
        ("scope", NV_SCOPE),
        ("state", "plain-state"),
        ("request", object),
    ])
    .await
}

/// The redirect's error and description; the state is the plain one (the object was not
/// accepted, so nothing in it is trusted).
async fn refused(app: &TestApp, object: &str) -> String {
    let resp = send(app, "rp-jwt", object).await;
    assert_eq!(resp.status(), 302);
    let pairs = location_params(&resp);
    assert_eq!(
        param(&pairs, "error"),
        Some("invalid_request_object"),
        "{pairs:?}"
    );
    assert_eq!(param(&pairs, "state"), Some("plain-state"));
    assert!(param(&pairs, "code").is_none());
    param(&pairs, "error_description").unwrap().to_owned()
}

fn with(app: &TestApp, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut c = claims(app);
    edit(c.as_object_mut().unwrap());
    sign(app, &c)
}

#[tokio::test]
async fn a_signed_request_is_honoured_and_its_parameters_win() {
    let app = spawn().await;
    let resp = send(&app, "rp-jwt", &sign(&app, &claims(&app))).await;
    assert_eq!(resp.status(), 302);
    let pairs = location_params(&resp);
    assert_eq!(param(&pairs, "state"), Some("signed-state"), "{pairs:?}");
    let code = param(&pairs, "code").expect("a code").to_owned();

    // The nonce came only in the object, and it is the one in the ID token.
    let body: Value = app.redeem(&code).await.json().await.unwrap();
    let id_token = body["id_token"].as_str().expect("an ID token");
    let id = b64_json(id_token.split('.').nth(1).unwrap());
    assert_eq!(id["nonce"], "signed-nonce");

    // `aud` may also be the issuer; scope values may come in another order.
    let object = with(&app, |c| {
        c.insert("aud".into(), json!(app.base));
        let reordered: Vec<&str> = NV_SCOPE.split(' ').rev().collect();
        c.insert("scope".into(), json!(reordered.join(" ")));
    });
    let resp = send(&app, "rp-jwt", &object).await;
    assert!(param(&location_params(&resp), "code").is_some());

    // Discovery says so.
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["request_parameter_supported"], true);
    assert_eq!(
        doc["request_object_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256"])
    );
    assert_eq!(doc["request_uri_parameter_supported"], false);
}

#[tokio::test]
async fn each_request_object_is_accepted_once() {
    let app = spawn().await;
    let object = sign(&app, &claims(&app));
    let first = send(&app, "rp-jwt", &object).await;
    assert!(param(&location_params(&first), "code").is_some());
    let again = refused(&app, &object).await;
    assert!(again.contains("already used"), "{again}");
}

#[tokio::test]
async fn objects_not_signed_by_the_client_are_refused() {
    let app = spawn().await;
    let c = claims(&app);

    let (stranger, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
    let d = refused(&app, &stranger.sign_json(None, &c).unwrap()).await;
    assert!(d.contains("not registered"), "{d}");

    // The client's signature over other claims.
    let genuine = sign(&app, &c);
    let mut other = c.clone();
    other["state"] = json!("forged");
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    let d = refused(&app, &forged).await;
    assert!(d.contains("signature"), "{d}");

    // Unsigned, HMAC, encrypted, not a JWT at all.
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
    for alg in ["none", "HS256"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
        let d = refused(&app, &format!("{header}.{payload}.")).await;
        assert!(d.contains(alg), "{d}");
    }
    let d = refused(&app, "eyJhbGciOiJSU0EtT0FFUC0yNTYifQ.a.b.c.d").await;
    assert!(d.contains("encrypted"), "{d}");
    refused(&app, "not-a-jwt").await;

    // A key type that is not a request object's.
    let d = refused(
        &app,
        &app.rp_key.sign_json(Some("at+jwt"), &claims(&app)).unwrap(),
    )
    .await;
    assert!(d.contains("typ"), "{d}");
}

type Edit = dyn Fn(&mut serde_json::Map<String, Value>);

#[tokio::test]
async fn the_jwt_claims_are_checked() {
    let app = spawn().await;
    let now = app.clock.now();
    let cases: Vec<(&str, Box<Edit>)> = vec![
        (
            "iss",
            Box::new(|c| drop(c.insert("iss".into(), json!("rp-other")))),
        ),
        (
            "aud",
            Box::new(|c| drop(c.insert("aud".into(), json!("https://other.example")))),
        ),
        ("aud", Box::new(|c| drop(c.remove("aud")))),
        ("iat", Box::new(|c| drop(c.remove("iat")))),
        ("exp", Box::new(|c| drop(c.remove("exp")))),
        ("jti", Box::new(|c| drop(c.remove("jti")))),
        (
            "sub",
            Box::new(|c| drop(c.insert("sub".into(), json!("rp-jwt")))),
        ),
        // iat after receipt (beyond the 5 s leeway for clock skew).
        (
            "iat",
            Box::new(move |c| drop(c.insert("iat".into(), json!(now + 60)))),
        ),
        // exp - iat over 300 s.
        (
            "300",
            Box::new(move |c| drop(c.insert("exp".into(), json!(now + 301)))),
        ),
        (
            "expired",
            Box::new(move |c| {
                c.insert("iat".into(), json!(now - 120));
                c.insert("exp".into(), json!(now - 60));
            }),
        ),
        (
            "nbf",
            Box::new(move |c| drop(c.insert("nbf".into(), json!(now + 60)))),
        ),
        // `exp - iat` wrapped in plain i64 arithmetic and let this through.
        (
            "300",
            Box::new(move |c| {
                c.insert("iat".into(), json!(-(1i64 << 62)));
                c.insert("exp".into(), json!(i64::MAX - 1000));
            }),
        ),
    ];
    for (word, edit) in cases {
        let d = refused(&app, &with(&app, |c| edit(c))).await;
        assert!(d.contains(word), "{word}: {d}");
    }
    // Within the limits: a 300 s lifetime, iat a few seconds ahead (clock skew).
    for edit in [
        |c: &mut serde_json::Map<String, Value>, now: i64| {
            drop(c.insert("exp".into(), json!(now + 300)))
        },
        |c: &mut serde_json::Map<String, Value>, now: i64| {
            c.insert("iat".into(), json!(now + 3));
        },
    ] {
        let resp = send(&app, "rp-jwt", &with(&app, |c| edit(c, now))).await;
        assert!(
            param(&location_params(&resp), "code").is_some(),
            "{:?}",
            location_params(&resp)
        );
    }
}

#[tokio::test]
async fn the_four_plain_parameters_must_match_the_object() {
    let app = spawn().await;
    for (name, value) in [
        ("redirect_uri", "https://rp.example/other"),
        ("scope", "openid"),
        ("response_type", "token"),
        ("client_id", "rp-secret"),
    ] {
        let d = refused(
            &app,
            &with(&app, |c| drop(c.insert(name.into(), json!(value)))),
        )
        .await;
        assert!(d.contains(name), "{name}: {d}");
        let d = refused(&app, &with(&app, |c| drop(c.remove(name)))).await;
        assert!(d.contains(name), "{name} missing: {d}");
    }
    let d = refused(
        &app,
        &with(&app, |c| {
            drop(c.insert("request_uri".into(), json!("https://rp.example/r")))
        }),
    )
    .await;
    assert!(d.contains("request_uri"), "{d}");
}

#[tokio::test]
async fn a_client_without_keys_cannot_send_request_objects() {
    let app = spawn().await;
    let object = with(&app, |c| {
        c.insert("iss".into(), json!("rp-secret"));
        c.insert("client_id".into(), json!("rp-secret"));
    });
    let resp = send(&app, "rp-secret", &object).await;
    let pairs = location_params(&resp);
    assert_eq!(param(&pairs, "error"), Some("invalid_request_object"));
    assert!(param(&pairs, "error_description")
        .unwrap()
        .contains("no keys"));
}

/// A request object with `sub` is refused, and its signed bytes cannot then authenticate the
/// client at /token as a client assertion (iss = sub = client, aud = issuer fit both kinds).
#[tokio::test]
async fn a_refused_request_object_with_sub_cannot_be_replayed_as_a_client_assertion() {
    let app = spawn().await;
    let mut c = claims(&app);
    c["sub"] = json!("rp-jwt");
    c["aud"] = json!(app.base);
    let jwt = app.rp_key.sign_json(Some("JWT"), &c).unwrap();
    let d = refused(&app, &jwt).await;
    assert!(d.contains("sub"), "{d}");

    let code = app.code(&[]).await;
    let resp = app.redeem_with_assertion(&code, &jwt).await;
    let (status, error, description) = TestApp::error_of(resp).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    // Refused as a request object; its jti is spent as an assertion's too (a second defence).
    assert!(
        description.contains("request object") || description.contains("already used"),
        "{description}"
    );
}

/// The same object taken to /token first, before /authorize ever saw it: it is a request object
/// (it carries `response_type` and `redirect_uri`), never a client assertion.
#[tokio::test]
async fn a_request_object_with_sub_taken_straight_to_the_token_endpoint_is_refused() {
    let app = spawn().await;
    let mut c = claims(&app);
    c["sub"] = json!("rp-jwt");
    c["aud"] = json!(app.base);
    let jwt = app.rp_key.sign_json(Some("JWT"), &c).unwrap();
    let code = app.code(&[]).await;
    let (status, error, description) =
        TestApp::error_of(app.redeem_with_assertion(&code, &jwt).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(description.contains("request object"), "{description}");
}
