//! Every failure path answers a CAMARA `ErrorInfo` and carries the `x-correlator`.

use serde_json::json;

use crate::helpers::*;

const VERIFY: &str = "/number-verification/v2/verify";
const SHARE: &str = "/number-verification/v2/device-phone-number";

#[tokio::test]
async fn the_x_correlator_is_echoed_on_success_and_on_errors() {
    let app = TestApp::spawn().await;
    let correlator = "b4333c46-49c0-4f62-80d7-f0ef930f1c46:a;b.c/d<e>{f}_g";
    let token = app.token();
    for (method, path, token) in [
        (reqwest::Method::GET, SHARE, Some(token.as_str())),
        (reqwest::Method::GET, SHARE, None),
        (reqwest::Method::GET, "/no/such/path", None),
        (reqwest::Method::GET, VERIFY, None),
        (reqwest::Method::GET, "/healthz", None),
    ] {
        let mut request = app
            .client
            .request(method, app.url(path))
            .header("x-correlator", correlator);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["x-correlator"], correlator, "{path}");
    }
}

#[tokio::test]
async fn an_x_correlator_is_generated_when_absent() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/no/such/path"))
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-correlator"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    let again = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_ne!(
        again.headers()["x-correlator"],
        generated.as_str(),
        "one per request"
    );
}

#[tokio::test]
async fn an_invalid_x_correlator_is_400_and_does_not_spend_the_token() {
    let app = TestApp::spawn().await;
    let token = app.token();
    for bad in ["has space", "quote\"", &"a".repeat(257)] {
        let response = app
            .client
            .get(app.url(SHARE))
            .bearer_auth(&token)
            .header("x-correlator", bad)
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-correlator"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(echoed, bad, "the bad value is not reflected");
        let body = assert_error(response, 400, "INVALID_ARGUMENT").await;
        assert!(body["message"].as_str().unwrap().contains("x-correlator"));
    }
    assert_eq!(app.get(SHARE, Some(&token)).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_path_is_a_camara_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/number-verification/v3/verify",
        "/number-verification/v2/verify/extra",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_error(response, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_a_camara_405_with_allow() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url(VERIFY)).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_error(response, 405, "METHOD_NOT_SUPPORTED").await;
    let response = app
        .client
        .post(app.url(SHARE))
        .bearer_auth(app.token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_error(response, 405, "METHOD_NOT_SUPPORTED").await;
    let response = app
        .client
        .delete(app.url("/number-verification/share"))
        .send()
        .await
        .unwrap();
    assert_error(response, 405, "METHOD_NOT_SUPPORTED").await;
}

#[tokio::test]
async fn malformed_bodies_are_400_invalid_argument() {
    let app = TestApp::spawn().await;
    let token = app.token();
    let cases: Vec<(Option<&str>, Vec<u8>)> = vec![
        (
            Some("text/plain"),
            br#"{"phoneNumber":"+99012345678"}"#.to_vec(),
        ),
        (None, br#"{"phoneNumber":"+99012345678"}"#.to_vec()),
        (Some("application/json"), b"{\"phoneNumber\":".to_vec()),
        (Some("application/json"), b"not json".to_vec()),
        (Some("application/json"), b"[\"+99012345678\"]".to_vec()),
        (Some("application/json"), b"\"+99012345678\"".to_vec()),
        (Some("application/json"), vec![0xff, 0xfe, 0x00]),
        (Some("application/json"), b"   ".to_vec()),
        (
            Some("application/json"),
            format!("{{\"phoneNumber\":\"{}\"}}", "9".repeat(20_000)).into_bytes(),
        ),
    ];
    for (content_type, body) in cases {
        let mut request = app
            .client
            .post(app.url(VERIFY))
            .bearer_auth(&token)
            .body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        let info = assert_error(response, 400, "INVALID_ARGUMENT").await;
        assert!(
            !info["message"].as_str().unwrap().contains("99012345678"),
            "{info}"
        );
    }
    // The token survived all of that.
    let response = app
        .post_json(VERIFY, Some(&token), &json!({ "phoneNumber": PHONE }))
        .await;
    assert_eq!(response.status(), 200);
}

/// A duplicated member is a parser differential (a gateway keeping the first `phoneNumber`,
/// this server the last): refused at any depth, on every JSON operation.
#[tokio::test]
async fn a_body_with_a_duplicated_member_is_400_invalid_argument() {
    let app = TestApp::spawn().await;
    let token = app.token();
    for (path, body) in [
        (
            VERIFY,
            format!(r#"{{"phoneNumber":"+99000000001","phoneNumber":"{PHONE}"}}"#),
        ),
        (
            VERIFY,
            format!(r#"{{"phoneNumber":"{PHONE}","x":{{"a":1,"a":2}}}}"#),
        ),
        (
            "/number-verification/verify",
            format!(r#"{{"phoneNumber":"{PHONE}","phoneNumber":"{PHONE}"}}"#),
        ),
    ] {
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let info = assert_error(response, 400, "INVALID_ARGUMENT").await;
        assert!(
            info["message"].as_str().unwrap().contains("twice"),
            "{body}: {info}"
        );
    }
    // Refused before the token was spent.
    let response = app
        .post_json(VERIFY, Some(&token), &json!({ "phoneNumber": PHONE }))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_json_content_type_with_parameters_is_fine() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url(VERIFY))
        .bearer_auth(app.token())
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({ "phoneNumber": PHONE }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_get_with_a_json_content_type_and_no_body_is_fine() {
    let app = TestApp::spawn().await;
    // TestApp::get sends `Content-Type: application/json` and no body, as the feature files do.
    let body = json_body(app.get(SHARE, Some(&app.token())).await).await;
    assert_eq!(body, json!({ "devicePhoneNumber": PHONE }));
}

#[tokio::test]
async fn authentication_is_checked_before_the_body() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url(VERIFY))
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_unauthenticated(response).await;
}
