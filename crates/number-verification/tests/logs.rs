//! Logs never carry a phone number, a hash of one or a token — whatever the request contained,
//! successes and refusals alike. One test binary of its own: it installs the global subscriber.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::*;
use serde_json::json;
use server_kit::testing::LogCapture;

#[tokio::test]
async fn logs_contain_no_phone_number_hash_or_token() {
    let capture = LogCapture::install();

    let app = TestApp::spawn().await;
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(PHONE.as_bytes()))
    };
    let mut tokens = Vec::new();
    let mut send = |path: &'static str, body: Option<String>| {
        let token = app.token();
        tokens.push(token.clone());
        let app = &app;
        async move {
            match body {
                Some(body) => app
                    .client
                    .post(app.url(path))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
                None => app.get(path, Some(&token)).await,
            }
            .status()
            .as_u16()
        }
    };
    // Answers with and about the number, and refusals that carry one.
    let verify = "/number-verification/v2/verify";
    assert_eq!(
        send(verify, Some(json!({ "phoneNumber": PHONE }).to_string())).await,
        200
    );
    assert_eq!(
        send(
            verify,
            Some(json!({ "phoneNumber": OTHER_PHONE }).to_string())
        )
        .await,
        200
    );
    assert_eq!(
        send(
            verify,
            Some(json!({ "hashedPhoneNumber": hash }).to_string())
        )
        .await,
        200
    );
    assert_eq!(
        send("/number-verification/v2/device-phone-number", None).await,
        200
    );
    assert_eq!(
        send("/number-verification/v1/device-phone-number", None).await,
        200
    );
    for bad in [
        json!({ "phoneNumber": 99012345678u64 }).to_string(),
        json!({ "phoneNumber": PHONE, "extra": OTHER_PHONE }).to_string(),
        format!(r#"{{"phoneNumber":"{PHONE}","phoneNumber":"{OTHER_PHONE}"}}"#),
        format!(r#"{{"phoneNumber":"{PHONE}""#),
    ] {
        assert_eq!(send(verify, Some(bad)).await, 400);
    }
    // A spent token, refused.
    let spent = tokens[0].clone();
    let resp = app
        .post_json(verify, Some(&spent), &json!({ "phoneNumber": PHONE }))
        .await;
    assert_eq!(resp.status(), 401);

    let logs = capture.text();
    assert!(
        logs.contains("request completed") && logs.contains("request refused"),
        "{logs}"
    );
    let mut secrets = vec![
        "99012345678".to_owned(),
        "99012345679".to_owned(),
        hash.clone(),
    ];
    secrets.extend(tokens.iter().map(|t| t[t.len() - 40..].to_owned()));
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the logs contain `{secret}`"
        );
    }
}
