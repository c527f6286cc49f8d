//! `grant_type=urn:openid:params:grant-type:ciba` (CIBA Core §10.1, poll mode): redeem an
//! accepted backchannel request ([`crate::endpoints::backchannel`]) once.
//!
//! A poll sooner than `interval` after the request or the previous poll is `slow_down` (§11),
//! and each one adds 5 s to the interval in force; the throttle is its own store key, so no
//! poll ever writes the
//! request record back (a write-back racing a redemption on another replica could resurrect a
//! spent request). The record itself is taken atomically: of concurrent polls on any replicas,
//! exactly one gets the tokens.

use std::time::Duration;

use actix_web::web;

use super::issue::{self, Grant, TokenResponse};
use crate::clients::Client;

/// What `slow_down` adds to the interval (CIBA §11: at least 5 s).
const SLOW_DOWN_SECONDS: i64 = 5;
/// The interval stops growing here: a request lives at most 600 s anyway.
const MAX_INTERVAL_SECONDS: i64 = 600;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::Params;
use crate::state::records::{BackchannelGrant, SealedRecord};
use crate::state::{keys, AppState};

pub async fn redeem(
    state: &web::Data<AppState>,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let auth_req_id = params
        .get("auth_req_id")
        .ok_or_else(|| OAuthError::invalid_request("auth_req_id is missing"))?;
    let key = keys::backchannel_request(auth_req_id);
    let invalid = || OAuthError::invalid_grant("auth_req_id is invalid or was already used");
    let raw = state
        .store
        .get(&key)
        .await
        .map_err(OAuthError::unavailable)?
        .ok_or_else(invalid)?;
    let grant = BackchannelGrant::open(auth_req_id, &raw).ok_or_else(invalid)?;
    // Another client's: refused without spending it (the rightful client may still poll).
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "auth_req_id was issued to another client",
        ));
    }
    let now = state.now();
    if now >= grant.expires_at {
        // Best effort: the record expires by itself anyway.
        let _ = state.store.delete(&key).await;
        return Err(OAuthError::new(
            ErrorCode::ExpiredToken,
            "auth_req_id has expired: send a new backchannel authentication request",
        ));
    }
    // The throttle key holds the interval in force; it exists while a poll would be early.
    let throttle = keys::backchannel_poll(auth_req_id);
    let interval = state.ciba.interval_seconds;
    let may_poll = state
        .store
        .put_if_absent(
            &throttle,
            interval.to_string().as_bytes(),
            Duration::from_secs(interval as u64),
        )
        .await
        .map_err(OAuthError::unavailable)?;
    if !may_poll {
        // §11: the interval grows by 5 s for this and every later request: each early poll
        // adds 5 s to the one in force. Only the throttle key is written, never the record.
        let in_force = state
            .store
            .get(&throttle)
            .await
            .map_err(OAuthError::unavailable)?
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<i64>().ok())
            .unwrap_or(interval);
        let wait = in_force
            .saturating_add(SLOW_DOWN_SECONDS)
            .min(MAX_INTERVAL_SECONDS);
        state
            .store
            .put(
                &throttle,
                wait.to_string().as_bytes(),
                Duration::from_secs(wait as u64),
            )
            .await
            .map_err(OAuthError::unavailable)?;
        return Err(OAuthError::new(
            ErrorCode::SlowDown,
            format!("polled sooner than the interval: wait {wait} s before the next poll"),
        ));
    }
    // Single use: whoever takes the record redeems it. Records are written once and never
    // rewritten, so what was taken is what was opened above.
    state
        .store
        .take(&key)
        .await
        .map_err(OAuthError::unavailable)?
        .ok_or_else(invalid)?;
    let grant = Grant {
        phone_number: grant.phone_number,
        amr: grant.amr,
        auth_time: grant.auth_time,
        scope: grant.scope,
        nonce: None,
    };
    issue::issue(state, client, grant, now).await
}
