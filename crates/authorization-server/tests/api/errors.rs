//! Error answers outside the endpoints' own checks: unknown paths, wrong methods, disabled
//! surfaces. They are the RFC 6749 JSON error like every other, byte for byte.

use crate::helpers::*;

const NOT_FOUND: &str = r#"{"error":"not_found","error_description":"no such endpoint"}"#;
const METHOD_NOT_ALLOWED: &str =
    r#"{"error":"invalid_request","error_description":"method not allowed on this endpoint"}"#;

async fn body_of(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (status, content_type, resp.text().await.unwrap())
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_the_same_json_bodies() {
    let app = spawn().await;
    for path in ["/nope", "/authorize/x", "/.well-known/other"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            body_of(resp).await,
            (404, "application/json".into(), NOT_FOUND.into()),
            "{path}"
        );
    }
    for (method, path) in [
        (reqwest::Method::GET, "/token"),
        (reqwest::Method::PUT, "/authorize"),
        (reqwest::Method::DELETE, "/userinfo"),
    ] {
        let resp = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_of(resp).await,
            (405, "application/json".into(), METHOD_NOT_ALLOWED.into()),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn the_demo_callback_in_production_and_a_disabled_admin_api_are_not_found() {
    let app = Builder {
        mode_production: true,
        ..Default::default()
    }
    .spawn()
    .await;
    for path in ["/demo/callback?code=x", "/admin/sessions"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            body_of(resp).await,
            (404, "application/json".into(), NOT_FOUND.into()),
            "{path}"
        );
    }
}
