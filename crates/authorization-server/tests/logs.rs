//! Logs never carry a phone number, a code, a token, a secret or an assertion — whatever the
//! request contained. One test binary of its own: it installs the global log subscriber.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::*;
use server_kit::testing::LogCapture;

#[tokio::test]
async fn logs_contain_no_phone_number_code_token_secret_or_assertion() {
    let capture = LogCapture::install();

    let app = Builder {
        playground: true,
        admin_token: Some("admin-token-for-the-log-test-0123456789"),
        ..Default::default()
    }
    .spawn()
    .await;
    // A playground hint, a network identity, a secret client, an assertion client, errors.
    let code_pg = app
        .code(&[
            ("login_hint", "tel:+99000000077"),
            ("client_id", "rp-secret"),
        ])
        .await;
    let resp = app
        .http
        .post(app.url("/token"))
        .basic_auth("rp-secret", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code_pg),
            ("redirect_uri", RP_REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let pg: serde_json::Value = resp.json().await.unwrap();
    let code = app.code(&[]).await;
    let assertion = app.assertion(&app.assertion_claims("rp-jwt"));
    let resp = app.redeem_with_assertion(&code, &assertion).await;
    let body: serde_json::Value = resp.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    // Refusals log too: replayed code and assertion, wrong secret.
    app.token_form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", RP_REDIRECT),
        ("client_id", "rp-secret"),
        ("client_secret", "wrong-secret-xyz"),
    ])
    .await;
    app.authorize(&app.std_params(&[("login_hint", "tel:+99000000088"), ("prompt", "consent")]))
        .await;

    // Client text in error descriptions cannot forge log lines (CWE-117): a duplicated
    // parameter whose name carries CR/LF, at /token and at /authorize.
    let forged = "x%0D%0AFORGED INFO tokens issued";
    app.http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&{forged}=1&{forged}=2"
        ))
        .send()
        .await
        .unwrap();
    app.http
        .get(format!(
            "{}&{forged}=1&{forged}=2",
            app.url("/authorize?client_id=rp-secret&redirect_uri=https%3A%2F%2Frp.example%2Fcb")
        ))
        .send()
        .await
        .unwrap();

    // The admin API: a session added, and a mistyped number refused.
    for body in [
        r#"{"network":"203.0.113.9","msisdn":"+99000000066"}"#,
        r#"{"network":"203.0.113.9","msisdn":99000000055}"#,
    ] {
        app.http
            .post(app.url("/admin/sessions"))
            .bearer_auth("admin-token-for-the-log-test-0123456789")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
    }

    let logs = capture.text();
    assert!(
        logs.contains("session added"),
        "the admin API was logged:\n{logs}"
    );
    assert!(
        logs.contains("FORGED INFO tokens issued"),
        "the refusals were logged:\n{logs}"
    );
    for line in logs.lines() {
        assert!(!line.starts_with("FORGED"), "a forged log line: {line}");
    }
    assert!(
        logs.contains("code issued") && logs.contains("tokens issued"),
        "the flow was logged:\n{logs}"
    );
    for secret in [
        "99012345678",
        "99000000077",
        "99000000088",
        "99000000066",
        "99000000055",
        "admin-token-for-the-log-test",
        code_pg.as_str(),
        code.as_str(),
        &access_token[..60],
        pg["access_token"].as_str().unwrap(),
        body["id_token"].as_str().unwrap(),
        &assertion[assertion.len() - 40..],
        SECRET,
        "wrong-secret-xyz",
    ] {
        assert!(!logs.contains(secret), "the logs contain `{secret}`");
    }
}
