//! `POST /bc-authorize`: the CIBA backchannel authentication endpoint (OpenID Connect CIBA Core
//! 1.0 §7), poll mode only, as the CAMARA Security and Interoperability Profile profiles it
//! (section "CIBA"):
//!
//! - the client authenticates as at `/token`, and must be registered for the CIBA grant;
//! - a signed authentication request (`request`, CIBA §7.1.1) is accepted, which the profile
//!   makes a MUST to support; then every parameter comes from it;
//! - `login_hint` only (`login_hint_token`, `id_token_hint` are `invalid_request`): an
//!   `operatortoken:` is resolved (and spent) at once, an `ipport:` goes through the network
//!   identity resolvers; a `tel:` hint proves nothing about who holds the SIM, so it is refused
//!   (except for a playground number in playground mode);
//! - `binding_message`, `user_code`, `requested_expiry`, `acr_values` are ignored: nobody is
//!   asked to confirm anything on a device.
//!
//! The subscriber is decided here, so the request is approved when it is accepted; a poll
//! gets the tokens (CAMARA: "if granted in advance, token returned in first poll") once the
//! `interval` has passed, `slow_down` before that.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::read_form;
use super::token::client_auth;
use crate::error::{ErrorCode, OAuthError};
use crate::network::{ClientAddr, Subscriber};
use crate::operator_token::{OperatorToken, Refusal};
use crate::protocol::request_object::{self, RequestObjectError, Target};
use crate::protocol::{GrantType, LoginHint, Params, ScopeError, ScopeSet};
use crate::state::records::{BackchannelGrant, SealedRecord};
use crate::state::{keys, AppState};
use nv_token::Amr;

/// `[ciba]`: the lifetime of accepted requests and the polling interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CibaSettings {
    /// How long an accepted request can be redeemed (CIBA §7.3 `expires_in`), 1..=600 s.
    pub expires_in_seconds: i64,
    /// The least time between polls (CIBA §7.3 `interval`), 1..=60 s.
    pub interval_seconds: i64,
}

impl Default for CibaSettings {
    fn default() -> Self {
        Self {
            expires_in_seconds: 120,
            interval_seconds: 2,
        }
    }
}

impl CibaSettings {
    /// The bounds, with the key to fix in the message.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=600).contains(&self.expires_in_seconds) {
            return Err("ciba.expires_in_seconds must be 1..=600".into());
        }
        if !(1..=60).contains(&self.interval_seconds) {
            return Err("ciba.interval_seconds must be 1..=60".into());
        }
        if self.interval_seconds >= self.expires_in_seconds {
            return Err(
                "ciba.interval_seconds must be below ciba.expires_in_seconds, or no poll could \
                 succeed"
                    .into(),
            );
        }
        Ok(())
    }
}
/// How long a record outlives its expiry, so a late poll learns `expired_token` rather than
/// `invalid_grant`.
pub const EXPIRED_GRACE_SECONDS: i64 = 300;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/bc-authorize")
            .route(web::post().to(bc_authorize))
            .default_service(web::to(super::method_not_allowed)),
    );
}

#[derive(Serialize)]
struct Accepted {
    auth_req_id: String,
    expires_in: i64,
    interval: i64,
}

async fn bc_authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let body = read_form(&req, payload, state.max_body_bytes).await?;
    let outer = Params::parse(&body);
    if let Some(dup) = outer.first_duplicate() {
        return Err(OAuthError::invalid_request(format!(
            "parameter `{dup}` is included more than once"
        )));
    }
    let client = client_auth::authenticate(&req, &state, &outer).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client(
            "CIBA is for confidential clients: authenticate the client",
        ));
    }
    if !client.may_use(GrantType::Ciba) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!(
                "the client is not registered for grant_type={}",
                GrantType::Ciba
            ),
        ));
    }
    if outer.contains("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri is not supported; send the signed request by value (request)",
        ));
    }
    let params = match outer.get("request") {
        None => outer,
        Some(jwt) => {
            match request_object::unpack(&state, &client, &outer, jwt, Target::Backchannel).await {
                Ok(p) => p,
                Err(RequestObjectError::Invalid(d)) => {
                    return Err(OAuthError::new(ErrorCode::InvalidRequestObject, d))
                }
                Err(RequestObjectError::Unavailable(e)) => return Err(OAuthError::unavailable(e)),
            }
        }
    };

    // The profile: `login_hint` and only `login_hint` (section "CIBA", "Format of login_hint").
    for other in ["login_hint_token", "id_token_hint"] {
        if params.contains(other) {
            return Err(OAuthError::invalid_request(format!(
                "{other} is not supported: identify the user with login_hint only"
            )));
        }
    }
    let hint: LoginHint = params
        .get("login_hint")
        .ok_or_else(|| OAuthError::invalid_request("login_hint is missing"))?
        .parse()
        .map_err(|e: crate::protocol::login_hint::LoginHintError| {
            OAuthError::invalid_request(e.to_string())
        })?;
    let scope = match ScopeSet::parse(params.get("scope").unwrap_or("")) {
        Ok(s) => s,
        Err(ScopeError::Missing) => return Err(OAuthError::invalid_request("scope is missing")),
        Err(e) => return Err(OAuthError::new(ErrorCode::InvalidScope, e.to_string())),
    };
    scope
        .check_allowed(&client.scopes, &client.purposes)
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    // Before the hint is resolved (an operator token is spent by it): a request for no API
    // would spend a SIM proof on nothing.
    if scope.api.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "scope must name a purpose and API scopes",
        ));
    }

    let now = state.now();
    let ciba = state.ciba;
    // An address is the client's word about where a device connected from, and the answer
    // tells it who holds that address: only for clients registered to name devices so.
    if matches!(hint, LoginHint::IpPort(..)) && !client.ipport_hints {
        return Err(OAuthError::BackchannelDenied {
            description: "this client is not registered to name devices by address (ipport:)"
                .into(),
        });
    }
    let subscriber = subscriber(&state, &client.id, &hint, now).await?;
    let auth_req_id = random_id();
    let grant = BackchannelGrant {
        client_id: client.id.clone(),
        scope,
        phone_number: subscriber.phone_number,
        amr: subscriber.amr,
        auth_time: now,
        expires_at: now + ciba.expires_in_seconds,
    };
    let sealed = grant.seal(&auth_req_id).map_err(OAuthError::internal)?;
    let stored = state
        .store
        .put_if_absent(
            &keys::backchannel_request(&auth_req_id),
            &sealed,
            Duration::from_secs((ciba.expires_in_seconds + EXPIRED_GRACE_SECONDS) as u64),
        )
        .await
        .map_err(OAuthError::unavailable)?;
    if !stored {
        return Err(OAuthError::internal(
            "a new auth_req_id collides with a live one",
        ));
    }
    // The first poll, too, waits for the interval (CIBA §7.3); the key holds the interval in
    // force, which each early poll grows (endpoints::token::ciba).
    state
        .store
        .put(
            &keys::backchannel_poll(&auth_req_id),
            ciba.interval_seconds.to_string().as_bytes(),
            Duration::from_secs(ciba.interval_seconds as u64),
        )
        .await
        .map_err(OAuthError::unavailable)?;
    tracing::info!(client.id = %client.id, subscriber = %grant.phone_number.masked(),
        "backchannel authentication request accepted");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(Accepted {
            auth_req_id,
            expires_in: ciba.expires_in_seconds,
            interval: ciba.interval_seconds,
        }))
}

/// 256 random bits: the `auth_req_id` is the client's bearer handle on the grant (CIBA §7.3
/// asks for at least 128 bits of entropy).
fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The subscriber `hint` proves to `client_id`, or the CIBA §13 answer why not.
async fn subscriber(
    state: &AppState,
    client_id: &str,
    hint: &LoginHint,
    now: i64,
) -> Result<Subscriber, OAuthError> {
    let unknown = |d: &str| OAuthError::new(ErrorCode::UnknownUserId, d.to_owned());
    match hint {
        LoginHint::OperatorToken(raw) => {
            let token: OperatorToken =
                raw.parse()
                    .map_err(|e: crate::operator_token::OperatorTokenError| {
                        OAuthError::invalid_request(e.to_string())
                    })?;
            match state
                .operator_tokens
                .resolver()
                .resolve(&token, client_id)
                .await
            {
                Ok(proven) => Ok(Subscriber {
                    phone_number: proven.phone_number,
                    amr: vec![proven.amr],
                }),
                // Unknown, expired, spent or another client's: one answer, so a caller learns
                // nothing about tokens it does not hold.
                Err(Refusal::Unknown | Refusal::ForeignClient) => Err(unknown(
                    "the operator token is unknown, expired, already used or was issued for \
                     another client",
                )),
                Err(Refusal::Unavailable(cause)) => Err(OAuthError::unavailable(cause)),
            }
        }
        LoginHint::IpPort(ip, port) => state
            .identity
            .identify_address(
                &ClientAddr {
                    ip: *ip,
                    port: *port,
                },
                now,
            )
            .await
            .map_err(OAuthError::unavailable)?
            .ok_or_else(|| {
                unknown("no subscriber holds that address (and port) on the mobile network now")
            }),
        LoginHint::Phone(n) => {
            if state
                .identity
                .playground_number(n)
                .await
                .map_err(OAuthError::unavailable)?
            {
                return Ok(Subscriber {
                    phone_number: n.clone(),
                    amr: vec![Amr::Playground],
                });
            }
            // A number proves nothing about who holds the SIM: Number Verification would
            // confirm whatever the relying party claimed.
            Err(OAuthError::BackchannelDenied {
                description: "a tel: login_hint cannot prove the device's number: use \
                              operatortoken: or ipport:"
                    .into(),
            })
        }
    }
}
