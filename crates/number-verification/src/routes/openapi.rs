//! The OpenAPI documents, served next to each version (copied verbatim from the CAMARA release
//! into `openapi/`), so a developer can point a generator or Swagger UI at the running server.

use actix_web::http::header;
use actix_web::HttpResponse;

const V2: &str = include_str!("../../openapi/number-verification-v2.1.0.yaml");
const V1: &str = include_str!("../../openapi/number-verification-v1.0.0.yaml");
const V0: &str = include_str!("../../openapi/number-verification-v0.3.1.yaml");

fn yaml(document: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        // RFC 9512 media type for YAML.
        .insert_header((header::CONTENT_TYPE, "application/yaml"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(document)
}

pub async fn v2() -> HttpResponse {
    yaml(V2)
}

pub async fn v1() -> HttpResponse {
    yaml(V1)
}

pub async fn v0() -> HttpResponse {
    yaml(V0)
}
