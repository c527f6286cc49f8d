use crate::helpers::*;

#[tokio::test]
async fn discovery_describes_exactly_what_the_server_does() {
    let app = spawn().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: serde_json::Value = app.get_json(path).await;
        assert_eq!(doc["issuer"], app.base);
        assert_eq!(doc["authorization_endpoint"], app.url("/authorize"));
        assert_eq!(doc["token_endpoint"], app.url("/token"));
        assert_eq!(doc["userinfo_endpoint"], app.url("/userinfo"));
        assert_eq!(doc["jwks_uri"], app.url("/jwks"));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["pairwise"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        let methods = doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.contains(&"private_key_jwt".into()));
        let scopes = doc["scopes_supported"].as_array().unwrap();
        assert!(scopes.contains(&"number-verification:verify".into()));
    }
}

#[tokio::test]
async fn the_documents_built_once_are_served_as_json_every_time() {
    let app = spawn().await;
    for path in ["/.well-known/openid-configuration", "/jwks"] {
        let mut bodies = Vec::new();
        for _ in 0..2 {
            let res = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(res.headers()["content-type"], "application/json", "{path}");
            assert_eq!(res.headers()["cache-control"], "public, max-age=300");
            bodies.push(res.bytes().await.unwrap());
        }
        assert_eq!(bodies[0], bodies[1], "{path}");
        assert!(serde_json::from_slice::<serde_json::Value>(&bodies[0]).is_ok());
    }
}

#[tokio::test]
async fn the_jwks_publishes_public_keys_with_kids_only() {
    let app = spawn().await;
    let jwks: serde_json::Value = app.get_json("/jwks").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0]["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none() && keys[0].get("p").is_none());
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn().await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
