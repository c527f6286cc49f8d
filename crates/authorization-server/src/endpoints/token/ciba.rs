//! `grant_type=urn:openid:params:grant-type:ciba` (CIBA Core §10.1, poll mode): redeem an
//! accepted backchannel request ([`crate::endpoints::backchannel`]) once.
//!
//! A poll sooner than `interval` after the request or the previous poll is `slow_down` (§11),
//! and the next one must then wait 5 s more; the throttle is its own store key, so no poll
//! ever writes the
//! request record back (a write-back racing a redemption on another replica could resurrect a
//! spent request). The record itself is taken atomically: of concurrent polls on any replicas,
//! exactly one gets the tokens.

use std::time::Duration;

use actix_web::web;

use super::issue::{self, Grant, TokenResponse};
use crate::clients::Client;

/// What `slow_down` adds to the interval (CIBA §11: at least 5 s).
const SLOW_DOWN_SECONDS: i64 = 5;
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
    let interval = state.ciba.interval_seconds;
    let may_poll = state
        .store
        .put_if_absent(
            &keys::backchannel_poll(auth_req_id),
            b"1",
            Duration::from_secs(interval as u64),
        )
        .await
        .map_err(OAuthError::unavailable)?;
    if !may_poll {
        // §11: the client must now wait 5 s more than the interval; a poll before that is
        // early again. Only the throttle key is written, never the request record.
        state
            .store
            .put(
                &keys::backchannel_poll(auth_req_id),
                b"1",
                Duration::from_secs((interval + SLOW_DOWN_SECONDS) as u64),
            )
            .await
            .map_err(OAuthError::unavailable)?;
        return Err(OAuthError::new(
            ErrorCode::SlowDown,
            format!(
                "polled sooner than the interval: wait {} s before the next poll",
                interval + SLOW_DOWN_SECONDS
            ),
        ));
    }
    // Single use: whoever takes the record redeems it.
    let raw = state
        .store
        .take(&key)
        .await
        .map_err(OAuthError::unavailable)?
        .ok_or_else(invalid)?;
    let grant = BackchannelGrant::open(auth_req_id, &raw).ok_or_else(invalid)?;
    let grant = Grant {
        phone_number: grant.phone_number,
        amr: grant.amr,
        auth_time: grant.auth_time,
        scope: grant.scope,
        nonce: None,
    };
    issue::issue(state, client, grant, now).await
}
