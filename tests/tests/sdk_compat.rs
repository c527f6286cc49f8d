//! The operator SDKs' exact requests (docs/compatibility.md), replayed against the local stack
//! as it starts in dev mode: the demo client has the compatibility profile these SDKs need, and
//! nothing else is configured.

use end_to_end::{start, Stack, StackOptions, LOOPBACK_NUMBER};
use serde_json::{json, Value};

const RAPIDAPI: [(&str, &str); 2] = [
    ("x-rapidapi-host", "network-as-code.nokia.rapidapi.com"),
    ("x-rapidapi-key", "rapid-key"),
];

fn http() -> reqwest::Client {
    server_kit::testing::http_client()
}

/// Follow the SDK's authorization link to `/authorize` (no redirects followed): the code.
async fn code_from_link(stack: &Stack, query: &[(&str, &str)]) -> String {
    code_from_link_at(stack, "/authorize", query).await
}

/// The same at `path`, the authorization endpoint as the SDK names it.
async fn code_from_link_at(stack: &Stack, path: &str, query: &[(&str, &str)]) -> String {
    let resp = http()
        .get(format!("{}{path}", stack.as_url))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code: {location}"))
}

/// The token response, checked for what the SDKs parse: a string token and type, a numeric
/// `expires_in`, a `scope`.
async fn token_response(resp: reqwest::Response) -> (String, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["expires_in"].is_u64(), "{body}");
    assert!(body["scope"].is_string(), "{body}");
    (
        body["token_type"].as_str().unwrap().to_owned(),
        body["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Nokia network-as-code 6.2.0: its link (no openid, prompt, nonce or PKCE; a bare E.164
/// hint), `client_secret_post` without `redirect_uri`, then `/v0` with the token's own type as
/// the scheme and RapidAPI headers.
async fn nokia_token(stack: &Stack, scope: &str) -> String {
    let redirect_uri = format!("{}/demo/callback", stack.issuer);
    let code = code_from_link(
        stack,
        &[
            ("scope", scope),
            ("state", "nac-state"),
            ("response_type", "code"),
            ("client_id", "demo-app"),
            ("redirect_uri", &redirect_uri),
            ("login_hint", LOOPBACK_NUMBER),
        ],
    )
    .await;
    let resp = http()
        .post(format!("{}/token", stack.as_url))
        .form(&[
            ("client_id", "demo-app"),
            ("client_secret", "demo-secret"),
            ("grant_type", "authorization_code"),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    let (token_type, token) = token_response(resp).await;
    format!("{token_type} {token}")
}

#[tokio::test]
async fn nokia_network_as_code_6_2_verifies_and_shares_the_number() {
    let stack = start(StackOptions::default()).await;
    let discovery = http()
        .get(format!("{}/.well-known/openid-configuration", stack.as_url))
        .header("content-type", "application/json")
        .header(RAPIDAPI[0].0, RAPIDAPI[0].1)
        .header(RAPIDAPI[1].0, RAPIDAPI[1].1)
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);

    for scope in [
        "dpv:FraudPreventionAndDetection number-verification:verify",
        "dpv:FraudPreventionAndDetection#number-verification-verify-read",
    ] {
        for (number, verified) in [(LOOPBACK_NUMBER, true), ("+99099999999", false)] {
            let authorization = nokia_token(&stack, scope).await;
            let resp = http()
                .post(format!("{}/number-verification/v0/verify", stack.api))
                .header("authorization", authorization)
                .header(RAPIDAPI[0].0, RAPIDAPI[0].1)
                .header(RAPIDAPI[1].0, RAPIDAPI[1].1)
                .json(&json!({ "phoneNumber": number }))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{scope}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(
                body,
                json!({ "devicePhoneNumberVerified": verified }),
                "{scope}"
            );
        }
    }

    // device-phone-number: sometimes with no purpose, and the 0.3.1 combined form; a GET with a
    // JSON content type and no body.
    for scope in [
        "number-verification:device-phone-number:read",
        "dpv:FraudPreventionAndDetection#number-verification-share-read",
    ] {
        let authorization = nokia_token(&stack, scope).await;
        let resp = http()
            .get(format!(
                "{}/number-verification/v0/device-phone-number",
                stack.api
            ))
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .header(RAPIDAPI[0].0, RAPIDAPI[0].1)
            .header(RAPIDAPI[1].0, RAPIDAPI[1].1)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scope}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "devicePhoneNumber": LOOPBACK_NUMBER }),
            "{scope}"
        );
    }
}

/// Telefónica opengateway-sandbox-sdk 1.1.0: the combined scope, a `tel:` (or, in its documents,
/// `phone_number:`) hint, HTTP Basic with `redirect_uri=whatever` at `urljoin(base, "token")`,
/// then `{base}number-verification/v0/verify`.
#[tokio::test]
async fn telefonica_sandbox_sdk_1_1_verifies_the_number() {
    let stack = start(StackOptions::default()).await;
    let redirect_uri = format!("{}/demo/callback", stack.issuer);
    let base = format!("{}/", stack.as_url);
    let token_url = url::Url::parse(&base).unwrap().join("token").unwrap();
    for hint in [
        format!("tel:{LOOPBACK_NUMBER}"),
        format!("phone_number:{LOOPBACK_NUMBER}"),
    ] {
        let code = code_from_link(
            &stack,
            &[
                ("response_type", "code"),
                ("client_id", "demo-app"),
                (
                    "scope",
                    "dpv:FraudPreventionAndDetection#number-verification-verify-read",
                ),
                ("redirect_uri", &redirect_uri),
                ("state", "tef-state"),
                ("login_hint", &hint),
            ],
        )
        .await;
        let resp = http()
            .post(token_url.clone())
            .basic_auth("demo-app", Some("demo-secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "whatever"),
            ])
            .send()
            .await
            .unwrap();
        let (_, token) = token_response(resp).await;
        let resp = http()
            .post(format!("{}/number-verification/v0/verify", stack.api))
            .bearer_auth(token)
            .json(&json!({ "phoneNumber": LOOPBACK_NUMBER }))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!({ "devicePhoneNumberVerified": true }), "{hint}");
    }
}

/// Nokia network-as-code 10.0.0: the same token shape as 6.2, then its passthrough prefix with a
/// lowercase `authorization`, `X-Fern-*` headers: `/v0/verify` (a number and a hash), `/v2/verify`
/// and `/v2/device-phone-number` with `x-correlator`.
#[tokio::test]
async fn nokia_network_as_code_10_calls_its_passthrough_paths() {
    let stack = start(StackOptions::default()).await;
    let base = format!(
        "{}/passthrough/camara/v1/number-verification/number-verification",
        stack.api
    );
    let fern = [
        ("x-fern-language", "Python"),
        ("x-fern-sdk-name", "network-as-code"),
        ("x-fern-sdk-version", "10.0.0"),
    ];
    let hashed = nv_token::PhoneNumber::try_from(LOOPBACK_NUMBER.to_owned())
        .unwrap()
        .sha256_hex();
    for (path, scope, body) in [
        (
            "v0/verify",
            "dpv:FraudPreventionAndDetection#number-verification-verify-read",
            json!({ "phoneNumber": LOOPBACK_NUMBER }),
        ),
        (
            "v0/verify",
            "dpv:FraudPreventionAndDetection#number-verification-verify-read",
            json!({ "hashedPhoneNumber": hashed }),
        ),
        (
            "v2/verify",
            "dpv:FraudPreventionAndDetection number-verification:verify",
            json!({ "phoneNumber": LOOPBACK_NUMBER }),
        ),
    ] {
        let mut req = http()
            .post(format!("{base}/{path}"))
            .header("authorization", nokia_token(&stack, scope).await)
            .header("x-correlator", "nac-10-correlator")
            .json(&body);
        for (k, v) in fern {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path} {body}");
        assert_eq!(resp.headers()["x-correlator"], "nac-10-correlator");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(
            answer,
            json!({ "devicePhoneNumberVerified": true }),
            "{path} {body}"
        );
    }
    let mut req = http()
        .get(format!("{base}/v2/device-phone-number"))
        .header(
            "authorization",
            nokia_token(&stack, "number-verification:device-phone-number:read").await,
        )
        .header("x-correlator", "nac-10-correlator");
    for (k, v) in fern {
        req = req.header(k, v);
    }
    let answer: Value = req.send().await.unwrap().json().await.unwrap();
    assert_eq!(answer, json!({ "devicePhoneNumber": LOOPBACK_NUMBER }));
}

/// Vonage's resource layout (`/camara/number-verification/v031/verify`, 0.3.1 rules: the number
/// with or without '+') with a token of the standard flow; the SDK's own flow is below.
#[tokio::test]
async fn vonage_s_v031_layout_takes_the_number_with_or_without_plus() {
    let stack = start(StackOptions::default()).await;
    let scope = "openid dpv:FraudPreventionAndDetection#number-verification-verify-read";
    for number in [LOOPBACK_NUMBER, LOOPBACK_NUMBER.trim_start_matches('+')] {
        let token = stack.token(scope, None).await;
        let resp = http()
            .post(format!(
                "{}/camara/number-verification/v031/verify",
                stack.api
            ))
            .bearer_auth(token)
            .json(&json!({ "phoneNumber": number }))
            .send()
            .await
            .unwrap();
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(
            answer,
            json!({ "devicePhoneNumberVerified": true }),
            "{number}"
        );
    }
}

/// Glide glide-sdk 1.0.8: `/oauth2/auth` with `scope=openid`, the right in Glide's `purpose`,
/// `nonce` and `max_age=0`; the token by HTTP Basic without `redirect_uri` (the SDK needs a
/// numeric `expires_in` and `scope`); then the unversioned `POST /number-verification/verify`.
#[tokio::test]
async fn glide_sdk_1_0_verifies_the_number() {
    let stack = start(StackOptions::default()).await;
    let redirect_uri = format!("{}/demo/callback", stack.issuer);
    let code = code_from_link_at(
        &stack,
        "/oauth2/auth",
        &[
            ("client_id", "demo-app"),
            ("response_type", "code"),
            ("scope", "openid"),
            (
                "purpose",
                "dpv:FraudPreventionAndDetection:number-verification",
            ),
            ("state", "glide-state"),
            ("nonce", "glide-nonce"),
            ("max_age", "0"),
            ("redirect_uri", &redirect_uri),
        ],
    )
    .await;
    let resp = http()
        .post(format!("{}/oauth2/token", stack.as_url))
        .basic_auth("demo-app", Some("demo-secret"))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap();
    let (_, token) = token_response(resp).await;
    let resp = http()
        .post(format!("{}/number-verification/verify", stack.api))
        .bearer_auth(token)
        .json(&json!({ "phoneNumber": LOOPBACK_NUMBER }))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "devicePhoneNumberVerified": true }));
}

/// The Telefónica SDK retries its token request as JSON when a form is refused; the demo
/// client's profile reads it.
#[tokio::test]
async fn telefonica_s_json_token_request_is_read() {
    let stack = start(StackOptions::default()).await;
    let redirect_uri = format!("{}/demo/callback", stack.issuer);
    let code = code_from_link(
        &stack,
        &[
            ("response_type", "code"),
            ("client_id", "demo-app"),
            (
                "scope",
                "dpv:FraudPreventionAndDetection#number-verification-verify-read",
            ),
            ("redirect_uri", &redirect_uri),
            ("state", "tef-state"),
            ("login_hint", &format!("tel:{LOOPBACK_NUMBER}")),
        ],
    )
    .await;
    let resp = http()
        .post(format!("{}/token", stack.as_url))
        .basic_auth("demo-app", Some("demo-secret"))
        .json(&json!({
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "whatever",
        }))
        .send()
        .await
        .unwrap();
    token_response(resp).await;
}

/// Vonage's application JWT: RS256, no `kid`, claims `application_id`, `iat`, `jti`,
/// `exp = iat + lifetime`, signed with the demo client's key (its application key here).
fn application_jwt(stack: &Stack, application_id: &str, lifetime: i64) -> String {
    let jwk = josekit::jwk::Jwk::from_bytes(
        std::fs::read(stack.keys_path().join("demo-app.jwk")).expect("the demo key"),
    )
    .expect("a JWK");
    let mut map = jwk.as_ref().clone();
    map.remove("kid");
    let jwk = josekit::jwk::Jwk::from_map(map).expect("a JWK");
    let signer = josekit::jws::RS256
        .signer_from_jwk(&jwk)
        .expect("an RS256 key");
    let now = end_to_end::unix_now();
    let mut payload = josekit::jwt::JwtPayload::new();
    payload
        .set_claim("application_id", Some(json!(application_id)))
        .unwrap();
    payload.set_claim("iat", Some(json!(now))).unwrap();
    payload
        .set_claim("exp", Some(json!(now + lifetime)))
        .unwrap();
    payload
        .set_claim("jti", Some(json!(uuid::Uuid::new_v4().to_string())))
        .unwrap();
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("JWT");
    josekit::jwt::encode_with_signer(&payload, &header, &signer).expect("signed")
}

/// The Vonage SDK's authorization link, followed: the code.
async fn vonage_code(stack: &Stack, redirect_uri: &str) -> String {
    code_from_link_at(
        stack,
        "/oauth2/auth",
        &[
            ("client_id", "demo-app"),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            (
                "scope",
                "openid dpv:FraudPreventionAndDetection#number-verification-verify-read",
            ),
            ("state", "vonage-state"),
            ("login_hint", LOOPBACK_NUMBER),
        ],
    )
    .await
}

/// Vonage vonage-network-number-verification 1.0.2: `/oauth2/auth`, then `/oauth2/token` with
/// `code, redirect_uri, grant_type` and no `client_id`, the client authenticated by its
/// application JWT in `Authorization: Bearer`; then `…/v031/verify`.
#[tokio::test]
async fn vonage_sdk_1_0_authenticates_with_its_application_jwt_and_verifies() {
    let stack = start(StackOptions::default()).await;
    let redirect_uri = format!("{}/demo/callback", stack.issuer);
    let redeem = |code: String, jwt: String| {
        let redirect_uri = redirect_uri.clone();
        let url = format!("{}/oauth2/token", stack.as_url);
        async move {
            http()
                .post(url)
                .header("authorization", format!("Bearer {jwt}"))
                .form(&[
                    ("code", code.as_str()),
                    ("redirect_uri", redirect_uri.as_str()),
                    ("grant_type", "authorization_code"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let jwt = application_jwt(&stack, "demo-app", 900);
    let (_, token) =
        token_response(redeem(vonage_code(&stack, &redirect_uri).await, jwt.clone()).await).await;
    for number in [LOOPBACK_NUMBER, LOOPBACK_NUMBER.trim_start_matches('+')] {
        let token = if number == LOOPBACK_NUMBER {
            token.clone()
        } else {
            let jwt = application_jwt(&stack, "demo-app", 900);
            token_response(redeem(vonage_code(&stack, &redirect_uri).await, jwt).await)
                .await
                .1
        };
        let resp = http()
            .post(format!(
                "{}/camara/number-verification/v031/verify",
                stack.api
            ))
            .bearer_auth(token)
            .json(&json!({ "phoneNumber": number }))
            .send()
            .await
            .unwrap();
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(
            answer,
            json!({ "devicePhoneNumberVerified": true }),
            "{number}"
        );
    }
    // Single use, 15 minutes at most, the client's own key and a client with the profile only.
    for (jwt, why) in [
        (jwt, "replayed"),
        (application_jwt(&stack, "demo-app", 1000), "too long-lived"),
        (application_jwt(&stack, "demo-app", -10), "expired"),
    ] {
        let resp = redeem(vonage_code(&stack, &redirect_uri).await, jwt).await;
        assert_eq!(resp.status(), 401, "{why}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{why}");
    }
    let resp = redeem(
        vonage_code(&stack, &redirect_uri).await,
        application_jwt(&stack, "demo-trusted-backend", 900),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["error"].as_str(), body["error_description"].as_str()),
        (
            Some("invalid_request"),
            Some("only the Basic scheme is accepted for client authentication")
        ),
        "a strict client's Bearer header is not an authentication"
    );
}
