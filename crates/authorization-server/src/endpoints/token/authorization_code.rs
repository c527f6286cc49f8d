//! `grant_type=authorization_code` (RFC 6749 §4.1.3, OIDC Core §3.1.3).

use super::issue::{self, record_ttl, Grant, TokenResponse};
use crate::clients::Client;
use crate::config::TokenRedirectUri;
use crate::error::OAuthError;
use crate::protocol::{CodeVerifier, Params};
use crate::state::records::{CodeGrant, Redemption, SealedRecord};
use crate::state::{keys, AppState};
use actix_web::web;

pub async fn redeem(
    state: &web::Data<AppState>,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let redirect_uri = params.get("redirect_uri");
    if redirect_uri.is_none() && client.compat.token_redirect_uri == TokenRedirectUri::Required {
        return Err(OAuthError::invalid_request("redirect_uri is missing"));
    }
    let verifier = match params.get("code_verifier") {
        Some(v) => {
            Some(CodeVerifier::parse(v).map_err(|e| OAuthError::invalid_grant(e.to_string()))?)
        }
        None => None,
    };
    // Atomic take: of two concurrent redemptions exactly one gets the grant. The code is consumed
    // even when a check below fails, so a wrong guess cannot be retried (RFC 6749 §10.5).
    let raw = state
        .store
        .take(&keys::code(code))
        .await
        .map_err(OAuthError::unavailable)?;
    let invalid = || OAuthError::invalid_grant("the code is invalid, expired or was already used");
    let Some(raw) = raw else {
        revoke_if_replayed(state, code).await;
        return Err(invalid());
    };
    let grant = CodeGrant::open(code, &raw).ok_or_else(invalid)?;
    let now = state.now();
    if grant.expires_at <= now {
        return Err(invalid());
    }
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    let redirect_matches = match (client.compat.token_redirect_uri, redirect_uri) {
        // RFC 6749 §4.1.3: "their values MUST be identical".
        (_, Some(sent)) if sent == grant.redirect_uri => true,
        // Compatibility profile: the value is not compared (the code was issued to a URI
        // registered by exact match at /authorize).
        (TokenRedirectUri::Ignored, _) => true,
        // Compatibility profile: omitted by a client with exactly one registered URI, which
        // the code was necessarily issued for (checked again, in case the registration changed).
        (TokenRedirectUri::OptionalWhenOne, None) => {
            client.redirect_uris == [grant.redirect_uri.as_str()]
        }
        _ => false,
    };
    if !redirect_matches {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&grant.code_challenge, &verifier) {
        (Some(challenge), Some(v)) if challenge.is_met_by(v) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match code_challenge",
            ))
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
        // RFC 9700 §4.8.2 (PKCE downgrade): a verifier for a code issued without a challenge.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but no code_challenge was",
            ))
        }
        (None, None) => {}
    }
    let grant = Grant {
        phone_number: grant.phone_number,
        amr: grant.amr,
        auth_time: grant.auth_time,
        scope: grant.scope,
        nonce: grant.nonce,
    };
    let response = issue::issue(state, client, grant, now).await?;
    remember_redemption(state, code, &response, now).await;
    Ok(response)
}

async fn remember_redemption(state: &AppState, code: &str, response: &TokenResponse, now: i64) {
    let record = Redemption {
        jti: response.jti.clone(),
        access_token_key: keys::access_token(&response.access_token),
        exp: now + response.expires_in,
    };
    let Ok(value) = serde_json::to_vec(&record) else {
        return;
    };
    // Best effort: the tokens are issued already; failing here only loses the revocation.
    if let Err(e) = state
        .store
        .put(
            &keys::redeemed_code(code),
            &value,
            record_ttl(record.exp, now),
        )
        .await
    {
        tracing::warn!(error.cause = %e, "could not record a code redemption");
    }
}

/// RFC 6749 §4.1.2: a code used more than once is refused, and what it issued is revoked —
/// someone other than the client may hold it (a stolen code redeemed first, then the client's
/// own attempt, or the other way round). The access token is marked spent where the resource
/// server checks single use (effective when both servers share the store) and dropped from
/// `/userinfo`.
async fn revoke_if_replayed(state: &AppState, code: &str) {
    let Ok(Some(raw)) = state.store.take(&keys::redeemed_code(code)).await else {
        return;
    };
    let Ok(r) = serde_json::from_slice::<Redemption>(&raw) else {
        return;
    };
    let now = state.now();
    // Until the token expires, plus the resource server's clock leeway.
    let ttl = record_ttl(r.exp + 300, now);
    let spent = state
        .store
        .put(&nv_token::spent_token_key(&r.jti), b"revoked", ttl)
        .await;
    let dropped = state.store.delete(&r.access_token_key).await;
    match (spent, dropped) {
        (Ok(()), Ok(_)) => {
            tracing::warn!(token.jti = %r.jti, "authorization code replayed: its tokens are revoked")
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error.cause = %e, token.jti = %r.jti, "authorization code replayed: revoking its tokens failed")
        }
    }
}
