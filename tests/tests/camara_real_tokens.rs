//! The CAMARA success scenarios (and the permission ones) with tokens minted by the real
//! authorization server, for every version and profile the resource server serves. The full
//! scenario list, including every error case, runs in crates/number-verification/tests.

use end_to_end::{start, Stack, StackOptions, LOOPBACK_NUMBER};
use serde_json::{json, Value};

const PURPOSE: &str = "openid dpv:FraudPreventionAndDetection";
const OTHER_NUMBER: &str = "+99099999999";

fn sha256_hex(s: &str) -> String {
    nv_token::PhoneNumber::try_from(s.to_owned())
        .unwrap()
        .sha256_hex()
}

async fn call(
    stack: &Stack,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", stack.api);
    let mut req = if method == "GET" {
        http.get(&url)
    } else {
        http.post(&url)
    };
    req = req
        .bearer_auth(token)
        .header("x-correlator", "e2e-correlator-1");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let correlator = resp
        .headers()
        .get("x-correlator")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, resp.json().await.unwrap_or(Value::Null), correlator)
}

async fn verify(stack: &Stack, path: &str, scope: &str, body: Value) -> Value {
    let token = stack.token(&format!("{PURPOSE} {scope}"), None).await;
    let (status, body, correlator) = call(stack, "POST", path, &token, Some(body)).await;
    assert_eq!(status, 200, "{path}: {body}");
    assert_eq!(
        correlator.as_deref(),
        Some("e2e-correlator-1"),
        "@phone_number_verify_01_generic_success_scenario"
    );
    body
}

const VERIFY_PATHS: [(&str, &str); 4] = [
    (
        "/number-verification/v2/verify",
        "number-verification:verify",
    ),
    (
        "/number-verification/v1/verify",
        "number-verification:verify",
    ),
    (
        "/number-verification/v0/verify",
        "number-verification-verify-read",
    ),
    ("/number-verification/verify", "number-verification:verify"),
];

#[tokio::test]
async fn phone_number_verify_02_validate_phone_number_success_true_with_real_tokens() {
    let stack = start(StackOptions::default()).await;
    for (path, scope) in VERIFY_PATHS {
        let body = verify(&stack, path, scope, json!({"phoneNumber": LOOPBACK_NUMBER})).await;
        assert_eq!(body, json!({"devicePhoneNumberVerified": true}), "{path}");
    }
}

#[tokio::test]
async fn phone_number_verify_03_validate_phone_number_success_false_with_real_tokens() {
    let stack = start(StackOptions::default()).await;
    for (path, scope) in VERIFY_PATHS {
        let body = verify(&stack, path, scope, json!({"phoneNumber": OTHER_NUMBER})).await;
        assert_eq!(body, json!({"devicePhoneNumberVerified": false}), "{path}");
    }
}

#[tokio::test]
async fn phone_number_verify_04_and_05_hashed_phone_number_true_and_false_with_real_tokens() {
    let stack = start(StackOptions::default()).await;
    // The seed-004 profile takes plain numbers only.
    for (path, scope) in &VERIFY_PATHS[..3] {
        let body = verify(
            &stack,
            path,
            scope,
            json!({"hashedPhoneNumber": sha256_hex(LOOPBACK_NUMBER).to_uppercase()}),
        )
        .await;
        assert_eq!(body, json!({"devicePhoneNumberVerified": true}), "{path}");
        let body = verify(
            &stack,
            path,
            scope,
            json!({"hashedPhoneNumber": sha256_hex(OTHER_NUMBER)}),
        )
        .await;
        assert_eq!(body, json!({"devicePhoneNumberVerified": false}), "{path}");
    }
}

#[tokio::test]
async fn phone_number_share_02_success_scenario_with_real_tokens() {
    let stack = start(StackOptions::default()).await;
    for (path, scope, field) in [
        (
            "/number-verification/v2/device-phone-number",
            "number-verification:device-phone-number:read",
            "devicePhoneNumber",
        ),
        (
            "/number-verification/v1/device-phone-number",
            "number-verification:device-phone-number:read",
            "devicePhoneNumber",
        ),
        (
            "/number-verification/v0/device-phone-number",
            "number-verification-share-read",
            "devicePhoneNumber",
        ),
        (
            "/number-verification/share",
            "number-verification:read",
            "phoneNumber",
        ),
    ] {
        let token = stack.token(&format!("{PURPOSE} {scope}"), None).await;
        let method = if path.ends_with("share") {
            "POST"
        } else {
            "GET"
        };
        let (status, body, _) = call(&stack, method, path, &token, None).await;
        assert_eq!(
            (status, &body[field]),
            (200, &json!(LOOPBACK_NUMBER)),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn phone_number_verify_403_1_a_real_token_without_the_scope_is_permission_denied() {
    let stack = start(StackOptions::default()).await;
    let token = stack
        .token(&format!("{PURPOSE} number-verification:verify"), None)
        .await;
    let (status, body, _) = call(
        &stack,
        "GET",
        "/number-verification/v2/device-phone-number",
        &token,
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("PERMISSION_DENIED")),
        "{body}"
    );
}

#[tokio::test]
async fn phone_number_verify_403_2_a_playground_token_is_refused_where_playground_identities_are_not_accepted(
) {
    let stack = start(StackOptions {
        nv_accept_playground: Some(false),
        ..Default::default()
    })
    .await;
    let token = stack
        .token(
            &format!("{PURPOSE} number-verification:verify"),
            Some("tel:+99000000077"),
        )
        .await;
    let (status, body, _) = call(
        &stack,
        "POST",
        "/number-verification/v2/verify",
        &token,
        Some(json!({"phoneNumber": "+99000000077"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            403,
            Some("NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK")
        ),
        "{body}"
    );
    // The same server accepts a token from a network authentication.
    let token = stack
        .token(&format!("{PURPOSE} number-verification:verify"), None)
        .await;
    let (status, _, _) = call(
        &stack,
        "POST",
        "/number-verification/v2/verify",
        &token,
        Some(json!({"phoneNumber": LOOPBACK_NUMBER})),
    )
    .await;
    assert_eq!(status, 200);
}
