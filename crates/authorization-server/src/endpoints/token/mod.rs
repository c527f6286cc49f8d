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

use super::{has_media_type, read_body, read_form};
use crate::clients::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::{GrantType, Params};
use crate::state::AppState;

pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let (params, encoding) = read_params(&req, &state, payload).await?;
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
            encoding.allowed_for(&client)?;
            jwt_bearer::redeem(&state, &client, verified).await?
        }
        GrantType::AuthorizationCode => {
            let client = authenticated(&req, &state, &params, grant, encoding).await?;
            authorization_code::redeem(&state, &client, &params).await?
        }
        GrantType::Ciba => {
            let client = authenticated(&req, &state, &params, grant, encoding).await?;
            ciba::redeem(&state, &client, &params).await?
        }
        GrantType::ClientCredentials => {
            let client = authenticated(&req, &state, &params, grant, encoding).await?;
            client_credentials::redeem(&state, &client, &params).await?
        }
    };
    Ok(HttpResponse::Ok()
        // RFC 6749 §5.1: token responses must not be cached.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

/// The client the request authenticates, registered for `grant` and for the body's encoding.
async fn authenticated(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
    grant: GrantType,
    encoding: Encoding,
) -> Result<Arc<Client>, OAuthError> {
    let client = client_auth::authenticate(req, state, params).await?;
    registered_for(&client, grant)?;
    encoding.allowed_for(&client)?;
    Ok(client)
}

/// How the request's parameters were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// `application/x-www-form-urlencoded`, as RFC 6749 §4.1.3 says.
    Form,
    /// `application/json`: only for a client whose profile allows it (`compat.json_token_request`),
    /// checked once the client is known — nothing is redeemed before.
    Json,
}

impl Encoding {
    fn allowed_for(self, client: &Client) -> Result<(), OAuthError> {
        match self {
            Encoding::Json if !client.compat.json_token_request => Err(not_a_form()),
            _ => Ok(()),
        }
    }
}

fn not_a_form() -> OAuthError {
    OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
}

/// The parameters of a form body, or of a JSON object of string members (duplicate members
/// refused, as duplicate form parameters are) when the client it names may send one. The name
/// only picks the parser: the client is authenticated afterwards as for a form, and must be the
/// one allowed ([`Encoding::allowed_for`]).
async fn read_params(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<(Params, Encoding), OAuthError> {
    let limit = state.max_body_bytes;
    if !has_media_type(req, "application/json") {
        let body = read_form(req, payload, limit).await?;
        return Ok((Params::parse(&body), Encoding::Form));
    }
    let body = read_body(req, payload, limit, "application/json").await?;
    let object = server_kit::json::parse_object(&body)
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let mut pairs = Vec::with_capacity(object.len());
    for (name, value) in object {
        match value {
            serde_json::Value::String(v) => pairs.push((name, v)),
            _ => {
                return Err(OAuthError::invalid_request(
                    "every member of a JSON token request must be a string",
                ))
            }
        }
    }
    let params = Params::from_pairs(pairs);
    let named = params
        .get("client_id")
        .map(str::to_owned)
        .or_else(|| client_auth::basic_client_id(req));
    match named.and_then(|id| state.clients.get(&id)) {
        Some(client) if client.compat.json_token_request => Ok((params, Encoding::Json)),
        _ => Err(not_a_form()),
    }
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
