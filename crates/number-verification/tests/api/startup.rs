//! Start-up: dev mode generates a missing key, production refuses to start without one.

use std::os::unix::fs::PermissionsExt;

use number_verification::config::Mode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn dev_mode_generates_a_missing_decryption_key_and_keeps_it() {
    let app = TestApp::builder().without_key_file().spawn().await;
    let key_file = app.keys_dir.path().join("rs-encryption.jwk");
    let meta = std::fs::metadata(&key_file).expect("the key was written");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "private key readable by owner only"
    );
    let public: Value = serde_json::from_slice(
        &std::fs::read(app.keys_dir.path().join("rs-encryption.public.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        public, app.public_jwks,
        "the convenience copy is what is served"
    );
    // It works.
    let response = app
        .post_json(
            "/number-verification/v2/verify",
            Some(&app.token()),
            &serde_json::json!({ "phoneNumber": PHONE }),
        )
        .await;
    assert_eq!(response.status(), 200);

    // A restart on the same directory keeps the key (same kid).
    let kid = app.recipient.kid().to_owned();
    let TestApp { keys_dir, .. } = app;
    let again = TestApp::builder().keys_dir(keys_dir).spawn().await;
    assert_eq!(again.recipient.kid(), kid);
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_its_key() {
    let result = TestApp::builder()
        .without_key_file()
        .settings(|s| s.mode = Mode::Production)
        .try_spawn()
        .await;
    let Err(error) = result else {
        panic!("production started without a key");
    };
    let message = error.to_string();
    assert!(message.contains("rs-encryption.jwk"), "{message}");
    assert!(
        message.contains("NV_KEYS__DIR"),
        "says how to fix it: {message}"
    );
}

#[tokio::test]
async fn a_key_whose_algorithm_is_not_allowed_is_a_start_up_error() {
    let dir = temp_dir();
    let jwk = nv_token::EncryptionAlg::EcdhEsA256kw.generate().unwrap();
    std::fs::write(
        dir.path().join("rs-encryption.jwk"),
        serde_json::to_vec(jwk.as_ref()).unwrap(),
    )
    .unwrap();
    let result = TestApp::builder().keys_dir(dir).try_spawn().await;
    let Err(error) = result else {
        panic!("started with a key outside keys.key_management");
    };
    assert!(error.to_string().contains("key_management"), "{error}");
}

#[tokio::test]
async fn several_keys_are_all_accepted_and_published_newest_first() {
    let dir = temp_dir();
    let old = nv_token::EncryptionAlg::RsaOaep256.generate().unwrap();
    std::fs::write(
        dir.path().join("rs-old.jwk"),
        serde_json::to_vec(old.as_ref()).unwrap(),
    )
    .unwrap();
    let app = TestApp::builder()
        .keys_dir(dir)
        .settings(|s| s.keys.decryption = vec!["rs-encryption.jwk".into(), "rs-old.jwk".into()])
        .spawn()
        .await;
    let keys = app.public_jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1]["kid"], old.key_id().unwrap());
    // A token encrypted to the older key still opens.
    let old_public =
        nv_token::EncryptionKey::from_jwks(&serde_json::json!({ "keys": [keys[1].clone()] }))
            .unwrap();
    let token = nv_token::seal(
        &app.claims(),
        &app.auth.signer(),
        &old_public,
        nv_token::ContentEncryption::A256GCM,
    )
    .unwrap();
    let response = app
        .post_json(
            "/number-verification/v2/verify",
            Some(&token),
            &serde_json::json!({ "phoneNumber": PHONE }),
        )
        .await;
    assert_eq!(response.status(), 200);
}
