//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1), as the CAMARA
//! Security and Interoperability Profile has it (section "JWT Bearer Flow"):
//!
//! - the assertion **is** the client authentication: signed with a key the client registered,
//!   `iss` the client; no other client authentication is sent beside it;
//! - `aud` one value naming the token endpoint (the issuer is accepted too); `exp` at most 300 s
//!   after receipt, `iat` not after it, `exp - iat` at most 300 s; `jti` once on every replica;
//! - the `scope` **claim** is mandatory (a purpose and API scopes), a `scope` parameter is
//!   `invalid_request`;
//! - `sub` is the subscriber, in the `login_hint` formats: `operatortoken:…` (resolved and spent,
//!   issued for this client) or `tel:+…` only from a client registered as trusted to assert
//!   numbers, whose tokens then say so in `amr` (neither network nor SIM).
//!
//! Errors: `invalid_grant` for an assertion or operator token that is bad, expired, replayed or
//! another client's (RFC 7523 §3.1 and the profile's table); `invalid_client` when no registered
//! client signed it.

use std::sync::Arc;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest};
use nv_token::jwt::{AudienceRule, RegisteredClaims, ReplayMark};
use nv_token::keys::{peek_jws_header, peek_jws_payload, VerifyError};
use nv_token::Amr;
use serde::Deserialize;

use super::issue::{self, Grant, TokenResponse};
use crate::clients::{Client, ClientJwsError, CLIENT_JWS_ALGS};
use crate::error::{ErrorCode, OAuthError};
use crate::operator_token::{OperatorToken, Refusal};
use crate::protocol::{client_jwt, LoginHint, Params, ScopeError, ScopeSet};
use crate::state::{keys, AppState};

#[derive(Deserialize)]
struct Claims {
    #[serde(flatten)]
    registered: RegisteredClaims,
    sub: Option<String>,
    scope: Option<String>,
}

fn invalid(d: impl Into<String>) -> OAuthError {
    OAuthError::invalid_grant(d.into())
}

/// The client the assertion in `params` authenticates (RFC 7523 §3: the grant's own signature),
/// and the verified claims.
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
) -> Result<(Arc<Client>, Verified), OAuthError> {
    // The profile: the assertion is the client's authentication, so a second one beside it
    // would leave two answers to "who is asking?".
    if req.headers().contains_key(AUTHORIZATION)
        || ["client_secret", "client_assertion", "client_assertion_type"]
            .iter()
            .any(|p| params.contains(p))
    {
        return Err(OAuthError::invalid_request(
            "the jwt-bearer assertion authenticates the client: send no other client \
             authentication",
        ));
    }
    if params.contains("scope") {
        return Err(OAuthError::invalid_request(
            "scope must not be sent with the jwt-bearer grant: put it in the assertion's scope \
             claim",
        ));
    }
    let jwt = params
        .get("assertion")
        .ok_or_else(|| OAuthError::invalid_request("assertion is missing"))?;
    let header = peek_jws_header(jwt).map_err(|_| invalid("the assertion is not a signed JWT"))?;
    let alg = header.algorithm().unwrap_or("");
    // Allow-list before any key is touched: no `none`, no HMAC (RFC 8725 §2.1).
    if !CLIENT_JWS_ALGS.iter().any(|a| a.name() == alg) {
        return Err(invalid(format!(
            "the assertion alg `{alg}` is not accepted (RS256, PS256, ES256)"
        )));
    }
    // Parsed before the signature only to find the keys; once the signature over exactly
    // these bytes verifies, this parse is the verified content.
    let claims: Claims = peek_jws_payload(jwt)
        .ok_or_else(|| invalid("the assertion claims are not a JSON object"))?;
    let iss = claims
        .registered
        .iss
        .as_deref()
        .ok_or_else(|| invalid("the assertion has no iss"))?;
    if params.get("client_id").is_some_and(|id| id != iss) {
        return Err(OAuthError::invalid_request(
            "client_id does not match the assertion's iss",
        ));
    }
    let client = state.clients.get(iss).ok_or_else(|| {
        OAuthError::invalid_client("the assertion's iss is not a registered client")
    })?;
    client
        .verify_jws(jwt, &header, &CLIENT_JWS_ALGS)
        .await
        .map_err(|e| match e {
            ClientJwsError::NoKeys => OAuthError::invalid_client(
                "no keys are registered for this client, so its assertions cannot be verified",
            ),
            ClientJwsError::KeysUnavailable(cause) => OAuthError::caused(
                ErrorCode::TemporarilyUnavailable,
                "the client's jwks_uri could not be fetched; retry shortly",
                cause,
            ),
            ClientJwsError::Invalid(VerifyError::UnknownKey(_)) => {
                invalid("the assertion is signed with a key that is not registered (kid)")
            }
            ClientJwsError::Invalid(VerifyError::BadSignature) => {
                invalid("the assertion signature does not verify")
            }
            ClientJwsError::Invalid(_) => invalid("the assertion is malformed"),
        })?;
    let verified = check_claims(state, &client, claims)?;
    Ok((client, verified))
}

/// What a verified assertion asks for.
pub struct Verified {
    sub: String,
    scope: String,
    mark: ReplayMark,
}

fn check_claims(state: &AppState, client: &Client, c: Claims) -> Result<Verified, OAuthError> {
    const ISSUER: &str = "the assertion iss must be the client_id";
    const AUDIENCE: &str =
        "the assertion aud must be one value: the token endpoint (or the issuer)";
    // One audience naming this server's token endpoint (or its issuer): an array that merely
    // contains it would accept an assertion made for several servers (the 2025 OpenID
    // Foundation disclosure on assertion audiences); see `AudienceRule::Only`. `exp` at most
    // 300 s after receipt, `iat` required and not after it, `exp - iat` at most 300 s.
    let token_endpoint = state.token_endpoint();
    let audiences = [token_endpoint.as_str(), state.issuer.as_str()];
    let policy = client_jwt::policy(
        &client.id,
        AudienceRule::Only(&audiences),
        true,
        state.client_jwt.leeway_seconds,
        state.now(),
    );
    let mark = client_jwt::check(
        &c.registered.borrowed(),
        &policy,
        "the assertion",
        ISSUER,
        AUDIENCE,
    )
    .map_err(invalid)?;
    let sub = c.sub.ok_or_else(|| invalid("the assertion has no sub"))?;
    let scope = c
        .scope
        .ok_or_else(|| invalid("the assertion has no scope claim (a purpose and API scopes)"))?;
    Ok(Verified { sub, scope, mark })
}

pub async fn redeem(
    state: &web::Data<AppState>,
    client: &Client,
    verified: Verified,
) -> Result<TokenResponse, OAuthError> {
    let scope = match ScopeSet::parse(&verified.scope) {
        Ok(s) => s,
        Err(ScopeError::Missing) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "the assertion's scope claim is empty",
            ))
        }
        Err(e) => return Err(OAuthError::new(ErrorCode::InvalidScope, e.to_string())),
    };
    if scope.api.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "the assertion's scope claim must name a purpose and API scopes",
        ));
    }
    scope
        .check_allowed(&client.scopes, &client.purposes)
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    // The profile: `tel:` or `operatortoken:`, prefixed (the bare E.164 form `login_hint`
    // tolerates is not a `sub` of this grant).
    if !(verified.sub.starts_with("tel:") || verified.sub.starts_with("operatortoken:")) {
        return Err(invalid(
            "the assertion sub must be operatortoken:<token> or tel:+<E.164>",
        ));
    }
    let hint: LoginHint = verified
        .sub
        .parse()
        .map_err(|_| invalid("the assertion sub must be operatortoken:<token> or tel:+<E.164>"))?;
    // Spent before the subscriber is resolved: a replayed assertion never reaches the
    // entitlement backend, and never spends another operator token.
    let first = state
        .first_use(&keys::assertion_jti(&verified.mark), &verified.mark)
        .await
        .map_err(OAuthError::unavailable)?;
    if !first {
        return Err(invalid("the assertion was already used (jti replay)"));
    }
    let (phone_number, amr) = match hint {
        LoginHint::OperatorToken(raw) => {
            let token: OperatorToken = raw
                .parse()
                .map_err(|e: crate::operator_token::OperatorTokenError| invalid(e.to_string()))?;
            match state
                .operator_tokens
                .resolver()
                .resolve(&token, &client.id)
                .await
            {
                Ok(proven) => (proven.phone_number, proven.amr),
                Err(Refusal::Unknown | Refusal::ForeignClient) => {
                    return Err(invalid(
                        "the operator token is unknown, expired, already used or was issued \
                         for another client",
                    ))
                }
                Err(Refusal::Unavailable(cause)) => return Err(OAuthError::unavailable(cause)),
            }
        }
        LoginHint::Phone(n) => {
            if client.trusted_number_assertion {
                (n, Amr::Asserted)
            } else if state
                .identity
                .playground_number(&n)
                .await
                .map_err(OAuthError::unavailable)?
            {
                (n, Amr::Playground)
            } else {
                // A number proves nothing about who holds the SIM: an invalid assertion for this
                // client (RFC 7523 §3.1, the profile's table), not a grant it may not use.
                return Err(invalid(
                    "this client is not trusted to assert numbers: sub must be an operator token \
                     (operatortoken:<token>)",
                ));
            }
        }
        LoginHint::IpPort(..) => {
            return Err(invalid(
                "the assertion sub must be operatortoken:<token> or tel:+<E.164>",
            ))
        }
    };
    let now = state.now();
    let grant = Grant {
        phone_number,
        amr: vec![amr],
        auth_time: now,
        scope,
        nonce: None,
    };
    issue::issue(state, client, grant, now).await
}
