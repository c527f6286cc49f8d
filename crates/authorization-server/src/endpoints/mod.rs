//! One module per endpoint.

pub mod admin;
pub mod admin_cgnat;
pub mod authorize;
pub mod backchannel;
pub mod demo;
pub mod discovery;
pub mod entitlement;
pub mod health;
pub mod token;
pub mod userinfo;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::config::{AliasedEndpoint, EndpointAlias};
use crate::error::OAuthError;

/// The public listener's routes; the admin API among them unless it has a listener of its own
/// (`admin.listen`); `/authorize` and `/token` under the `aliases` too (`compat.aliases`).
pub fn configure(cfg: &mut web::ServiceConfig, with_admin: bool, aliases: &[EndpointAlias]) {
    for alias in aliases {
        cfg.service(match alias.endpoint {
            AliasedEndpoint::Authorize => authorize_resource(&alias.path),
            AliasedEndpoint::Token => token_resource(&alias.path),
        });
    }
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery::openid_configuration),
    )
    .route(
        "/.well-known/oauth-authorization-server",
        web::get().to(discovery::openid_configuration),
    )
    .route("/jwks", web::get().to(discovery::jwks))
    .service(authorize_resource("/authorize"))
    .service(token_resource("/token"))
    .service(
        web::resource("/userinfo")
            .route(web::get().to(userinfo::userinfo))
            .route(web::post().to(userinfo::userinfo))
            .default_service(web::to(method_not_allowed)),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/demo/callback", web::get().to(demo::callback))
    .configure(entitlement::configure)
    .configure(backchannel::configure);
    if with_admin {
        cfg.configure(admin::configure);
    }
    cfg.default_service(web::to(not_found));
}

fn authorize_resource(path: &str) -> actix_web::Resource {
    web::resource(path)
        .route(web::get().to(authorize::get))
        .route(web::post().to(authorize::post))
        .default_service(web::to(method_not_allowed))
}

fn token_resource(path: &str) -> actix_web::Resource {
    web::resource(path)
        .route(web::post().to(token::token))
        .default_service(web::to(method_not_allowed))
}

/// The admin listener's routes (`admin.listen`).
pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    cfg.configure(admin::configure)
        .default_service(web::to(not_found));
}

/// Through the error mapping, so the 404 and 405 have the JSON error form (and are logged as
/// refusals) like every other error.
async fn not_found() -> Result<HttpResponse, OAuthError> {
    Err(OAuthError::not_found(NO_SUCH_ENDPOINT))
}

async fn method_not_allowed() -> Result<HttpResponse, OAuthError> {
    Err(OAuthError::MethodNotAllowed)
}

/// The description of the 404 of a path (or an API) that does not exist.
pub const NO_SUCH_ENDPOINT: &str = "no such endpoint";

/// Read a whole `application/x-www-form-urlencoded` body (see [`read_body`]).
pub async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, OAuthError> {
    read_body(req, payload, limit, "application/x-www-form-urlencoded").await
}

/// Whether the request's `Content-Type` is `media_type` (parameters such as `charset` aside).
pub fn has_media_type(req: &HttpRequest, media_type: &str) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media_type))
}

/// Read a whole body of the given media type, refusing more than `limit` bytes without
/// buffering them (an oversized body is a clean 413 `invalid_request` in OAuth JSON, not a 413
/// in another format, nor unbounded memory).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    media_type: &str,
) -> Result<Vec<u8>, OAuthError> {
    if !has_media_type(req, media_type) {
        return Err(OAuthError::invalid_request(format!(
            "the body must be {media_type}"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| OAuthError::invalid_request("the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(OAuthError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
