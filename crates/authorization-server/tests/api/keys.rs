use authorization_server::StartupError;

use crate::helpers::*;

#[tokio::test]
async fn dev_mode_generates_a_missing_signing_key_once_and_keeps_its_kid() {
    let app = spawn().await;
    let path = app.keys_dir.path().join("as-signing.jwk");
    assert!(path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let jwks: serde_json::Value = app.get_json("/jwks").await;
    let jwk: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], jwk["kid"]);
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_its_keys() {
    let keys_dir = tempfile::tempdir().unwrap();
    let (rp_key, _) = nv_token::SigningKey::generate(nv_token::SigningAlg::ES256).unwrap();
    let mut settings = Builder {
        mode_production: true,
        ..Default::default()
    }
    .settings(keys_dir.path(), &rp_key);
    std::fs::write(
        keys_dir.path().join("rs.public.json"),
        nv_token::EncryptionAlg::RsaOaep256
            .generate()
            .unwrap()
            .to_public_key()
            .unwrap()
            .to_string(),
    )
    .unwrap();
    settings.keys.signing = vec!["missing.jwk".into()];
    let err = authorization_server::Application::build(settings)
        .await
        .err()
        .expect("start-up fails");
    assert!(matches!(err, StartupError::Keys(_)), "{err}");
    assert!(
        err.to_string().contains("generate-key"),
        "the error says how to fix it: {err}"
    );
    assert!(!keys_dir.path().join("missing.jwk").exists());
}

#[tokio::test]
async fn production_mode_starts_with_provided_keys() {
    let app = Builder {
        mode_production: true,
        ..Default::default()
    }
    .spawn()
    .await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn several_keys_are_published_and_the_first_signs() {
    let app = Builder {
        extra_signing: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let jwks: serde_json::Value = app.get_json("/jwks").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let newest = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let code = app.code(&[]).await;
    let body: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
    let id_header = b64_json(
        body["id_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap(),
    );
    assert_eq!(id_header["kid"], newest);
}
