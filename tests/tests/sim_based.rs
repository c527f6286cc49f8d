//! The SIM-based flow end to end, as a relying party runs it: an operator token from the
//! entitlement endpoint, a CIBA request with it, the poll, then the CAMARA API with the token.

use end_to_end::{start, StackOptions, LOOPBACK_NUMBER};
use serde_json::{json, Value};

const SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify \
                     number-verification:device-phone-number:read";

#[tokio::test]
async fn an_operator_token_through_ciba_verifies_the_number_at_the_api() {
    let stack = start(StackOptions::default()).await;
    let http = reqwest::Client::new();
    let issued: Value = http
        .post(format!("{}/entitlement/operator-token", stack.as_url))
        .form(&[("client_id", "demo-app")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hint = format!(
        "operatortoken:{}",
        issued["operator_token"].as_str().unwrap()
    );
    let accepted: Value = http
        .post(format!("{}/bc-authorize", stack.as_url))
        .basic_auth("demo-app", Some("demo-secret"))
        .form(&[("scope", SCOPE), ("login_hint", &hint)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auth_req_id = accepted["auth_req_id"].as_str().expect("accepted");
    tokio::time::sleep(std::time::Duration::from_secs(
        accepted["interval"].as_u64().unwrap(),
    ))
    .await;
    let poll = || {
        http.post(format!("{}/token", stack.as_url))
            .basic_auth("demo-app", Some("demo-secret"))
            .form(&[
                ("grant_type", "urn:openid:params:grant-type:ciba"),
                ("auth_req_id", auth_req_id),
            ])
            .send()
    };
    let tokens: Value = poll().await.unwrap().json().await.unwrap();
    let access_token = tokens["access_token"].as_str().expect("tokens");
    assert!(tokens["id_token"].is_string());
    let verified: Value = http
        .post(format!("{}/number-verification/v2/verify", stack.api))
        .bearer_auth(access_token)
        .json(&json!({"phoneNumber": LOOPBACK_NUMBER}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified, json!({"devicePhoneNumberVerified": true}));
    // The auth_req_id is spent.
    let again: Value = poll().await.unwrap().json().await.unwrap();
    assert_eq!(again["error"], "invalid_grant");
}

/// A JWT-bearer assertion signed with the demo client's key (`keys/demo-app.jwk`).
fn assertion(stack: &end_to_end::Stack, iss: &str, sub: &str) -> String {
    let now = end_to_end::unix_now();
    stack
        .demo_key()
        .sign_json(
            Some("JWT"),
            &json!({"iss": iss, "sub": sub, "aud": format!("{}/token", stack.issuer),
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(), "scope": SCOPE}),
        )
        .unwrap()
}

async fn jwt_bearer_token(stack: &end_to_end::Stack, assertion: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{}/token", stack.as_url))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"))
        .to_owned()
}

async fn verify(stack: &end_to_end::Stack, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/number-verification/v2/verify", stack.api))
        .bearer_auth(token)
        .json(&json!({"phoneNumber": LOOPBACK_NUMBER}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn an_operator_token_through_jwt_bearer_verifies_the_number_at_the_api() {
    let stack = start(StackOptions::default()).await;
    let issued: Value = reqwest::Client::new()
        .post(format!("{}/entitlement/operator-token", stack.as_url))
        .form(&[("client_id", "demo-app")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sub = format!(
        "operatortoken:{}",
        issued["operator_token"].as_str().unwrap()
    );
    let token = jwt_bearer_token(&stack, &assertion(&stack, "demo-app", &sub)).await;
    assert_eq!(
        verify(&stack, &token).await,
        (200, json!({"devicePhoneNumberVerified": true}))
    );
}

#[tokio::test]
async fn a_number_a_trusted_client_asserted_is_not_network_authentication_at_the_api() {
    let stack = start(StackOptions::default()).await;
    let sub = format!("tel:{LOOPBACK_NUMBER}");
    let token = jwt_bearer_token(&stack, &assertion(&stack, "demo-trusted-backend", &sub)).await;
    let (status, body) = verify(&stack, &token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["code"],
        "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"
    );
}
