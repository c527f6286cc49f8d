//! `/token` (RFC 6749 §3.2). Client authentication first, then one file per grant type, each
//! ending in the one token-issuing service ([`issue`]).

mod authorization_code;
pub mod client_auth;
pub mod issue;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::read_form;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::Params;
use crate::state::AppState;

pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let body = read_form(&req, payload, state.max_body_bytes).await?;
    let params = Params::parse(&body);
    if let Some(dup) = params.first_duplicate() {
        return Err(OAuthError::invalid_request(format!(
            "parameter `{dup}` is included more than once"
        )));
    }
    let client = client_auth::authenticate(&req, &state, &params).await?;
    match params.get("grant_type") {
        None => Err(OAuthError::invalid_request("grant_type is missing")),
        Some("authorization_code") => {
            let response = authorization_code::redeem(&state, &client, &params).await?;
            Ok(HttpResponse::Ok()
                // RFC 6749 §5.1: token responses must not be cached.
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(response))
        }
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "only grant_type=authorization_code is supported",
        )),
    }
}
