//! Issuing operator tokens with the product's own entitlement service (`[operator_token]
//! backend = "simulated"`); with an external entitlement server these endpoints do not exist
//! (404): the operator's server issues the tokens.
//!
//! - `POST /entitlement/operator-token` (form `client_id`), device-facing, what a TS.43
//!   entitlement server does for an app: the device is identified exactly as at `/authorize`
//!   (the network; in playground mode a `login_hint` naming a test number), and the token is
//!   bound to that subscriber and to the app's client.
//! - `POST /admin/operator-tokens` (admin API, JSON `{"msisdn", "client_id"}`): what an
//!   entitlement-server integration or a test uses.
//!
//! Both answer `{"operator_token", "expires_in"}` with `Cache-Control: no-store`: the token is a
//! bearer credential until it is spent.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use nv_token::{Amr, PhoneNumber};
use serde::{Deserialize, Serialize};

use super::admin::{self, json_body};
use super::authorize::unidentified;
use super::{read_form, NO_SUCH_ENDPOINT};
use crate::error::{ErrorCode, OAuthError};
use crate::operator_token::simulated::{IssueError, Issued};
use crate::operator_token::SimulatedEntitlement;
use crate::protocol::authorization_request::Prompt;
use crate::protocol::{GrantType, LoginHint, Params};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/entitlement/operator-token")
            .route(web::post().to(device_token))
            .default_service(web::to(super::method_not_allowed)),
    );
}

pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/operator-tokens").route(web::post().to(admin_token)));
}

#[derive(Serialize)]
struct TokenAnswer {
    operator_token: String,
    expires_in: u64,
}

fn answer(status: actix_web::http::StatusCode, issued: Issued) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenAnswer {
            operator_token: issued.token.expose().to_owned(),
            expires_in: issued.expires_in,
        })
}

fn issuer(state: &AppState) -> Result<&SimulatedEntitlement, OAuthError> {
    state
        .operator_tokens
        .issuer()
        .ok_or_else(|| OAuthError::not_found(NO_SUCH_ENDPOINT))
}

/// The client a token is bound to: registered, and allowed a grant that takes operator tokens
/// (JWT-bearer or CIBA) — a token for any other client could never be redeemed.
fn bound_client(state: &AppState, client_id: Option<&str>) -> Result<String, OAuthError> {
    let id = client_id.ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
    let client = state
        .clients
        .get(id)
        .ok_or_else(|| OAuthError::invalid_request("client_id is not a registered client"))?;
    if !(client.may_use(GrantType::JwtBearer) || client.may_use(GrantType::Ciba)) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client is registered for neither the jwt-bearer nor the CIBA grant, which \
             redeem operator tokens",
        ));
    }
    Ok(client.id.clone())
}

fn issue_failed(e: IssueError) -> OAuthError {
    match e {
        IssueError::Store(e) => OAuthError::unavailable(e),
        e => OAuthError::internal(e),
    }
}

async fn device_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let service = issuer(&state)?;
    let body = read_form(&req, payload, state.max_body_bytes).await?;
    let params = Params::parse(&body);
    if let Some(dup) = params.first_duplicate() {
        return Err(OAuthError::invalid_request(format!(
            "parameter `{dup}` is included more than once"
        )));
    }
    let client_id = bound_client(&state, params.get("client_id"))?;
    // A hint only matters in playground mode (a test number); on the network it never changes
    // who the device is (network::identify).
    let hint = params
        .get("login_hint")
        .map(|h| h.parse::<LoginHint>())
        .transpose()
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let subscriber = state
        .identity
        .identify(req.peer_addr(), req.headers(), hint.as_ref(), state.now())
        .await
        .map_err(|why| unidentified(why, Prompt::Unspecified))?;
    // The simulated service stands in for an entitlement server's SIM authentication with the
    // network identification; a playground identity stays a playground one, so a grant that
    // redeems the token never claims `sim` for a number nobody proved.
    let amr = if subscriber.amr.contains(&Amr::Playground) {
        Amr::Playground
    } else {
        Amr::Sim
    };
    let issued = service
        .issue(&subscriber.phone_number, &client_id, amr)
        .await
        .map_err(issue_failed)?;
    tracing::info!(client_id = %client_id, subscriber = %subscriber.phone_number.masked(),
        "operator token issued to a device");
    Ok(answer(actix_web::http::StatusCode::OK, issued))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    msisdn: PhoneNumber,
    client_id: String,
}

async fn admin_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    admin::authorize(&req, &state)?;
    let service = issuer(&state)?;
    let new: NewToken = json_body(&req, payload, state.max_body_bytes).await?;
    let client_id = bound_client(&state, Some(&new.client_id))?;
    // What an entitlement-server integration hands over: a SIM-authenticated subscriber.
    let issued = service
        .issue(&new.msisdn, &client_id, Amr::Sim)
        .await
        .map_err(issue_failed)?;
    tracing::info!(client_id = %client_id, subscriber = %new.msisdn.masked(),
        "operator token issued through the admin API");
    Ok(answer(actix_web::http::StatusCode::CREATED, issued))
}
