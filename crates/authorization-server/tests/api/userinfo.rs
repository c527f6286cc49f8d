use crate::helpers::*;

async fn token(app: &TestApp, scope: &str) -> String {
    let code = app.code(&[("scope", scope)]).await;
    let body: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn userinfo_returns_the_pairwise_sub_for_a_bearer_token_and_can_be_asked_again() {
    let app = spawn().await;
    let at = token(&app, "openid").await;
    let expected = app.open(&at, &app.base).await.sub;
    for _ in 0..2 {
        let resp = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["sub"], expected);
    }
    let resp = app
        .http
        .post(app.url("/userinfo"))
        .form(&[("access_token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .http
        .post(app.url("/userinfo"))
        .header("authorization", format!("bEaReR {at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the scheme is case-insensitive");
}

#[tokio::test]
async fn userinfo_refuses_unknown_expired_or_doubly_sent_tokens() {
    let app = spawn().await;
    let resp = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let resp = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_token");
    let at = token(&app, NV_SCOPE).await;
    let resp = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(&at)
        .form(&[("access_token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_request");
    app.clock.advance(301);
    let resp = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(
        TestApp::error_of(resp).await,
        (
            401,
            "invalid_token".into(),
            "the access token is unknown or expired".into()
        )
    );
}
