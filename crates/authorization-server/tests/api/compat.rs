//! Compatibility profiles (docs/compatibility.md): each relaxation works for a client registered
//! with it, and the same request from `rp-secret` (the same registration, strict default) is
//! refused as before. Forms accepted for every client (the 0.3.x combined scope, the
//! `phone_number:` hint) are here too.

use serde_json::Value;

use crate::helpers::*;

/// The standard authorization request of `client_id` with `extra` params.
fn params_for<'a>(
    app: &TestApp,
    client_id: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = app.std_params(extra);
    params.retain(|(k, _)| *k != "client_id");
    params.push(("client_id", client_id));
    params
}

/// A code for `client_id` (a secret client registered for `RP_REDIRECT`) with `extra` params.
async fn code_for(app: &TestApp, client_id: &str, extra: &[(&str, &str)]) -> String {
    let resp = app.authorize(&params_for(app, client_id, extra)).await;
    assert_eq!(resp.status(), 302);
    let pairs = location_params(&resp);
    param(&pairs, "code")
        .unwrap_or_else(|| panic!("{client_id}: no code in {pairs:?}"))
        .to_owned()
}

/// `/token` for a secret client with HTTP Basic, the form as given.
async fn redeem(app: &TestApp, client_id: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url("/token"))
        .basic_auth(client_id, Some(SECRET))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn redirect_uri_may_be_omitted_only_by_a_one_uri_client_with_the_profile() {
    let app = spawn().await;
    for (client, expected) in [("rp-compat-one-uri", 200), ("rp-secret", 400)] {
        let code = code_for(&app, client, &[]).await;
        let resp = redeem(
            &app,
            client,
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await;
        assert_eq!(resp.status(), expected, "{client}");
        if expected == 400 {
            let (_, error, description) = TestApp::error_of(resp).await;
            assert_eq!(
                (error.as_str(), description.as_str()),
                ("invalid_request", "redirect_uri is missing")
            );
        }
    }
    // A value sent is still compared.
    let code = code_for(&app, "rp-compat-one-uri", &[]).await;
    let resp = redeem(
        &app,
        "rp-compat-one-uri",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example/other"),
        ],
    )
    .await;
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_grant");
}

#[tokio::test]
async fn a_mismatching_redirect_uri_is_tolerated_only_with_the_profile() {
    let app = spawn().await;
    for (client, expected) in [("rp-compat-any-uri", 200), ("rp-secret", 400)] {
        let code = code_for(&app, client, &[]).await;
        let resp = redeem(
            &app,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "whatever"),
            ],
        )
        .await;
        assert_eq!(resp.status(), expected, "{client}");
        if expected == 400 {
            let (_, error, description) = TestApp::error_of(resp).await;
            assert_eq!(
                (error.as_str(), description.as_str()),
                (
                    "invalid_grant",
                    "redirect_uri does not match the authorization request"
                )
            );
        }
    }
}

#[tokio::test]
async fn a_default_purpose_is_declared_only_for_a_client_with_the_profile() {
    let scope = [("scope", "number-verification:verify")];
    let app = spawn().await;
    let code = code_for(&app, "rp-compat-one-uri", &scope).await;
    let resp = redeem(
        &app,
        "rp-compat-one-uri",
        &[("grant_type", "authorization_code"), ("code", &code)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["scope"],
        format!("{PURPOSE} number-verification:verify")
    );
    let claims = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert!(claims.has_scope(nv_token::ApiScope::Verify));

    let params = params_for(&app, "rp-secret", &scope);
    let pairs = location_params(&app.authorize(&params).await);
    assert_eq!(param(&pairs, "error"), Some("invalid_scope"));
}

#[tokio::test]
async fn the_0_3_combined_scope_form_is_a_purpose_and_a_scope_for_every_client() {
    let app = spawn().await;
    let combined = format!("openid {PURPOSE}#number-verification:verify");
    let code = code_for(&app, "rp-secret", &[("scope", &combined)]).await;
    let resp = app.redeem_basic("rp-secret", &code, RP_REDIRECT).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["scope"],
        format!("openid {PURPOSE} number-verification:verify")
    );
    // The purpose is still checked against the registration.
    let pairs = location_params(
        &app.authorize(
            &app.std_params(&[("scope", "openid dpv:Marketing#number-verification:verify")]),
        )
        .await,
    );
    assert_eq!(param(&pairs, "error"), Some("invalid_scope"));
}

#[tokio::test]
async fn hints_of_unsupported_forms_are_set_aside_except_in_the_playground() {
    let app = spawn().await;
    for hint in ["alice@example.com", "phone_number:+99012345678"] {
        let code = app.code(&[("login_hint", hint)]).await;
        let body: Value = app.redeem(&code).await.json().await.unwrap();
        let claims = app
            .open(body["access_token"].as_str().unwrap(), AUDIENCE)
            .await;
        assert_eq!(claims.phone_number.as_str(), LOOPBACK_NUMBER, "{hint}");
    }
    // Where the hint is the identity, a hint that cannot be read stays an error.
    let playground = Builder {
        playground: true,
        no_loopback: true,
        ..Builder::default()
    }
    .spawn()
    .await;
    let pairs = location_params(
        &playground
            .authorize(&playground.std_params(&[("login_hint", "alice@example.com")]))
            .await,
    );
    assert_eq!(param(&pairs, "error"), Some("invalid_request"));
    let code = playground
        .code(&[("login_hint", "phone_number:+99000000001")])
        .await;
    let body: Value = playground.redeem(&code).await.json().await.unwrap();
    let claims = playground
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert_eq!(claims.phone_number.as_str(), "+99000000001");
}

/// The gateway layouts (`compat.aliases`): on in dev mode, off in production.
#[tokio::test]
async fn dev_mode_serves_the_gateway_paths_of_authorize_and_token() {
    let app = spawn().await;
    for (authorize, token) in [
        ("/oauth2/auth", "/oauth2/token"),
        (
            "/openidconnect/playground/v1.0/authorize",
            "/openidconnect/playground/v1.0/token",
        ),
    ] {
        let params = params_for(&app, "rp-secret", &[]);
        let resp = app
            .http
            .get(app.url(authorize))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{authorize}");
        let pairs = location_params(&resp);
        let code = param(&pairs, "code").unwrap_or_else(|| panic!("{authorize}: {pairs:?}"));
        let resp = app
            .http
            .post(app.url(token))
            .basic_auth("rp-secret", Some(SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", RP_REDIRECT),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{token}");
        // The alias is the endpoint, methods included.
        let resp = app.http.get(app.url(token)).send().await.unwrap();
        assert_eq!(resp.status(), 405, "{token}");
    }
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["fast_flow_csp_auth_endpoint"],
        discovery["authorization_endpoint"]
    );

    let production = Builder {
        mode_production: true,
        ..Default::default()
    }
    .spawn()
    .await;
    for path in ["/oauth2/auth", "/openidconnect/playground/v1.0/authorize"] {
        let resp = production
            .http
            .get(production.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let discovery = production
        .get_json("/.well-known/openid-configuration")
        .await;
    assert!(discovery.get("fast_flow_csp_auth_endpoint").is_none());
}

/// Glide's link: `scope=openid`, the right in `purpose=dpv:<Purpose>:number-verification`,
/// `max_age=0` (met: every authentication here is a fresh network lookup).
#[tokio::test]
async fn the_purpose_parameter_names_the_right_only_with_the_profile() {
    let app = spawn().await;
    let glide = [
        ("scope", "openid"),
        (
            "purpose",
            "dpv:FraudPreventionAndDetection:number-verification",
        ),
        ("max_age", "0"),
    ];
    for (client, scope) in [
        (
            "rp-compat-any-uri",
            format!("openid {PURPOSE} number-verification:verify"),
        ),
        // Strict: an unknown parameter, ignored (RFC 6749 §3.1); the token grants openid only.
        ("rp-secret", "openid".to_owned()),
    ] {
        let code = code_for(&app, client, &glide).await;
        let resp = redeem(
            &app,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", RP_REDIRECT),
            ],
        )
        .await;
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["scope"], scope, "{client}");
    }
    let params = params_for(
        &app,
        "rp-compat-any-uri",
        &[("purpose", "dpv:FraudPreventionAndDetection:sim-swap")],
    );
    let pairs = location_params(&app.authorize(&params).await);
    assert_eq!(param(&pairs, "error"), Some("invalid_scope"));
}

#[tokio::test]
async fn a_json_token_request_is_read_only_for_a_client_with_the_profile() {
    let app = spawn().await;
    let json_redeem = |client: &'static str, body: String| {
        let req = app
            .http
            .post(app.url("/token"))
            .basic_auth(client, Some(SECRET))
            .header("content-type", "application/json")
            .body(body);
        async move { req.send().await.unwrap() }
    };
    let form = |code: &str| {
        format!(
            r#"{{"grant_type":"authorization_code","code":"{code}","redirect_uri":"{RP_REDIRECT}"}}"#
        )
    };
    let code = code_for(&app, "rp-compat-any-uri", &[]).await;
    let resp = json_redeem("rp-compat-any-uri", form(&code)).await;
    assert_eq!(resp.status(), 200);

    // Strict: refused before anything is read or redeemed; the code still works as a form.
    let code = code_for(&app, "rp-secret", &[]).await;
    let (status, error, description) =
        TestApp::error_of(json_redeem("rp-secret", form(&code)).await).await;
    assert_eq!(
        (status, error.as_str(), description.as_str()),
        (
            400,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded"
        )
    );
    assert_eq!(
        app.redeem_basic("rp-secret", &code, RP_REDIRECT)
            .await
            .status(),
        200
    );

    for bad in [
        r#"{"grant_type":"authorization_code","grant_type":"client_credentials"}"#.to_owned(),
        r#"{"grant_type":"authorization_code","code":7}"#.to_owned(),
        "[]".to_owned(),
    ] {
        let (status, error, _) =
            TestApp::error_of(json_redeem("rp-compat-any-uri", bad.clone()).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_request"), "{bad}");
    }
}
