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

async fn userinfo_status(app: &TestApp, at: &str) -> (u16, String, String) {
    let resp = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    if resp.status() == 200 {
        return (200, String::new(), String::new());
    }
    TestApp::error_of(resp).await
}

/// RFC 9068 §4: /userinfo is a resource server and answers only for tokens naming it. A Number
/// Verification token with `openid` names both servers; one naming the resource server alone is
/// refused.
#[tokio::test]
async fn userinfo_answers_only_for_tokens_whose_audience_names_this_server() {
    let app = spawn().await;
    let at = token(&app, NV_SCOPE).await;
    let claims = app.open(&at, AUDIENCE).await;
    assert!(claims.aud.contains(AUDIENCE) && claims.aud.contains(&app.base));
    assert_eq!(userinfo_status(&app, &at).await.0, 200);

    // The same record with the resource server as the only audience.
    let key = format!(
        "at:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(at.as_bytes()))
    );
    let mut record: serde_json::Value =
        serde_json::from_slice(&app.store.get(&key).await.unwrap().unwrap()).unwrap();
    record["aud"] = serde_json::json!(AUDIENCE);
    app.store
        .put(
            &key,
            record.to_string().as_bytes(),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let (status, error, description) = userinfo_status(&app, &at).await;
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    assert!(description.contains("aud"), "{description}");
}

/// RFC 6749 §4.1.2: redeeming a code twice revokes what the first redemption issued.
#[tokio::test]
async fn a_replayed_code_revokes_the_tokens_it_issued() {
    let app = spawn().await;
    let code = app.code(&[]).await;
    let body: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap().to_owned();
    let jti = app.open(&at, AUDIENCE).await.jti;
    assert_eq!(userinfo_status(&app, &at).await.0, 200);
    assert!(app
        .store
        .get(&nv_token::spent_token_key(&jti))
        .await
        .unwrap()
        .is_none());

    let (status, error, _) = TestApp::error_of(app.redeem(&code).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(
        userinfo_status(&app, &at).await.0,
        401,
        "dropped from /userinfo"
    );
    assert!(
        app.store
            .get(&nv_token::spent_token_key(&jti))
            .await
            .unwrap()
            .is_some(),
        "marked spent for the resource server"
    );
}

/// What a store dump of a pending code shows: neither the code nor the subscriber's number.
#[tokio::test]
async fn a_pending_code_is_stored_without_the_code_or_the_phone_number_in_clear() {
    let app = spawn().await;
    let code = app.code(&[]).await;
    let dump = app.store.scan_prefix("").await.unwrap();
    assert!(!dump.is_empty());
    for (key, value) in &dump {
        let value = String::from_utf8_lossy(value);
        for needle in [LOOPBACK_NUMBER.trim_start_matches('+'), code.as_str()] {
            assert!(
                !key.contains(needle) && !value.contains(needle),
                "{key}: {value}"
            );
        }
    }
    assert_eq!(
        app.redeem(&code).await.status(),
        200,
        "and it still redeems"
    );
}
