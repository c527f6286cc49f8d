//! The one token-issuing service every grant ends in: seal the access token (sign, then encrypt
//! to the resource server), sign the ID token when `openid` was granted, and record the token for
//! `/userinfo`. A grant decides *who* and *what*; this decides *how*.

use std::time::Duration;

use actix_web::web;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_token::{seal, AccessTokenClaims, Amr, Audience, ClientAccessTokenClaims, PhoneNumber};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clients::Client;
use crate::error::OAuthError;
use crate::protocol::ScopeSet;
use crate::state::records::IssuedToken;
use crate::state::{keys, AppState};
use crate::subject::pairwise_sub;

/// What a grant established: the subscriber, how and when they were identified, and what the
/// client was granted.
#[derive(Debug)]
pub struct Grant {
    pub phone_number: PhoneNumber,
    /// How the subscriber was identified (`amr`).
    pub amr: Vec<Amr>,
    pub auth_time: i64,
    /// The granted scopes.
    pub scope: ScopeSet,
    /// The authorization request's `nonce`, for the ID token.
    pub nonce: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The access token's `jti`, for revocation; not part of the response.
    #[serde(skip)]
    pub jti: String,
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    azp: &'a str,
    amr: &'a [Amr],
}

pub async fn issue(
    state: &web::Data<AppState>,
    client: &Client,
    grant: Grant,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let policy = &state.access_token;
    let sub = pairwise_sub(&client.sector, &grant.phone_number, &state.pairwise_salt);
    let has_api_scope = !grant.scope.api.is_empty();
    let openid = grant.scope.openid;
    // RFC 9068 §3: the audience is every server the token is for. With an API scope, the
    // resource server; with `openid`, this server too (its /userinfo); the resource server checks
    // that it is named, /userinfo that this server is.
    let audience = match (has_api_scope, openid) {
        (true, true) => Audience::Many(vec![policy.audience.clone(), state.issuer.clone()]),
        (true, false) => Audience::One(policy.audience.clone()),
        (false, _) => Audience::One(state.issuer.clone()),
    };
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        sub,
        aud: audience,
        client_id: client.id.clone(),
        scope: grant.scope.to_scope_string(),
        iat: now,
        nbf: None,
        exp: now + policy.ttl_seconds,
        jti: nv_token::random_uuid().to_string(),
        amr: grant.amr,
        auth_time: grant.auth_time,
        phone_number: grant.phone_number,
    };
    let recipient = state
        .recipient
        .get()
        .await
        .map_err(OAuthError::unavailable)?;
    if let Some(alg) = client.id_token_alg {
        if state.signing.for_alg(alg).is_none() {
            return Err(OAuthError::internal(format!(
                "client wants {} ID tokens but no such key is loaded",
                alg.name()
            )));
        }
    }
    let id_token_alg = client.id_token_alg;
    let nonce = grant.nonce;
    let content = policy.content_encryption;
    // Inline on this worker, or on the blocking pool one job per worker (`server.crypto`; inline
    // measured faster for every profile, see nv_token::dispatch).
    let worker_state = state.clone();
    let (access_token, id_token, claims) = state
        .crypto
        .run(move || -> Result<_, String> {
            let state = worker_state;
            let access_token = seal(&claims, state.signing.current(), &recipient, content)
                .map_err(|e| e.to_string())?;
            let id_token = if openid {
                let key = id_token_alg
                    .and_then(|a| state.signing.for_alg(a))
                    .unwrap_or_else(|| state.signing.current());
                let id_claims = IdTokenClaims {
                    iss: &claims.iss,
                    sub: &claims.sub,
                    aud: &claims.client_id,
                    exp: claims.exp,
                    iat: claims.iat,
                    auth_time: claims.auth_time,
                    nonce: nonce.as_deref(),
                    at_hash: at_hash(&access_token),
                    azp: &claims.client_id,
                    amr: &claims.amr,
                };
                Some(
                    key.sign_json(Some("JWT"), &id_claims)
                        .map_err(|e| e.to_string())?,
                )
            } else {
                None
            };
            Ok((access_token, id_token, claims))
        })
        .await
        .map_err(OAuthError::internal)?
        .map_err(OAuthError::internal)?;

    let record = IssuedToken {
        sub: claims.sub.clone(),
        client_id: claims.client_id.clone(),
        scope: grant.scope,
        exp: claims.exp,
        aud: claims.aud.clone(),
    };
    let record = serde_json::to_vec(&record).map_err(OAuthError::internal)?;
    state
        .store
        .put(
            &keys::access_token(&access_token),
            &record,
            record_ttl(claims.exp, now),
        )
        .await
        .map_err(OAuthError::unavailable)?;
    tracing::info!(client.id = %claims.client_id, token.jti = %claims.jti, token.scope = %claims.scope, "tokens issued");
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: claims.exp - now,
        scope: claims.scope,
        id_token,
        jti: claims.jti,
    })
}

/// A 2-legged access token: the client acting for itself (client credentials), no subscriber,
/// no ID token and nothing for `/userinfo`. Sealed like every access token, for the resource
/// server's audience.
pub async fn issue_for_client(
    state: &web::Data<AppState>,
    client: &Client,
    scope: String,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let policy = &state.access_token;
    let claims = ClientAccessTokenClaims {
        iss: state.issuer.clone(),
        // RFC 9068 §2.2: with no resource owner, the subject is the client.
        sub: client.id.clone(),
        aud: Audience::One(policy.audience.clone()),
        client_id: client.id.clone(),
        scope,
        iat: now,
        exp: now + policy.ttl_seconds,
        jti: nv_token::random_uuid().to_string(),
    };
    let recipient = state
        .recipient
        .get()
        .await
        .map_err(OAuthError::unavailable)?;
    let content = policy.content_encryption;
    let worker_state = state.clone();
    let (access_token, claims) = state
        .crypto
        .run(move || {
            seal(&claims, worker_state.signing.current(), &recipient, content)
                .map(|token| (token, claims))
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(OAuthError::internal)?
        .map_err(OAuthError::internal)?;
    tracing::info!(client.id = %claims.client_id, token.jti = %claims.jti, token.scope = %claims.scope, "2-legged token issued");
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: claims.exp - now,
        scope: claims.scope,
        id_token: None,
        jti: claims.jti,
    })
}

/// OIDC Core §3.1.3.6: the left half of SHA-256 of the access token, base64url (RS256/PS256/ES256
/// all use SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

pub fn record_ttl(exp: i64, now: i64) -> Duration {
    Duration::from_secs((exp - now).max(1) as u64)
}
