//! Keys fetched over HTTP: a client's `jwks_uri` (cached, refetched on an unknown kid at a
//! bounded rate) and the resource server's JWKS (cached).

use nv_token::{DecryptionKeys, EncryptionAlg, SigningAlg, SigningKey};
use serde_json::{json, Value};

use crate::helpers::*;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn jwks_of(key: &SigningKey) -> Value {
    json!({"keys": [Value::Object(key.public_jwk().as_ref().clone())]})
}

async fn redeem_remote(app: &TestApp, key: &SigningKey) -> reqwest::Response {
    let code = app.code(&[("client_id", "rp-remote")]).await;
    let assertion = key
        .sign_json(None, &app.assertion_claims("rp-remote"))
        .unwrap();
    app.token_form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", RP_REDIRECT),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &assertion),
    ])
    .await
}

#[tokio::test]
async fn a_client_jwks_uri_is_fetched_once_cached_and_refetched_when_the_client_rotates() {
    let (key1, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
    let jwks = JsonServer::start(jwks_of(&key1)).await;
    let app = Builder {
        remote_client_jwks: Some(jwks.url.clone()),
        ..Default::default()
    }
    .spawn()
    .await;
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
