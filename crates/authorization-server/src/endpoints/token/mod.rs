//! `/token` (RFC 6749 §3.2). Client authentication first, then one file per grant type, each
//! ending in the one token-issuing service ([`issue`]).

mod authorization_code;
mod ciba;
pub mod client_auth;
mod client_credentials;
pub mod issue;
mod jwt_bearer;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::read_form;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::{GrantType, Params};
use crate::state::AppState;

/// The grants `/token` implements.
pub const SUPPORTED: [GrantType; 4] = GrantType::ALL;

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
    let grant = match params.get("grant_type").map(str::parse::<GrantType>) {
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
        Some(Ok(grant)) if SUPPORTED.contains(&grant) => grant,
        Some(_) => return Err(unsupported()),
    };
    // The JWT-bearer assertion is the client's authentication (RFC 7523 §3, the CAMARA
    // profile); every other grant authenticates the client first.
    let (client, assertion) = match grant {
        GrantType::JwtBearer => {
            let (client, verified) = jwt_bearer::authenticate(&req, &state, &params).await?;
            (client, Some(verified))
        }
        _ => (
            client_auth::authenticate(&req, &state, &params).await?,
            None,
        ),
    };
    // RFC 6749 §5.2: an authenticated client not authorized for this grant type.
    if !client.may_use(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("the client is not registered for grant_type={grant}"),
        ));
    }
    let response = match (grant, assertion) {
        (GrantType::AuthorizationCode, _) => {
            authorization_code::redeem(&state, &client, &params).await?
        }
        (GrantType::Ciba, _) => ciba::redeem(&state, &client, &params).await?,
        (GrantType::JwtBearer, Some(verified)) => {
            jwt_bearer::redeem(&state, &client, verified).await?
        }
        (GrantType::ClientCredentials, _) => {
            client_credentials::redeem(&state, &client, &params).await?
        }
        (GrantType::JwtBearer, None) => return Err(unsupported()),
    };
    Ok(HttpResponse::Ok()
        // RFC 6749 §5.1: token responses must not be cached.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

fn unsupported() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnsupportedGrantType,
        "supported grant types: authorization_code, urn:ietf:params:oauth:grant-type:jwt-bearer, \
         urn:openid:params:grant-type:ciba, client_credentials",
    )
}
