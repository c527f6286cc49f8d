//! An unmodified `openidconnect` relying party, configured from discovery alone, against both
//! servers: authorization URL, code, private_key_jwt exchange, ID-token verification (signature,
//! nonce, at_hash), userinfo, then the Number Verification API with the access token.

use end_to_end::{start, StackOptions, LOOPBACK_NUMBER};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

#[tokio::test]
async fn an_off_the_shelf_oidc_client_completes_the_flow_from_discovery_alone() {
    let stack = start(StackOptions::default()).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(stack.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery parses");
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new("demo-app".into()), None)
            .set_redirect_uri(RedirectUrl::new(format!("{}/demo/callback", stack.issuer)).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("dpv:FraudPreventionAndDetection".into()))
        .add_scope(Scope::new("number-verification:verify".into()))
        .add_extra_param("prompt", "none")
        .set_pkce_challenge(challenge)
        .url();

    // The "device": this test process, on loopback, which dev mode maps to the test number.
    let resp = http.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let get = |n: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(get("state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(get("iss").as_deref(), Some(stack.issuer.as_str()));
    let code = get("code").expect("a code");

    // private_key_jwt: the assertion is added as extra parameters; the library sends client_id.
    let now = end_to_end::unix_now();
    let assertion = stack
        .demo_key()
        .sign_json(
            None,
            &serde_json::json!({"iss": "demo-app", "sub": "demo-app", "aud": format!("{}/token", stack.issuer),
                "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string()}),
        )
        .unwrap();
    let token_response = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .add_extra_param(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .add_extra_param("client_assertion", assertion)
        .request_async(&http)
        .await
        .expect("the code exchange succeeds");

    let id_token = token_response.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ID token verifies");
    let expected_hash = AccessTokenHash::from_token(
        token_response.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert!(!claims.subject().as_str().contains("99012345678"));

    let userinfo: CoreUserInfoClaims = client
        .user_info(
            token_response.access_token().to_owned(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo answers for the same subject");
    assert_eq!(userinfo.subject(), claims.subject());

    let resp = http
        .post(format!("{}/number-verification/v2/verify", stack.api))
        .bearer_auth(token_response.access_token().secret())
        .json(&serde_json::json!({"phoneNumber": LOOPBACK_NUMBER}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["devicePhoneNumberVerified"], true);
}
