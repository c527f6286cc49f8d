//! The seed-004 profile: `POST /number-verification/verify` and `POST /number-verification/share`.

use serde_json::json;

use crate::helpers::*;
use crate::scenarios::token_without_phone_number;

const VERIFY: &str = "/number-verification/verify";
const SHARE: &str = "/number-verification/share";

#[tokio::test]
async fn seed004_verify_answers_true_for_the_subscribers_number() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.scope = "openid number-verification:verify".into());
    let body = json_body(
        app.post_json(VERIFY, Some(&token), &json!({ "phoneNumber": PHONE }))
            .await,
    )
    .await;
    assert_eq!(body, json!({ "devicePhoneNumberVerified": true }));
}

#[tokio::test]
async fn seed004_verify_answers_false_for_another_number() {
    let app = TestApp::spawn().await;
    let token = app.token();
    let body = json_body(
        app.post_json(VERIFY, Some(&token), &json!({ "phoneNumber": OTHER_PHONE }))
            .await,
    )
    .await;
    assert_eq!(body, json!({ "devicePhoneNumberVerified": false }));
}

#[tokio::test]
async fn seed004_verify_requires_a_valid_phone_number_and_nothing_else() {
    let app = TestApp::spawn().await;
    let token = app.token();
    for bad in [
        json!({}),
        json!({ "hashedPhoneNumber": sha256_hex(PHONE) }),
        json!({ "phoneNumber": "12345" }),
        json!({ "phoneNumber": PHONE, "extra": true }),
        json!({ "phoneNumber": PHONE, "device": "not-an-object" }),
    ] {
        assert_error(
            app.post_json(VERIFY, Some(&token), &bad).await,
            400,
            "INVALID_ARGUMENT",
        )
        .await;
    }
    // None of these consumed the token.
    assert_eq!(
        app.post_json(VERIFY, Some(&token), &json!({ "phoneNumber": PHONE }))
            .await
            .status(),
        200
    );
}

/// A `device` naming the token's own number is accepted; another number is 403
/// `INVALID_TOKEN_CONTEXT` (the token is spent: the answer says something about the number).
#[tokio::test]
async fn seed004_a_device_that_agrees_with_the_token_is_accepted_and_one_that_does_not_is_403() {
    let app = TestApp::spawn().await;
    let token = app.token();
    let body = json!({ "phoneNumber": PHONE, "device": { "phoneNumber": PHONE, "ipv6Address": "2001:db8::1" } });
    let answer = json_body(app.post_json(VERIFY, Some(&token), &body).await).await;
    assert_eq!(answer, json!({ "devicePhoneNumberVerified": true }));
    let token = app.token();
    let body = json!({ "device": { "phoneNumber": PHONE } });
    let answer = json_body(app.post_json(SHARE, Some(&token), &body).await).await;
    assert_eq!(answer, json!({ "phoneNumber": PHONE }));
    let token = app.token();
    let body = json!({ "phoneNumber": PHONE, "device": { "phoneNumber": "+99012345679" } });
    assert_error(
        app.post_json(VERIFY, Some(&token), &body).await,
        403,
        "INVALID_TOKEN_CONTEXT",
    )
    .await;
    for bad in [
        json!({ "phoneNumber": PHONE, "device": { "phoneNumber": "0612" } }),
        json!({ "phoneNumber": PHONE, "device": { "ipv4Address": "203.0.113.7" } }),
        json!({ "phoneNumber": PHONE, "device": { "imei": "1" } }),
    ] {
        let token = app.token();
        assert_error(
            app.post_json(VERIFY, Some(&token), &bad).await,
            400,
            "INVALID_ARGUMENT",
        )
        .await;
    }
}

#[tokio::test]
async fn seed004_a_device_with_only_identifiers_the_token_does_not_carry_is_unnecessary_identifier()
{
    let app = TestApp::spawn().await;
    let token = app.token();
    let body =
        json!({ "phoneNumber": PHONE, "device": { "networkAccessIdentifier": "a@b.example" } });
    assert_error(
        app.post_json(VERIFY, Some(&token), &body).await,
        422,
        "UNNECESSARY_IDENTIFIER",
    )
    .await;
    let body = json!({ "device": { "ipv4Address": { "publicAddress": "203.0.113.7", "publicPort": 5000 } } });
    assert_error(
        app.post_json(SHARE, Some(&token), &body).await,
        422,
        "UNNECESSARY_IDENTIFIER",
    )
    .await;
}

#[tokio::test]
async fn seed004_share_returns_the_phone_number_with_or_without_a_body() {
    let app = TestApp::spawn().await;
    let scope = "openid dpv:FraudPreventionAndDetection number-verification:read";
    let token = app.token_with(|c| c.scope = scope.into());
    let response = app
        .client
        .post(app.url(SHARE))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(response).await, json!({ "phoneNumber": PHONE }));
    let token = app.token_with(|c| c.scope = scope.into());
    let body = json_body(app.post_json(SHARE, Some(&token), &json!({})).await).await;
    assert_eq!(body, json!({ "phoneNumber": PHONE }));
}

#[tokio::test]
async fn seed004_share_needs_the_read_scope() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| {
        c.scope =
            "openid number-verification:verify number-verification:device-phone-number:read".into()
    });
    assert_error(
        app.post_json(SHARE, Some(&token), &json!({})).await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
}

#[tokio::test]
async fn seed004_without_a_token_is_401_and_with_a_non_network_token_403() {
    let app = TestApp::spawn().await;
    assert_unauthenticated(
        app.post_json(VERIFY, None, &json!({ "phoneNumber": PHONE }))
            .await,
    )
    .await;
    assert_unauthenticated(app.post_json(SHARE, None, &json!({})).await).await;
    let token = app.token_with(|c| c.amr = vec!["pwd".into()]);
    assert_error(
        app.post_json(SHARE, Some(&token), &json!({})).await,
        403,
        "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
    )
    .await;
}

#[tokio::test]
async fn seed004_token_without_phone_number_is_unidentifiable_device() {
    let app = TestApp::spawn().await;
    let token = token_without_phone_number(&app);
    assert_error(
        app.post_json(SHARE, Some(&token), &json!({})).await,
        422,
        "UNIDENTIFIABLE_DEVICE",
    )
    .await;
}

#[tokio::test]
async fn seed004_tokens_are_single_use_too() {
    let app = TestApp::spawn().await;
    let token = app.token();
    assert_eq!(
        app.post_json(SHARE, Some(&token), &json!({}))
            .await
            .status(),
        200
    );
    assert_unauthenticated(
        app.post_json(VERIFY, Some(&token), &json!({ "phoneNumber": PHONE }))
            .await,
    )
    .await;
}
