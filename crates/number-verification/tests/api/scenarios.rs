//! The CAMARA 2.1.0 test definitions (`number-verification-v2.1.0-phoneNumberVerify.feature`,
//! `…-phoneNumberShare.feature`) as functions over an API version, so the same scenarios run
//! against `/v2`, `/v1` and `/v0`. Each test is named after its scenario tag.

use serde_json::{json, Value};

use crate::helpers::*;

pub struct Api {
    pub verify: &'static str,
    pub share: &'static str,
    /// A scope that grants verify but not share, and the reverse.
    pub verify_scope: &'static str,
    pub share_scope: &'static str,
    /// Status and code for a genuine token that names no phone number.
    pub token_context: (u16, &'static str),
}

pub const V2: Api = Api {
    verify: "/number-verification/v2/verify",
    share: "/number-verification/v2/device-phone-number",
    verify_scope: "number-verification:verify",
    share_scope: "number-verification:device-phone-number:read",
    token_context: (403, "PERMISSION_DENIED"),
};

pub const V1: Api = Api {
    verify: "/number-verification/v1/verify",
    share: "/number-verification/v1/device-phone-number",
    verify_scope: "number-verification:verify",
    share_scope: "number-verification:device-phone-number:read",
    token_context: (403, "INVALID_TOKEN_CONTEXT"),
};

pub const V0: Api = Api {
    verify: "/number-verification/v0/verify",
    share: "/number-verification/v0/device-phone-number",
    verify_scope: "number-verification-verify-read",
    share_scope: "number-verification-share-read",
    token_context: (403, "NUMBER_VERIFICATION.INVALID_TOKEN_CONTEXT"),
};

fn only_scope(scope: &str) -> String {
    format!("openid dpv:FraudPreventionAndDetection {scope}")
}

// --- phoneNumberVerify ---------------------------------------------------------------------

pub async fn verify_generic_success(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.scope = only_scope(api.verify_scope));
    let response = app
        .post_json(api.verify, Some(&token), &json!({ "phoneNumber": PHONE }))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-correlator"], "test-correlator-1");
    let body: Value = response.json().await.unwrap();
    // NumberVerificationMatchResponse: exactly the required boolean.
    assert!(body["devicePhoneNumberVerified"].is_boolean(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1);
}

async fn verify_answer(api: &Api, body: Value) -> bool {
    let app = TestApp::spawn().await;
    let token = app.token();
    let body = json_body(app.post_json(api.verify, Some(&token), &body).await).await;
    body["devicePhoneNumberVerified"]
        .as_bool()
        .expect("a boolean")
}

pub async fn verify_phone_number_true(api: &Api) {
    assert!(verify_answer(api, json!({ "phoneNumber": PHONE })).await);
}

pub async fn verify_phone_number_false(api: &Api) {
    assert!(!verify_answer(api, json!({ "phoneNumber": OTHER_PHONE })).await);
}

pub async fn verify_hashed_phone_number_true(api: &Api) {
    // Hex is compared case-insensitively.
    let hashed = sha256_hex(PHONE).to_uppercase();
    assert!(verify_answer(api, json!({ "hashedPhoneNumber": hashed })).await);
}

pub async fn verify_hashed_phone_number_false(api: &Api) {
    let hashed = sha256_hex(OTHER_PHONE);
    assert!(!verify_answer(api, json!({ "hashedPhoneNumber": hashed })).await);
}

/// A 400 must not burn the token: the same token then succeeds.
async fn verify_invalid_body(
    api: &Api,
    request: reqwest::RequestBuilder,
    app: &TestApp,
    token: &str,
) {
    let response = request.send().await.unwrap();
    assert_eq!(response.headers()["x-correlator"], "test-correlator-1");
    assert_error(response, 400, "INVALID_ARGUMENT").await;
    let again = app
        .post_json(api.verify, Some(token), &json!({ "phoneNumber": PHONE }))
        .await;
    assert_eq!(again.status(), 200, "the 400 did not consume the token");
}

fn verify_request(app: &TestApp, api: &Api, token: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(api.verify))
        .bearer_auth(token)
        .header("x-correlator", "test-correlator-1")
        .header("content-type", "application/json")
}

pub async fn verify_no_request_body(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token();
    verify_invalid_body(api, verify_request(&app, api, &token), &app, &token).await;
}

pub async fn verify_empty_request_body(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token();
    let request = verify_request(&app, api, &token).body("{}");
    verify_invalid_body(api, request, &app, &token).await;
}

pub async fn verify_non_existing_property(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token();
    let request = verify_request(&app, api, &token).body(r#"{"additional_property":"foo_value"}"#);
    verify_invalid_body(api, request, &app, &token).await;
}

pub async fn verify_both_phone_number_and_hashed(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token();
    let body = json!({ "phoneNumber": PHONE, "hashedPhoneNumber": sha256_hex(PHONE) });
    let request = verify_request(&app, api, &token).body(body.to_string());
    verify_invalid_body(api, request, &app, &token).await;
}

pub async fn verify_no_authorization_header(api: &Api) {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(api.verify, None, &json!({ "phoneNumber": PHONE }))
        .await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="number-verification""#
    );
    assert_unauthenticated(response).await;
}

pub async fn verify_expired_access_token(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token();
    // exp = now + 300; the leeway is 30 s.
    app.clock.advance(300 + 31);
    let response = app
        .post_json(api.verify, Some(&token), &json!({ "phoneNumber": PHONE }))
        .await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert_unauthenticated(response).await;
}

pub async fn verify_invalid_access_token(api: &Api) {
    let app = TestApp::spawn().await;
    for token in ["invalid-token", "a.b.c.d.e", "eyJhbGciOiJub25lIn0.e30."] {
        let response = app
            .post_json(api.verify, Some(token), &json!({ "phoneNumber": PHONE }))
            .await;
        assert_unauthenticated(response).await;
    }
}

pub async fn verify_invalid_token_permissions(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.scope = only_scope(api.share_scope));
    let response = app
        .post_json(api.verify, Some(&token), &json!({ "phoneNumber": PHONE }))
        .await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_error(response, 403, "PERMISSION_DENIED").await;
}

pub async fn verify_not_authenticated_by_network(api: &Api) {
    let app = TestApp::spawn().await;
    for amr in [
        vec!["pwd".to_owned()],
        vec!["otp".to_owned(), "sms".to_owned()],
        vec![],
    ] {
        let token = app.token_with(|c| c.amr = amr.iter().map(|a| a.as_str().into()).collect());
        let response = app
            .post_json(api.verify, Some(&token), &json!({ "phoneNumber": PHONE }))
            .await;
        assert_error(
            response,
            403,
            "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
        )
        .await;
    }
}

/// A valid token without a phone number, as the feature's "valid access token which does not
/// identify a single phone number".
pub fn token_without_phone_number(app: &TestApp) -> String {
    let mut claims = serde_json::to_value(app.claims()).unwrap();
    claims.as_object_mut().unwrap().remove("phone_number");
    app.mint_raw(&claims)
}

pub async fn verify_phone_number_not_schema_compliant(api: &Api) {
    let app = TestApp::spawn().await;
    let token = token_without_phone_number(&app);
    for bad in [
        json!({ "phoneNumber": "+0123456789" }),
        json!({ "phoneNumber": "+12 3456789" }),
        json!({ "phoneNumber": "+1234567890123456" }),
        json!({ "phoneNumber": 123456789 }),
    ] {
        let response = app.post_json(api.verify, Some(&token), &bad).await;
        let body = assert_error(response, 400, "INVALID_ARGUMENT").await;
        assert!(
            body["message"].as_str().unwrap().contains("phoneNumber"),
            "{body}"
        );
    }
    // With a valid body, the same token gets the version's token-context error.
    let response = app
        .post_json(api.verify, Some(&token), &json!({ "phoneNumber": PHONE }))
        .await;
    assert_error(response, api.token_context.0, api.token_context.1).await;
}

// --- phoneNumberShare ----------------------------------------------------------------------

pub async fn share_generic_success(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.scope = only_scope(api.share_scope));
    let response = app.get(api.share, Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-correlator"], "test-correlator-1");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let number = body["devicePhoneNumber"].as_str().expect("a string");
    assert!(number.parse::<nv_token::PhoneNumber>().is_ok(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1);
}

pub async fn share_success(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token();
    let body = json_body(app.get(api.share, Some(&token)).await).await;
    assert_eq!(body, json!({ "devicePhoneNumber": PHONE }));
}

pub async fn share_no_authorization_header(api: &Api) {
    let app = TestApp::spawn().await;
    assert_unauthenticated(app.get(api.share, None).await).await;
}

pub async fn share_expired_access_token(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token();
    app.clock.advance(300 + 31);
    assert_unauthenticated(app.get(api.share, Some(&token)).await).await;
}

pub async fn share_invalid_access_token(api: &Api) {
    let app = TestApp::spawn().await;
    assert_unauthenticated(app.get(api.share, Some("invalid-token")).await).await;
}

pub async fn share_invalid_token_permissions(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.scope = only_scope(api.verify_scope));
    assert_error(
        app.get(api.share, Some(&token)).await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
}

pub async fn share_not_authenticated_by_network(api: &Api) {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.amr = vec!["pwd".into()]);
    assert_error(
        app.get(api.share, Some(&token)).await,
        403,
        "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
    )
    .await;
}

pub async fn share_token_without_phone_number(api: &Api) {
    let app = TestApp::spawn().await;
    let token = token_without_phone_number(&app);
    let (status, code) = api.token_context;
    assert_error(app.get(api.share, Some(&token)).await, status, code).await;
}

/// Every scenario of both feature files as a named test, for one version.
macro_rules! camara_scenarios {
    ($api:expr) => {
        use crate::scenarios::*;

        #[tokio::test]
        async fn phone_number_verify_01_generic_success_scenario() {
            verify_generic_success(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_02_validate_phone_number_success_true() {
            verify_phone_number_true(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_03_validate_phone_number_success_false() {
            verify_phone_number_false(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_04_validate_hashed_phone_number_success_true() {
            verify_hashed_phone_number_true(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_05_validate_hashed_phone_number_success_false() {
            verify_hashed_phone_number_false(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_400_1_no_request_body() {
            verify_no_request_body(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_400_2_empty_request_body() {
            verify_empty_request_body(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_400_3_invalid_request_non_existing_property() {
            verify_non_existing_property(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_400_4_both_phone_number_and_hashed_in_request() {
            verify_both_phone_number_and_hashed(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_401_1_no_authorization_header() {
            verify_no_authorization_header(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_401_2_expired_access_token() {
            verify_expired_access_token(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_401_3_invalid_access_token() {
            verify_invalid_access_token(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_403_1_invalid_token_permissions() {
            verify_invalid_token_permissions(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_403_2_not_authenticated_using_network_or_sim_based_authentication(
        ) {
            verify_not_authenticated_by_network(&$api).await
        }
        #[tokio::test]
        async fn phone_number_verify_c02_01_phone_number_not_schema_compliant() {
            verify_phone_number_not_schema_compliant(&$api).await
        }

        #[tokio::test]
        async fn phone_number_share_01_generic_success_scenario() {
            share_generic_success(&$api).await
        }
        #[tokio::test]
        async fn phone_number_share_02_success_scenario() {
            share_success(&$api).await
        }
        // The share feature file reuses the tags `phone_number_verify_401.x` for its 401
        // scenarios; they are named `phone_number_share_401_x` here to keep names unique.
        #[tokio::test]
        async fn phone_number_share_401_1_no_authorization_header() {
            share_no_authorization_header(&$api).await
        }
        #[tokio::test]
        async fn phone_number_share_401_2_expired_access_token() {
            share_expired_access_token(&$api).await
        }
        #[tokio::test]
        async fn phone_number_share_401_3_invalid_access_token() {
            share_invalid_access_token(&$api).await
        }
        #[tokio::test]
        async fn phone_number_share_403_1_invalid_token_permissions() {
            share_invalid_token_permissions(&$api).await
        }
        #[tokio::test]
        async fn phone_number_share_403_2_not_authenticated_using_network_or_sim_based_authentication(
        ) {
            share_not_authenticated_by_network(&$api).await
        }
        #[tokio::test]
        async fn phone_number_share_token_without_phone_number_gets_the_token_context_error() {
            share_token_without_phone_number(&$api).await
        }
    };
}

pub(crate) use camara_scenarios;
