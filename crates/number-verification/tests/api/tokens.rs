//! Token checks: single use, `amr`, tampering, time, audience, issuer, scheme, key rotation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::{self, JweHeader};
use josekit::jwk::Jwk;
use nv_store::Store;
use nv_token::{
    seal, Amr, Audience, ContentEncryption, DecryptionKeys, EncryptionAlg, EncryptionKey,
    SigningAlg, SigningKey,
};
use serde_json::json;

use crate::helpers::*;
use number_verification::config::IssuerKeySource;

const VERIFY: &str = "/number-verification/v2/verify";
const SHARE: &str = "/number-verification/v2/device-phone-number";

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(VERIFY, Some(token), &json!({ "phoneNumber": PHONE }))
        .await
}

#[tokio::test]
async fn verify_rejects_a_token_used_twice() {
    let app = TestApp::spawn().await;
    let token = app.token();
    assert_eq!(verify(&app, &token).await.status(), 200);
    let marks = app.memory.scan_prefix("at-used:").await.unwrap();
    assert_eq!(marks.len(), 1, "one single-use mark, keyed by jti");
    let second = verify(&app, &token).await;
    let challenge = second.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let body = assert_unauthenticated(second).await;
    assert!(
        body["message"].as_str().unwrap().contains("single use"),
        "{body}"
    );
    // Also on another operation and another version: the jti is what is spent.
    assert_unauthenticated(app.get(SHARE, Some(&token)).await).await;
    assert_unauthenticated(
        app.get("/number-verification/v1/device-phone-number", Some(&token))
            .await,
    )
    .await;
}

/// `server.crypto = "pool"`: the same answers with the crypto on the blocking pool, both before
/// the authorization server's keys are cached (decrypt and verify as two jobs) and after (one).
#[tokio::test]
async fn tokens_open_the_same_when_crypto_runs_on_the_blocking_pool() {
    let app = TestApp::builder()
        .settings(|s| s.server.crypto = nv_token::CryptoDispatch::Pool)
        .spawn()
        .await;
    assert_eq!(app.crypto, nv_token::CryptoDispatch::Pool);
    for _ in 0..2 {
        let resp = verify(&app, &app.token()).await;
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["devicePhoneNumberVerified"], true);
    }
    let wrong_audience = app.token_with(|c| c.aud = Audience::One("https://other.example".into()));
    assert_unauthenticated(verify(&app, &wrong_audience).await).await;
}

#[tokio::test]
async fn of_concurrent_calls_with_one_token_exactly_one_succeeds() {
    let app = TestApp::spawn().await;
    let token = app.token();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let request = app
                .client
                .post(app.url(VERIFY))
                .bearer_auth(&token)
                .json(&json!({ "phoneNumber": PHONE }));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_single_use_mark_lasts_as_long_as_the_token_could_be_accepted() {
    let app = TestApp::spawn().await;
    let token = app.token();
    assert_eq!(verify(&app, &token).await.status(), 200);
    // Just inside exp + leeway the mark is still there.
    app.clock.advance(300 + 29);
    assert_unauthenticated(verify(&app, &token).await).await;
}

#[tokio::test]
async fn a_token_not_from_the_mobile_network_is_user_not_authenticated_by_mobile_network() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.amr = vec!["pwd".into(), "otp".into()]);
    assert_error(
        verify(&app, &token).await,
        403,
        "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
    )
    .await;
    let token = app.token_with(|c| c.amr = vec![Amr::Sim]);
    assert_eq!(
        verify(&app, &token).await.status(),
        200,
        "SIM-based is accepted"
    );
}

#[tokio::test]
async fn playground_tokens_are_accepted_in_dev_mode_only() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.amr = vec![Amr::Playground]);
    assert_eq!(verify(&app, &token).await.status(), 200);

    let app = TestApp::builder()
        .settings(|s| s.mode = number_verification::config::Mode::Production)
        .spawn()
        .await;
    let token = app.token_with(|c| c.amr = vec![Amr::Playground]);
    assert_error(
        verify(&app, &token).await,
        403,
        "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
    )
    .await;
}

fn flip_byte_in_part(token: &str, part: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&parts[part]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    parts[part] = URL_SAFE_NO_PAD.encode(&bytes);
    parts.join(".")
}

#[tokio::test]
async fn a_flipped_byte_in_any_of_the_five_jwe_parts_is_401() {
    let app = TestApp::spawn().await;
    for part in 0..5 {
        let token = flip_byte_in_part(&app.token(), part);
        assert_unauthenticated(verify(&app, &token).await).await;
    }
}

#[tokio::test]
async fn a_token_encrypted_to_another_key_is_401() {
    let app = TestApp::spawn().await;
    let other =
        DecryptionKeys::from_jwks(&[EncryptionAlg::RsaOaep256.generate().unwrap()]).unwrap();
    let other_key = EncryptionKey::from_jwks(&other.public_jwks()).unwrap();
    let token = seal(
        &app.claims(),
        &app.auth.signer(),
        &other_key,
        ContentEncryption::A256GCM,
    )
    .unwrap();
    assert_unauthenticated(verify(&app, &token).await).await;

    // Same kid as ours, another key: decryption fails.
    let mut rogue = EncryptionAlg::RsaOaep256
        .generate()
        .unwrap()
        .to_public_key()
        .unwrap();
    rogue.set_key_id(app.recipient.kid());
    let rogue = EncryptionKey::from_jwk(&rogue, None).unwrap();
    let token = seal(
        &app.claims(),
        &app.auth.signer(),
        &rogue,
        ContentEncryption::A256GCM,
    )
    .unwrap();
    assert_unauthenticated(verify(&app, &token).await).await;
}

#[tokio::test]
async fn an_inner_jws_signed_by_an_unknown_key_is_401() {
    let app = TestApp::spawn().await;
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let (rogue, _) = SigningKey::generate(alg).unwrap();
        let token = seal(
            &app.claims(),
            &rogue,
            &app.recipient,
            ContentEncryption::A256GCM,
        )
        .unwrap();
        assert_unauthenticated(verify(&app, &token).await).await;
    }
    // A rogue key that claims the AS's kid.
    let mut rogue = SigningAlg::ES256.generate().unwrap();
    rogue.set_key_id(app.auth.signer().kid());
    let rogue = SigningKey::from_jwk(&rogue, None).unwrap();
    let token = seal(
        &app.claims(),
        &rogue,
        &app.recipient,
        ContentEncryption::A256GCM,
    )
    .unwrap();
    assert_unauthenticated(verify(&app, &token).await).await;
}

#[tokio::test]
async fn an_unsigned_alg_none_inner_token_is_401() {
    let app = TestApp::spawn().await;
    let header = URL_SAFE_NO_PAD.encode(
        json!({ "alg": "none", "typ": "at+jwt", "kid": app.auth.signer().kid() }).to_string(),
    );
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&app.claims()).unwrap());
    let token = app.encrypt_raw(&format!("{header}.{payload}."));
    assert_unauthenticated(verify(&app, &token).await).await;
}

#[tokio::test]
async fn an_hmac_inner_token_is_401() {
    // Algorithm confusion (RFC 8725 §2.1): HS256 keyed with something public.
    let app = TestApp::spawn().await;
    let key = Jwk::from_map(
        json!({ "kty": "oct", "k": URL_SAFE_NO_PAD.encode(app.public_jwks.to_string()) })
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap();
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("at+jwt");
    header.set_key_id(app.auth.signer().kid());
    let signer = josekit::jws::HS256.signer_from_jwk(&key).unwrap();
    let jws = josekit::jws::serialize_compact(
        &serde_json::to_vec(&app.claims()).unwrap(),
        &header,
        &signer,
    )
    .unwrap();
    assert_unauthenticated(verify(&app, &app.encrypt_raw(&jws)).await).await;
}

#[tokio::test]
async fn dir_and_a128kw_jwes_are_401_when_not_configured() {
    let app = TestApp::spawn().await;
    let inner = app
        .auth
        .signer()
        .sign_json(Some("at+jwt"), &app.claims())
        .unwrap();
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_content_type("JWT");

    let dir_key = Jwk::generate_oct_key(32).unwrap();
    let token = jwe::serialize_compact(
        inner.as_bytes(),
        &header,
        &jwe::Dir.encrypter_from_jwk(&dir_key).unwrap(),
    )
    .unwrap();
    assert_unauthenticated(verify(&app, &token).await).await;

    let kw_key = Jwk::generate_oct_key(16).unwrap();
    let token = jwe::serialize_compact(
        inner.as_bytes(),
        &header,
        &jwe::A128KW.encrypter_from_jwk(&kw_key).unwrap(),
    )
    .unwrap();
    assert_unauthenticated(verify(&app, &token).await).await;

    // The right key and alg, but content encryption A128GCM (only A256GCM is configured).
    let token = seal(
        &app.claims(),
        &app.auth.signer(),
        &app.recipient,
        ContentEncryption::A128GCM,
    )
    .unwrap();
    assert_unauthenticated(verify(&app, &token).await).await;
}

#[tokio::test]
async fn a_signed_but_unencrypted_token_and_an_id_token_are_401() {
    let app = TestApp::spawn().await;
    let signed_only = app
        .auth
        .signer()
        .sign_json(Some("at+jwt"), &app.claims())
        .unwrap();
    assert_unauthenticated(verify(&app, &signed_only).await).await;
    let id_token_typ = app
        .auth
        .signer()
        .sign_json(Some("JWT"), &app.claims())
        .unwrap();
    assert_unauthenticated(verify(&app, &app.encrypt_raw(&id_token_typ)).await).await;
}

#[tokio::test]
async fn an_expired_token_is_401_but_the_leeway_is_honoured() {
    let app = TestApp::spawn().await;
    let token = app.token();
    app.clock.advance(300 + 29);
    assert_eq!(
        verify(&app, &token).await.status(),
        200,
        "within the 30 s leeway"
    );
    let token = app.token_with(|c| c.exp = c.iat + 10);
    app.clock.advance(10 + 30);
    let response = verify(&app, &token).await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("expired"), "{challenge}");
    assert_unauthenticated(response).await;
}

#[tokio::test]
async fn a_token_not_yet_valid_is_401() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.nbf = Some(c.iat + 120));
    assert_unauthenticated(verify(&app, &token).await).await;
    let token = app.token_with(|c| c.iat += 120);
    assert_unauthenticated(verify(&app, &token).await).await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_401() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.aud = Audience::One("https://other-api.test".into()));
    assert_unauthenticated(verify(&app, &token).await).await;
    let token = app.token_with(|c| {
        c.aud = Audience::Many(vec!["https://other-api.test".into(), AUDIENCE.into()])
    });
    assert_eq!(
        verify(&app, &token).await.status(),
        200,
        "an array containing us is fine"
    );
}

#[tokio::test]
async fn a_token_from_another_issuer_is_401() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.iss = "https://evil.test".into());
    assert_unauthenticated(verify(&app, &token).await).await;
    let token = app.token_with(|c| c.iss = format!("{}/", c.iss));
    assert_unauthenticated(verify(&app, &token).await).await;
}

#[tokio::test]
async fn a_token_without_jti_is_401() {
    let app = TestApp::spawn().await;
    let token = app.token_with(|c| c.jti = String::new());
    assert_unauthenticated(verify(&app, &token).await).await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let token = app.token();
        let response = app
            .client
            .post(app.url(VERIFY))
            .header("authorization", format!("{scheme} {token}"))
            .json(&json!({ "phoneNumber": PHONE }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    let response = app
        .client
        .post(app.url(VERIFY))
        .header("authorization", format!("Basic {}", app.token()))
        .json(&json!({ "phoneNumber": PHONE }))
        .send()
        .await
        .unwrap();
    assert_unauthenticated(response).await;
}

#[tokio::test]
async fn a_rotated_authorization_server_key_is_fetched_on_its_first_token() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.auth.fetches(),
        0,
        "keys are fetched lazily, not at start-up"
    );
    assert_eq!(verify(&app, &app.token()).await.status(), 200);
    assert_eq!(app.auth.fetches(), 1);
    assert_eq!(verify(&app, &app.token()).await.status(), 200);
    assert_eq!(app.auth.fetches(), 1, "cached");

    app.auth.rotate();
    // Right after a fetch, an unknown kid does not trigger another one (rate limit)...
    assert_unauthenticated(verify(&app, &app.token()).await).await;
    assert_eq!(app.auth.fetches(), 1);
    // ...but once the minimum interval has passed it does, and the new key is accepted.
    app.clock.advance(11);
    assert_eq!(verify(&app, &app.token()).await.status(), 200);
    assert_eq!(app.auth.fetches(), 2);
}

#[tokio::test]
async fn forged_kids_cannot_make_the_server_hammer_the_authorization_server() {
    let app = TestApp::spawn().await;
    assert_eq!(verify(&app, &app.token()).await.status(), 200);
    app.clock.advance(11);
    for _ in 0..5 {
        let (rogue, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
        let token = seal(
            &app.claims(),
            &rogue,
            &app.recipient,
            ContentEncryption::A256GCM,
        )
        .unwrap();
        assert_unauthenticated(verify(&app, &token).await).await;
    }
    assert_eq!(app.auth.fetches(), 2, "one initial fetch and one refresh");
}

#[tokio::test]
async fn keys_can_come_from_a_jwks_uri_or_a_local_file() {
    let auth = FakeAs::start().await;
    let jwks_uri = format!("{}/jwks", auth.issuer);
    let issuer = auth.issuer.clone();
    let app = TestApp::builder()
        .settings(|s| {
            s.authorization_server.issuer = issuer;
            s.authorization_server.keys = IssuerKeySource::JwksUri(jwks_uri.parse().unwrap());
        })
        .try_spawn_with(auth)
        .await
        .unwrap();
    assert_eq!(verify(&app, &app.token()).await.status(), 200);

    let auth = FakeAs::start().await;
    let dir = temp_dir();
    let file = dir.path().join("as-jwks.json");
    std::fs::write(&file, auth.jwks().to_string()).unwrap();
    let issuer = auth.issuer.clone();
    let app = TestApp::builder()
        .settings(|s| {
            s.authorization_server.issuer = issuer;
            s.authorization_server.keys = IssuerKeySource::File(file);
        })
        .try_spawn_with(auth)
        .await
        .unwrap();
    assert_eq!(verify(&app, &app.token()).await.status(), 200);
    assert_eq!(app.auth.fetches(), 0, "the file, not the network");
}

#[tokio::test]
async fn an_unreachable_authorization_server_is_503_but_garbage_is_still_401() {
    // An issuer nobody listens on: a port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let configured = issuer.clone();
    let app = TestApp::builder()
        .settings(|s| s.authorization_server.issuer = configured)
        .spawn()
        .await;
    let token = app.token_with(|c| c.iss = issuer);
    assert_error(verify(&app, &token).await, 503, "UNAVAILABLE").await;
    assert_unauthenticated(verify(&app, "a.b.c.d.e").await).await;
    assert_eq!(
        verify(&app, &token).await.status(),
        503,
        "and not accepted later"
    );
}

#[tokio::test]
async fn a_key_withdrawn_by_the_authorization_server_stops_working_once_the_cache_is_old() {
    let app = TestApp::spawn().await;
    let old_signer = app.auth.signer();
    assert_eq!(verify(&app, &app.token()).await.status(), 200);
    app.auth.rotate();
    // Still cached: the withdrawn key is accepted for a while (tokens live ≤ 300 s anyway).
    let token = seal(
        &app.claims(),
        &old_signer,
        &app.recipient,
        ContentEncryption::A256GCM,
    )
    .unwrap();
    assert_eq!(verify(&app, &token).await.status(), 200);
    // Past jwks_max_age_seconds the JWKS is refetched and the old key is gone.
    app.clock.advance(301);
    let token = seal(
        &app.claims(),
        &old_signer,
        &app.recipient,
        ContentEncryption::A256GCM,
    )
    .unwrap();
    assert_unauthenticated(verify(&app, &token).await).await;
    assert_eq!(app.auth.fetches(), 2);
    assert_eq!(
        verify(&app, &app.token()).await.status(),
        200,
        "the new key works"
    );
}

/// `token` with the decoded bytes of segment `index` (0 header … 4 tag) changed by `edit`.
fn with_segment(token: &str, index: usize, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&parts[index]).unwrap();
    edit(&mut bytes);
    parts[index] = URL_SAFE_NO_PAD.encode(&bytes);
    parts.join(".")
}

/// `token` with segment `index` cut or zero-extended to `len` bytes.
fn with_segment_len(token: &str, index: usize, len: usize) -> String {
    with_segment(token, index, |bytes| bytes.resize(len, 0))
}

/// `token` with one member of its JWE header set (`None`: removed); the tag no longer matches.
fn with_jwe_header_member(token: &str, name: &str, value: Option<serde_json::Value>) -> String {
    with_segment(token, 0, |bytes| {
        let mut header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).unwrap();
        match value {
            Some(v) => header.insert(name.to_owned(), v),
            None => header.remove(name),
        };
        *bytes = serde_json::to_vec(&header).unwrap();
    })
}

/// A server whose only decryption key is `jwk` (written as `rs-encryption.jwk`), for `algs`.
async fn spawn_with_decryption_key(jwk: &Jwk, algs: Vec<EncryptionAlg>) -> TestApp {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("rs-encryption.jwk"),
        serde_json::to_vec(jwk.as_ref()).unwrap(),
    )
    .unwrap();
    TestApp::builder()
        .keys_dir(dir)
        .settings(|s| s.keys.key_management = algs)
        .spawn()
        .await
}

#[tokio::test]
async fn verify_rejects_a_jwe_with_a_crit_header() {
    let app = TestApp::spawn().await;
    for crit in [json!(["urn:example:must-understand"]), json!([])] {
        let inner = app
            .auth
            .signer()
            .sign_json(Some("at+jwt"), &app.claims())
            .unwrap();
        let token = app.encrypt_raw_with(&inner, |h| {
            h.set_claim("crit", Some(crit.clone())).unwrap();
            h.set_claim("urn:example:must-understand", Some(json!(true)))
                .unwrap();
        });
        assert_unauthenticated(verify(&app, &token).await).await;
    }
    for crit in [json!("urn:example:must-understand"), json!({})] {
        let token = with_jwe_header_member(&app.token(), "crit", Some(crit));
        assert_unauthenticated(verify(&app, &token).await).await;
    }
    assert_eq!(verify(&app, &app.token()).await.status(), 200);
}

#[tokio::test]
async fn verify_rejects_an_inner_jws_with_a_crit_header() {
    let app = TestApp::spawn().await;
    let signer = josekit::jws::ES256
        .signer_from_jwk(&app.auth.signer_jwk())
        .unwrap();
    for crit in [json!(["urn:example:must-understand"]), json!([])] {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id(app.auth.signer().kid());
        header.set_claim("crit", Some(crit)).unwrap();
        header
            .set_claim("urn:example:must-understand", Some(json!(true)))
            .unwrap();
        let inner = josekit::jws::serialize_compact(
            &serde_json::to_vec(&app.claims()).unwrap(),
            &header,
            &signer,
        )
        .unwrap();
        assert_unauthenticated(verify(&app, &app.encrypt_raw(&inner)).await).await;
    }
}

#[tokio::test]
async fn verify_rejects_a_jwe_whose_authentication_tag_is_not_128_bits() {
    let app = TestApp::spawn().await;
    // A prefix of the genuine tag: a 1-byte tag would be forged in 256 tries.
    for len in [1, 4, 15, 17] {
        let token = with_segment_len(&app.token(), 4, len);
        assert_unauthenticated(verify(&app, &token).await).await;
    }
}

#[tokio::test]
async fn verify_rejects_a_jwe_whose_initialization_vector_is_not_96_bits() {
    let app = TestApp::spawn().await;
    // An empty IV made OpenSSL's binding panic: a 500, not a 401.
    for len in [11, 13, 0] {
        let token = with_segment_len(&app.token(), 2, len);
        let response = verify(&app, &token).await;
        assert_eq!(response.status(), 401, "a {len}-byte IV");
        assert_unauthenticated(response).await;
    }
}

#[tokio::test]
async fn verify_rejects_non_canonical_base64url_in_a_jwe_segment() {
    let app = TestApp::spawn().await;
    for index in 0..5 {
        let token = app.token();
        let mut parts: Vec<&str> = token.split('.').collect();
        let padded = format!("{}=", parts[index]);
        parts[index] = &padded;
        assert_unauthenticated(verify(&app, &parts.join(".")).await).await;
    }
}

#[tokio::test]
async fn a_one_byte_ecdh_es_a256kw_encrypted_key_is_401_not_500() {
    let key = EncryptionAlg::EcdhEsA256kw.generate().unwrap();
    let app = spawn_with_decryption_key(&key, vec![EncryptionAlg::EcdhEsA256kw]).await;
    assert_eq!(app.recipient.alg(), EncryptionAlg::EcdhEsA256kw);
    // The A256GCM key wrapped with AES key wrap: 32 + 8 bytes.
    for len in [1, 0, 7, 39, 41] {
        let token = with_segment_len(&app.token(), 1, len);
        let response = verify(&app, &token).await;
        assert_eq!(response.status(), 401, "a {len}-byte encrypted key");
        assert_unauthenticated(response).await;
    }
    assert_eq!(verify(&app, &app.token()).await.status(), 200);
}

#[tokio::test]
async fn an_ecdh_es_jwe_without_a_usable_epk_is_401() {
    let key = EncryptionAlg::EcdhEsA256kw.generate().unwrap();
    let app = spawn_with_decryption_key(&key, vec![EncryptionAlg::EcdhEsA256kw]).await;
    let off_curve = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode([1; 32]),
        "y": URL_SAFE_NO_PAD.encode([1; 32]),
    });
    for epk in [
        None,
        Some(json!("not a key")),
        Some(json!({})),
        Some(json!({ "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA" })),
        Some(off_curve),
    ] {
        let token = with_jwe_header_member(&app.token(), "epk", epk.clone());
        let response = verify(&app, &token).await;
        assert_eq!(response.status(), 401, "epk {epk:?}");
        assert_unauthenticated(response).await;
    }
}

#[tokio::test]
async fn an_rsa_oaep_encrypted_key_that_is_not_the_modulus_length_is_401() {
    let app = TestApp::spawn().await;
    for len in [1, 255, 257] {
        let token = with_segment_len(&app.token(), 1, len);
        assert_unauthenticated(verify(&app, &token).await).await;
    }
}

#[tokio::test]
async fn a_dir_jwe_with_an_encrypted_key_is_401() {
    let key = EncryptionAlg::Dir.generate().unwrap();
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("rs-dir.jwk"),
        serde_json::to_vec(key.as_ref()).unwrap(),
    )
    .unwrap();
    // The RSA key first: it is the one published (a `dir` secret never is).
    let app = TestApp::builder()
        .keys_dir(dir)
        .settings(|s| {
            s.keys.key_management = vec![EncryptionAlg::RsaOaep256, EncryptionAlg::Dir];
            s.keys.decryption = vec!["rs-encryption.jwk".into(), "rs-dir.jwk".into()];
        })
        .spawn()
        .await;
    let dir_token = || {
        let inner = app
            .auth
            .signer()
            .sign_json(Some("at+jwt"), &app.claims())
            .unwrap();
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        header.set_content_type("JWT");
        header.set_key_id(key.key_id().unwrap());
        jwe::serialize_compact(
            inner.as_bytes(),
            &header,
            &jwe::Dir.encrypter_from_jwk(&key).unwrap(),
        )
        .unwrap()
    };
    for len in [1, 32, 40] {
        let token = with_segment_len(&dir_token(), 1, len);
        assert_unauthenticated(verify(&app, &token).await).await;
    }
    assert_eq!(verify(&app, &dir_token()).await.status(), 200);
}

/// A client-credentials token of the authorization server (`ClientAccessTokenClaims`: no
/// subscriber) is refused by every operation: without a Number Verification scope, 403; with
/// one smuggled in, the token-context error, never an answer.
#[tokio::test]
async fn a_2_legged_token_answers_nothing() {
    let app = TestApp::spawn().await;
    let now = nv_store::Clock::now(&app.clock);
    let two_legged = |scope: &str| nv_token::ClientAccessTokenClaims {
        iss: app.auth.issuer.clone(),
        sub: "rp-service".into(),
        aud: nv_token::Audience::One(AUDIENCE.into()),
        client_id: "rp-service".into(),
        scope: scope.into(),
        iat: now,
        exp: now + 300,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let seal = |claims: &nv_token::ClientAccessTokenClaims| {
        nv_token::seal(
            claims,
            &app.auth.signer(),
            &app.recipient,
            nv_token::ContentEncryption::A256GCM,
        )
        .unwrap()
    };
    let body = serde_json::json!({"phoneNumber": PHONE});
    let token = seal(&two_legged("operator-api:read"));
    let resp = app
        .post_json("/number-verification/v2/verify", Some(&token), &body)
        .await;
    assert_error(resp, 403, "PERMISSION_DENIED").await;
    let token = seal(&two_legged("number-verification:verify"));
    let resp = app
        .post_json("/number-verification/v2/verify", Some(&token), &body)
        .await;
    // No `amr` either: not authenticated by the mobile network, and never an answer.
    assert_error(
        resp,
        403,
        "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
    )
    .await;
}
