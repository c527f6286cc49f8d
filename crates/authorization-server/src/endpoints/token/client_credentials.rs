//! `grant_type=client_credentials` (RFC 6749 §4.4): a 2-legged token, the client acting for
//! itself, for the scopes registered for it as 2-legged (`two_legged_scopes`). The CAMARA
//! profile makes `scope` required ("Access Token Request"). Number Verification scopes name a
//! subscriber's number, so they are 3-legged only: `invalid_scope`, with the flows that do
//! identify one named in the description.

use actix_web::web;

use super::issue::{self, TokenResponse};
use crate::clients::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::Params;
use crate::state::AppState;

pub async fn redeem(
    state: &web::Data<AppState>,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4: confidential clients only (a public client's id is no credential).
    if client.is_public() {
        return Err(OAuthError::invalid_client(
            "the client-credentials grant is for confidential clients: authenticate the client",
        ));
    }
    let raw = params.get("scope").ok_or_else(|| {
        OAuthError::invalid_request("scope is missing: the client-credentials grant requires it")
    })?;
    let refuse = |d: String| OAuthError::new(ErrorCode::InvalidScope, d);
    let mut scopes: Vec<&str> = Vec::new();
    for scope in raw.split(' ').filter(|s| !s.is_empty()) {
        if scope.parse::<nv_token::ApiScope>().is_ok() {
            return Err(refuse(format!(
                "`{scope}` is 3-legged only: it needs a subscriber (the authorization code, \
                 JWT-bearer or CIBA grant)"
            )));
        }
        if scope == "openid" {
            return Err(refuse(
                "openid needs a user: a client-credentials token has none".into(),
            ));
        }
        if !client.two_legged_scopes.iter().any(|s| s == scope) {
            return Err(refuse(format!(
                "`{scope}` is not registered for this client as a 2-legged scope"
            )));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(OAuthError::invalid_request(
            "scope is missing: the client-credentials grant requires it",
        ));
    }
    issue::issue_for_client(state, client, scopes.join(" "), state.now()).await
}
