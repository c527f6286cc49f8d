//! `/token` (RFC 6749 §3.2). Client authentication first (for JWT-bearer, the assertion
//! itself), then one file per grant type, each ending in the one token-issuing service
//! ([`issue`]).

mod authorization_code;
mod ciba;
pub mod client_auth;
mod client_credentials;
pub mod issue;
mod jwt_bearer;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::read_form;
use crate::clients::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::{GrantType, Params};
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
    let grant = match params.get("grant_type").map(str::parse::<GrantType>) {
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
        Some(Ok(grant)) => grant,
        Some(Err(_)) => return Err(unsupported()),
    };
    let response = match grant {
        // The assertion is the client's authentication (RFC 7523 §3, the CAMARA profile).
        GrantType::JwtBearer => {
            let (client, verified) = jwt_bearer::authenticate(&req, &state, &params).await?;
            registered_for(&client, grant)?;
            jwt_bearer::redeem(&state, &client, verified).await?
        }
        GrantType::AuthorizationCode => {
            let client = authenticated(&req, &state, &params, grant).await?;
            authorization_code::redeem(&state, &client, &params).await?
        }
        GrantType::Ciba => {
            let client = authenticated(&req, &state, &params, grant).await?;
            ciba::redeem(&state, &client, &params).await?
        }
        GrantType::ClientCredentials => {
            let client = authenticated(&req, &state, &params, grant).await?;
            client_credentials::redeem(&state, &client, &params).await?
        }
    };
    Ok(HttpResponse::Ok()
        // RFC 6749 §5.1: token responses must not be cached.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

/// The client the request authenticates, registered for `grant`.
async fn authenticated(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
    grant: GrantType,
) -> Result<Arc<Client>, OAuthError> {
    let client = client_auth::authenticate(req, state, params).await?;
    registered_for(&client, grant)?;
    Ok(client)
}

/// RFC 6749 §5.2: an authenticated client not authorized for this grant type.
fn registered_for(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.may_use(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("the client is not registered for grant_type={grant}"),
        ))
    }
}

fn unsupported() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnsupportedGrantType,
        "supported grant types: authorization_code, urn:ietf:params:oauth:grant-type:jwt-bearer, \
         urn:openid:params:grant-type:ciba, client_credentials",
    )
}
