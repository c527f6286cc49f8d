//! `/userinfo` (OIDC Core §5.3): the bearer token in the `Authorization` header (GET or POST) or
//! as `access_token` in a form body (POST, RFC 6750 §2.2), never both. Tokens are looked up by
//! hash in the store, where `/token` recorded them: this also works for tokens encrypted to the
//! resource server, and never consumes a Number Verification token's single use.

use actix_web::http::header::AUTHORIZATION;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use super::read_form;
use crate::error::OAuthError;
use crate::protocol::scope::OPENID;
use crate::protocol::Params;
use crate::state::records::IssuedToken;
use crate::state::{keys, AppState};

pub async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let from_header = match req.headers().get(AUTHORIZATION) {
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| OAuthError::invalid_token("malformed Authorization header"))?;
            match v.split_once(' ') {
                // RFC 9110 §11.1: the scheme is case-insensitive.
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    Some(token.trim().to_owned())
                }
                _ => {
                    return Err(OAuthError::invalid_token(
                        "expected `Authorization: Bearer <token>`",
                    ))
                }
            }
        }
        None => None,
    };
    let from_body = if req.method() == Method::POST && req.headers().contains_key("content-type") {
        let body = read_form(&req, payload, state.max_body_bytes).await?;
        let params = Params::parse(&body);
        if params.is_duplicated("access_token") {
            return Err(OAuthError::invalid_request(
                "access_token is included more than once",
            ));
        }
        params.get("access_token").map(str::to_owned)
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "send the token in one place only (RFC 6750 section 2)",
            ))
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return Err(OAuthError::TokenMissing {
                realm: None,
                description: "an access token is required".into(),
            });
        }
    };
    let raw = state
        .store
        .get(&keys::access_token(&token))
        .await
        .map_err(OAuthError::unavailable)?;
    let record: IssuedToken = raw
        .and_then(|r| serde_json::from_slice(&r).ok())
        .ok_or_else(|| OAuthError::invalid_token("the access token is unknown or expired"))?;
    if record.exp <= state.now() {
        return Err(OAuthError::invalid_token("the access token has expired"));
    }
    // RFC 9068 §4: a resource server (this one, for /userinfo) refuses tokens not meant for it.
    if !record.aud.contains(&state.issuer) {
        return Err(OAuthError::invalid_token(
            "the access token is not for this server (aud)",
        ));
    }
    if !record.scope.openid {
        return Err(OAuthError::ScopeMissing { scope: OPENID });
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "sub": record.sub })))
}
