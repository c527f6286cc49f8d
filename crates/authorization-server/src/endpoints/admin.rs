//! The admin API: dynamic IP sessions (what the packet core would feed) and playground numbers.
//! Bearer admin token from configuration (`admin.token`); without one configured, the API does
//! not exist (404). 401 without a token, 403 with a wrong one. Bodies are JSON, validated strictly.

use std::time::Duration;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};
use ipnet::IpNet;
use nv_token::PhoneNumber;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{read_body, NO_SUCH_ENDPOINT};
use crate::config::{parse_ip_or_net, PortRange};
use crate::error::{ErrorCode, OAuthError};
use crate::network::sessions::{self, subscriber_network, Lease};
use crate::protocol::Params;
use crate::state::{keys, AppState};

/// Longest validity an admin may give a session or a playground number.
const MAX_VALIDITY: i64 = 30 * 24 * 3600;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/sessions")
            .route(web::get().to(list_sessions))
            .route(web::post().to(add_session))
            .route(web::delete().to(remove_session)),
    )
    .service(
        web::resource("/admin/playground-numbers")
            .route(web::get().to(list_numbers))
            .route(web::post().to(add_number)),
    )
    .route(
        "/admin/playground-numbers/{number}",
        web::delete().to(remove_number),
    )
    .configure(super::admin_cgnat::configure)
    .configure(super::entitlement::configure_admin);
}

pub(super) fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), OAuthError> {
    let Some(expected) = &state.admin_token else {
        return Err(OAuthError::not_found(NO_SUCH_ENDPOINT));
    };
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let Some(presented) = presented else {
        return Err(OAuthError::TokenMissing {
            realm: Some("admin"),
            description: "the admin API needs `Authorization: Bearer <admin token>`".into(),
        });
    };
    let a: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let b: [u8; 32] = Sha256::digest(expected.expose().as_bytes()).into();
    if bool::from(a.ct_eq(&b)) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::Forbidden,
            "the admin token is not valid",
        ))
    }
}

pub(super) async fn json_body<T: for<'de> Deserialize<'de>>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, OAuthError> {
    let body = read_body(req, payload, limit, "application/json").await?;
    // Strict (no duplicate members), and no error quotes the body: serde's messages would put
    // the value of a mistyped field — a phone number — into the answer and the log.
    let value = server_kit::json::parse(&body)
        .map_err(|e| OAuthError::invalid_request(format!("invalid JSON body: {e}")))?;
    serde_json::from_value(value).map_err(|e| {
        // serde names fields in these messages and quotes values in the others.
        let message = e.to_string();
        let names_a_field = ["unknown field", "missing field", "duplicate field"]
            .iter()
            .any(|p| message.starts_with(p));
        let what = if names_a_field {
            message
        } else {
            "a member has the wrong type or value (see docs/api.md)".to_owned()
        };
        OAuthError::invalid_request(format!("invalid JSON body: {what}"))
    })
}

fn validity(valid_for_seconds: Option<i64>, default: i64) -> Result<i64, OAuthError> {
    let v = valid_for_seconds.unwrap_or(default);
    if !(1..=MAX_VALIDITY).contains(&v) {
        return Err(OAuthError::invalid_request(format!(
            "valid_for_seconds must be 1..={MAX_VALIDITY}"
        )));
    }
    Ok(v)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    /// An address or a prefix.
    network: String,
    ports: Option<String>,
    msisdn: PhoneNumber,
    valid_for_seconds: Option<i64>,
}

#[derive(Serialize)]
struct SessionView {
    network: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<String>,
    msisdn: PhoneNumber,
    valid_until: i64,
}

/// An address or prefix that the resolver can look up (a /32, or an IPv6 /128, /64, /56, /48),
/// outside every trusted proxy's range (`sessions::subscriber_network`).
fn parse_network(s: &str, state: &AppState) -> Result<IpNet, OAuthError> {
    let net = parse_ip_or_net(s).map_err(OAuthError::invalid_request)?;
    subscriber_network(net, state.identity.trusted_proxies())
        .map_err(|e| OAuthError::invalid_request(e.to_string()))
}

fn parse_ports(p: Option<&str>) -> Result<Option<PortRange>, OAuthError> {
    p.map(|p| p.parse::<PortRange>().map_err(OAuthError::invalid_request))
        .transpose()
}

async fn add_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state)?;
    let new: NewSession = json_body(&req, payload, state.max_body_bytes).await?;
    let net = parse_network(&new.network, &state)?;
    let ports = parse_ports(new.ports.as_deref())?;
    let now = state.now();
    let valid_until = now + validity(new.valid_for_seconds, 3600)?;
    // One atomic field write: the same block reported again replaces its lease, other blocks
    // of the address are untouched even when their updates race with this one.
    let lease = Lease {
        msisdn: new.msisdn.clone(),
        valid_until,
    };
    sessions::put_lease(&*state.store, &net, ports, &lease, now)
        .await
        .map_err(OAuthError::unavailable)?;
    tracing::info!(session.network = %net, subscriber = %new.msisdn.masked(), "session added");
    Ok(HttpResponse::Created().json(SessionView {
        network: net.to_string(),
        ports: ports.map(|r| r.to_string()),
        msisdn: new.msisdn,
        valid_until,
    }))
}

async fn list_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state)?;
    let out: Vec<SessionView> = sessions::list(&*state.store, state.now())
        .await
        .map_err(OAuthError::unavailable)?
        .into_iter()
        .map(|r| SessionView {
            network: r.network.to_string(),
            ports: r.ports.map(|r| r.to_string()),
            msisdn: r.lease.msisdn,
            valid_until: r.lease.valid_until,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sessions": out })))
}

async fn remove_session(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state)?;
    let params = Params::parse(req.query_string().as_bytes());
    let net = parse_network(
        params.get("network").ok_or_else(|| {
            OAuthError::invalid_request("the `network` query parameter is required")
        })?,
        &state,
    )?;
    let ports = parse_ports(params.get("ports"))?;
    let removed = sessions::remove_lease(&*state.store, &net, ports)
        .await
        .map_err(OAuthError::unavailable)?;
    if !removed {
        return Err(OAuthError::not_found("no such session"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewNumber {
    phone_number: PhoneNumber,
    #[serde(rename = "valid_for_seconds", alias = "validForSeconds")]
    valid_for_seconds: Option<i64>,
}

async fn add_number(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state)?;
    let new: NewNumber = json_body(&req, payload, state.max_body_bytes).await?;
    let ttl = validity(new.valid_for_seconds, MAX_VALIDITY)?;
    state
        .store
        .put(
            &keys::playground_number(&new.phone_number),
            b"1",
            Duration::from_secs(ttl as u64),
        )
        .await
        .map_err(OAuthError::unavailable)?;
    Ok(HttpResponse::Created().json(
        serde_json::json!({"phoneNumber": new.phone_number, "valid_until": state.now() + ttl}),
    ))
}

async fn list_numbers(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state)?;
    let rows = state
        .store
        .scan_prefix(keys::PLAYGROUND_PREFIX)
        .await
        .map_err(OAuthError::unavailable)?;
    let mut numbers: Vec<String> = rows
        .into_iter()
        .map(|(k, _)| k.trim_start_matches(keys::PLAYGROUND_PREFIX).to_owned())
        .collect();
    let playground = state.identity.playground();
    numbers.extend(playground.numbers.iter().map(|n| n.as_str().to_owned()));
    numbers.sort();
    numbers.dedup();
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"playground": playground.enabled, "phoneNumbers": numbers})))
}

async fn remove_number(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state)?;
    let number: PhoneNumber = path
        .parse()
        .map_err(|e: nv_token::PhoneNumberError| OAuthError::invalid_request(e.to_string()))?;
    let deleted = state
        .store
        .delete(&keys::playground_number(&number))
        .await
        .map_err(OAuthError::unavailable)?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(OAuthError::not_found(
            "not a playground number added through this API",
        ))
    }
}
