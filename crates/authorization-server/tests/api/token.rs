use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_token::SigningAlg;
use sha2::{Digest, Sha256};

use crate::helpers::*;

#[tokio::test]
async fn the_code_is_exchanged_for_an_encrypted_access_token_and_a_pairwise_id_token() {
    let app = spawn().await;
    assert_eq!(app.crypto, nv_token::CryptoDispatch::Inline, "the default");
    exchange_for_tokens(app).await;
}

/// `server.crypto = "pool"` signs and encrypts on the blocking pool: the same tokens, and
/// concurrent redemptions all succeed through the bounded pool.
#[tokio::test]
async fn tokens_are_the_same_when_crypto_runs_on_the_blocking_pool() {
    let app = Builder {
        crypto: Some(nv_token::CryptoDispatch::Pool),
        ..Builder::default()
    }
    .spawn()
    .await;
    assert_eq!(app.crypto, nv_token::CryptoDispatch::Pool);
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(app.code(&[]).await);
    }
    let answers = futures_util::future::join_all(codes.iter().map(|code| app.redeem(code))).await;
    assert!(answers.iter().all(|r| r.status() == 200));
    exchange_for_tokens(app).await;
}

async fn exchange_for_tokens(app: TestApp) {
    let code = app.code(&[]).await;
    let resp = app.redeem(&code).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() <= 300);
    assert_eq!(body["scope"], NV_SCOPE);
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for Number Verification"
    );

    let at = body["access_token"].as_str().unwrap();
    assert_eq!(at.split('.').count(), 5, "a compact JWE");
    let header = b64_json(at.split('.').next().unwrap());
    assert_eq!(header["alg"], "RSA-OAEP-256");
    assert_eq!(header["enc"], "A256GCM");
    assert_eq!(header["cty"], "JWT");
    let claims = app.open(at, AUDIENCE).await;
    assert_eq!(claims.phone_number.as_str(), LOOPBACK_NUMBER);
    assert_eq!(claims.client_id, "rp-jwt");
    assert_eq!(claims.amr, vec!["network".to_string()]);
    assert!(claims.exp - claims.iat <= 300);

    let id_token = body["id_token"].as_str().unwrap();
    let (_, payload) = app
        .jwks()
        .await
        .verify(id_token, &[SigningAlg::RS256])
        .expect("the ID token verifies with the JWKS");
    let id: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(id["iss"], app.base);
    assert_eq!(id["aud"], "rp-jwt");
    assert_eq!(id["azp"], "rp-jwt");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["amr"], serde_json::json!(["network"]));
    assert!(id["auth_time"].is_i64());
    let digest = Sha256::digest(at.as_bytes());
    assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    let sub = id["sub"].as_str().unwrap();
    assert_eq!(sub, claims.sub);
    assert!(
        !sub.contains("99012345678"),
        "the sub must not be the MSISDN"
    );
}

#[tokio::test]
async fn the_pairwise_subject_differs_between_sectors() {
    let app = spawn().await;
    let code = app.code(&[]).await;
    let a: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
    let code = app
        .code(&[
            ("client_id", "rp-other"),
            ("redirect_uri", "https://other.example/cb"),
        ])
        .await;
    let b: serde_json::Value = app
        .redeem_basic("rp-other", &code, "https://other.example/cb")
        .await
        .json()
        .await
        .unwrap();
    let sub_a = app
        .open(a["access_token"].as_str().unwrap(), AUDIENCE)
        .await
        .sub;
    let sub_b = app
        .open(b["access_token"].as_str().unwrap(), AUDIENCE)
        .await
        .sub;
    assert_ne!(sub_a, sub_b);
}

#[tokio::test]
async fn openid_only_tokens_are_for_this_server_not_the_api() {
    let app = spawn().await;
    let code = app.code(&[("scope", "openid")]).await;
    let body: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
    let claims = app
        .open(body["access_token"].as_str().unwrap(), &app.base)
        .await;
    assert_eq!(claims.scope, "openid");
}

#[tokio::test]
async fn a_code_works_once() {
    let app = spawn().await;
    let code = app.code(&[]).await;
    assert_eq!(app.redeem(&code).await.status(), 200);
    let (status, error, _) = TestApp::error_of(app.redeem(&code).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
}

#[tokio::test]
async fn a_code_expires_after_sixty_seconds() {
    let app = spawn().await;
    let code = app.code(&[]).await;
    app.clock.advance(61);
    let (status, error, _) = TestApp::error_of(app.redeem(&code).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_redirect_uri() {
    let app = spawn().await;
    let code = app.code(&[]).await;
    let resp = app.redeem_basic("rp-secret", &code, RP_REDIRECT).await;
    let (_, error, description) = TestApp::error_of(resp).await;
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("another client"));

    let code = app.code(&[]).await;
    let assertion = app.assertion(&app.assertion_claims("rp-jwt"));
    let resp = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example/other"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_grant");
}

async fn redeem_with_verifier(
    app: &TestApp,
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", RP_REDIRECT),
        ("client_id", "rp-secret"),
        ("client_secret", SECRET),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    app.token_form(&form).await
}

#[tokio::test]
async fn pkce_verifiers_must_match_and_cannot_be_added_afterwards() {
    let app = spawn().await;
    let pkce = [
        ("client_id", "rp-secret"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let code = app.code(&pkce).await;
    assert_eq!(
        redeem_with_verifier(&app, &code, Some(VERIFIER))
            .await
            .status(),
        200
    );
    let code = app.code(&pkce).await;
    let wrong = "test-verifier-0123456789-abcdefghijklmnopqrstuvwxyZ";
    assert_eq!(
        TestApp::error_of(redeem_with_verifier(&app, &code, Some(wrong)).await)
            .await
            .1,
        "invalid_grant"
    );
    let code = app.code(&pkce).await;
    assert_eq!(
        TestApp::error_of(redeem_with_verifier(&app, &code, None).await)
            .await
            .1,
        "invalid_grant"
    );
    let code = app.code(&[("client_id", "rp-secret")]).await;
    assert_eq!(
        TestApp::error_of(redeem_with_verifier(&app, &code, Some(VERIFIER)).await)
            .await
            .1,
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_public_client_redeems_with_pkce_alone() {
    let app = spawn().await;
    let code = app
        .code(&[
            ("client_id", "rp-public"),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let resp = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("client_id", "rp-public"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_give_exactly_one_token() {
    let app = std::sync::Arc::new(spawn().await);
    let code = app.code(&[]).await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let app = app.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            app.redeem(&code).await.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
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

#[tokio::test]
async fn grant_type_must_be_authorization_code() {
    let app = spawn().await;
    let base = [("client_id", "rp-secret"), ("client_secret", SECRET)];
    let (s, e, _) = TestApp::error_of(app.token_form(&base).await).await;
    assert_eq!((s, e.as_str()), (400, "invalid_request"));
    let mut f = base.to_vec();
    f.push(("grant_type", "password"));
    assert_eq!(
        TestApp::error_of(app.token_form(&f).await).await.1,
        "unsupported_grant_type"
    );
    f.push(("grant_type", "authorization_code"));
    assert_eq!(
        TestApp::error_of(app.token_form(&f).await).await.1,
        "invalid_request",
        "duplicated grant_type"
    );
}

#[tokio::test]
async fn malformed_token_requests_get_oauth_json_errors() {
    let app = spawn().await;
    let resp = app
        .http
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_request");
    let big = "a".repeat(64 * 1024);
    let resp = app
        .http
        .post(app.url("/token"))
        .form(&[("code", big.as_str())])
        .send()
        .await
        .unwrap();
    let (status, error, _) = TestApp::error_of(resp).await;
    assert_eq!((status, error.as_str()), (413, "invalid_request"));
    let resp = app.http.get(app.url("/token")).send().await.unwrap();
    assert_eq!(TestApp::error_of(resp).await.0, 405);
    let resp = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(TestApp::error_of(resp).await.0, 404);
    let codes: HashSet<String> = [app.code(&[]).await, app.code(&[]).await]
        .into_iter()
        .collect();
    assert_eq!(codes.len(), 2, "codes are random");
}

#[tokio::test]
async fn a_client_registered_for_es256_id_tokens_gets_them_and_discovery_says_so() {
    let app = Builder {
        es256_client: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let doc: serde_json::Value = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256"])
    );
    for (client, alg) in [("rp-es", "ES256"), ("rp-secret", "RS256")] {
        let code = app.code(&[("client_id", client)]).await;
        let body: serde_json::Value = app
            .redeem_basic(client, &code, RP_REDIRECT)
            .await
            .json()
            .await
            .unwrap();
        let id_token = body["id_token"].as_str().unwrap();
        assert_eq!(b64_json(id_token.split('.').next().unwrap())["alg"], alg);
        let alg: SigningAlg = alg.parse().unwrap();
        app.jwks()
            .await
            .verify(id_token, &[alg])
            .expect("verifies with the published key");
        // The access token is still signed by the current (first) key.
        let at_inner_alg = app
            .open(body["access_token"].as_str().unwrap(), AUDIENCE)
            .await;
        assert_eq!(at_inner_alg.client_id, client);
    }
}

#[tokio::test]
async fn a_client_may_use_only_the_grant_types_registered_for_it() {
    let app = spawn().await;
    // rp-backend is registered for CIBA only: no code flow at /authorize…
    let resp = app
        .authorize(&app.std_params(&[("client_id", "rp-backend"), ("state", "s1")]))
        .await;
    assert_eq!(resp.status().as_u16(), 302);
    let pairs = location_params(&resp);
    assert_eq!(param(&pairs, "error"), Some("unauthorized_client"));
    assert_eq!(param(&pairs, "state"), Some("s1"));
    // …and none at /token, even with a code another client got.
    let code = app.code(&[]).await;
    let (s, e, _) = TestApp::error_of(
        app.token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP_REDIRECT),
            ("client_id", "rp-backend"),
            ("client_secret", SECRET),
        ])
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (400, "unauthorized_client"));
}

/// RFC 6749 §5.1: every token response, of every grant, success or error, is `no-store` and
/// `no-cache`; so are the other answers that carry a credential (operator tokens,
/// `auth_req_id`).
#[tokio::test]
async fn every_token_response_of_every_grant_is_not_cached() {
    let app = spawn().await;
    let code = app.code(&[]).await;
    let hint = app.operator_token_hint("rp-backend").await;
    let assertion = app.assertion(&app.assertion_claims("rp-jwt"));
    let responses = [
        app.redeem(&code).await,
        app.token_form(&[("grant_type", "authorization_code"), ("code", "x")])
            .await,
        app.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "rp-service"),
            ("client_secret", SECRET),
            ("scope", "operator-api:read"),
        ])
        .await,
        app.token_form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ])
        .await,
        app.http
            .post(app.url("/bc-authorize"))
            .form(&[
                ("client_id", "rp-backend"),
                ("client_secret", SECRET),
                ("scope", NV_SCOPE),
                ("login_hint", &hint),
            ])
            .send()
            .await
            .unwrap(),
        app.http
            .post(app.url("/entitlement/operator-token"))
            .form(&[("client_id", "rp-jwt")])
            .send()
            .await
            .unwrap(),
        app.token_form(&[
            ("grant_type", "urn:openid:params:grant-type:ciba"),
            ("auth_req_id", "unknown"),
            ("client_id", "rp-backend"),
            ("client_secret", SECRET),
        ])
        .await,
    ];
    let mut statuses = Vec::new();
    for resp in responses {
        statuses.push(resp.status().as_u16());
        assert_eq!(
            resp.headers()["cache-control"],
            "no-store",
            "{}",
            resp.url()
        );
        assert_eq!(resp.headers()["pragma"], "no-cache", "{}", resp.url());
    }
    assert_eq!(statuses, [200, 401, 200, 400, 200, 200, 400]);
}
