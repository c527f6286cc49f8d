//! `/authorize` (OIDC Core §3.1.2), `response_type=code` only, never a login page: the subscriber
//! is identified from the network (or, in playground mode, from a test-number `login_hint`).
//!
//! Error handling follows CAMARA ICM Appendix A: a missing/unknown client or a redirect URI that
//! is not registered exactly is shown on an HTML page and never redirected (an open redirector
//! otherwise); every other error is redirected with `error`, `error_description`, `state`, `iss`.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use super::read_form;
use crate::clients::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::network::{Subscriber, Unidentified};
use crate::protocol::authorization_request::{
    AuthorizationRequest, Prompt, RedirectUri, Requester,
};
use crate::protocol::login_hint::LoginHintError;
use crate::protocol::request_object::{self, RequestObjectError, Target};
use crate::protocol::{GrantType, Params};
use crate::state::records::{CodeGrant, SealedRecord};
use crate::state::{keys, AppState};

pub enum AuthorizeError {
    /// Not redirected: the client or redirect URI cannot be trusted. 400 with the HTML page.
    Page(OAuthError),
    /// Back to the client: a 302 to `to` with `error`, `error_description`, `state` and `iss`
    /// (RFC 6749 §4.1.2.1, RFC 9207).
    Redirect {
        to: String,
        error: OAuthError,
        state: Option<String>,
        iss: String,
    },
}

impl AuthorizeError {
    pub fn error(&self) -> &OAuthError {
        match self {
            AuthorizeError::Page(error) | AuthorizeError::Redirect { error, .. } => error,
        }
    }
}

/// Without `state` and the redirect URI's query: `state` is the client's value (it may bind a
/// session), and this Debug form ends up in the request span (`exception.details`).
impl std::fmt::Debug for AuthorizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthorizeError::Page(error) => f.debug_tuple("Page").field(error).finish(),
            AuthorizeError::Redirect { error, state, .. } => f
                .debug_struct("Redirect")
                .field("error", error)
                .field("state", &state.as_ref().map(|_| "[redacted]"))
                .finish_non_exhaustive(),
        }
    }
}

/// The log form: the error's, cause included.
impl std::fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error().fmt(f)
    }
}

impl std::error::Error for AuthorizeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error().source()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    error: &'a str,
    description: &'a str,
}

impl ResponseError for AuthorizeError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthorizeError::Page(_) => StatusCode::BAD_REQUEST,
            AuthorizeError::Redirect { .. } => StatusCode::FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.error().code().as_str();
        let description = self.error().description();
        match self {
            AuthorizeError::Page(_) => {
                let html = ErrorPage {
                    error: code,
                    description: &description,
                }
                .render()
                .unwrap_or_else(|_| format!("{code}: {description}"));
                HttpResponse::BadRequest()
                    .content_type("text/html; charset=utf-8")
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .body(html)
            }
            AuthorizeError::Redirect { to, state, iss, .. } => {
                let mut pairs = vec![("error", code), ("error_description", &description)];
                if let Some(s) = state {
                    pairs.push(("state", s));
                }
                pairs.push(("iss", iss));
                redirect(to, &pairs)
            }
        }
    }
}

/// A 302 to `base` with `pairs` appended to its query (RFC 6749 §4.1.2: keep existing query).
fn redirect(base: &str, pairs: &[(&str, &str)]) -> HttpResponse {
    let location = match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.to_string()
        }
        Err(_) => base.to_owned(),
    };
    match HeaderValue::from_str(&location) {
        Ok(v) => HttpResponse::Found()
            .insert_header((header::LOCATION, v))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(_) => HttpResponse::BadRequest().body("invalid redirect"),
    }
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AuthorizeError> {
    let params = Params::parse(req.query_string().as_bytes());
    authorize(&req, &state, params).await
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, AuthorizeError> {
    let body = read_form(&req, payload, state.max_body_bytes)
        .await
        .map_err(AuthorizeError::Page)?;
    authorize(&req, &state, Params::parse(&body)).await
}

async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    params: Params,
) -> Result<HttpResponse, AuthorizeError> {
    // 1. Who asks, and where the answer may go: errors here are never redirected.
    let requester = Requester::parse(&params, &state.clients).map_err(AuthorizeError::Page)?;
    // 2. From here on, errors go back to the client.
    let reply = Reply {
        to: requester.redirect_uri.clone(),
        iss: state.issuer.clone(),
    };
    // RFC 6749 §4.1.2.1: a client not registered for the code flow (a backend registered for
    // JWT-bearer or CIBA only) may not start one.
    if !requester.client.may_use(GrantType::AuthorizationCode) {
        return Err(reply.error(
            OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client is not registered for the authorization_code grant",
            ),
            params.get("state"),
        ));
    }
    let params = match signed_parameters(state, &requester.client, &params).await {
        Ok(signed) => signed.unwrap_or(params),
        Err(e) => return Err(reply.error(e, params.get("state"))),
    };
    // 3. The request, parsed once.
    let request = AuthorizationRequest::parse(requester, &params)
        .map_err(|e| reply.error(e, params.get("state")))?;
    let client_state = request.state.as_deref();
    // In playground mode the hint is the identity: one set aside would quietly turn into a
    // network lookup, so it stays an error there.
    if request.unsupported_login_hint && state.identity.playground().enabled {
        return Err(reply.error(
            OAuthError::invalid_request(LoginHintError::UnknownFormat.to_string()),
            client_state,
        ));
    }
    // 4. Who is it?
    let now = state.now();
    let subscriber = state
        .identity
        .identify(
            req.peer_addr(),
            req.headers(),
            request.login_hint.as_ref(),
            now,
        )
        .await
        .map_err(|why| reply.error(unidentified(why, request.prompt), client_state))?;
    // 5. The code.
    let code = issue_code(state, &request, subscriber, now)
        .await
        .map_err(|e| reply.error(e, client_state))?;
    Ok(reply.code(&code, client_state))
}

/// Where answers go once the redirect URI is trusted: to it, with `iss` (RFC 9207).
struct Reply {
    to: RedirectUri,
    iss: String,
}

impl Reply {
    fn error(&self, error: OAuthError, state: Option<&str>) -> AuthorizeError {
        AuthorizeError::Redirect {
            to: self.to.as_str().to_owned(),
            error,
            state: state.map(str::to_owned),
            iss: self.iss.clone(),
        }
    }

    fn code(&self, code: &str, state: Option<&str>) -> HttpResponse {
        let mut pairs = vec![("code", code)];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", &self.iss));
        redirect(self.to.as_str(), &pairs)
    }
}

/// The parameters of a signed request object (OIDC Core §6.1, RFC 9101; a MUST of the CAMARA
/// profile), if `params` carry one: once it verifies, every parameter but the four that must
/// match comes from it, `state` included. `None`: the plain parameters are the request.
async fn signed_parameters(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Option<Params>, OAuthError> {
    if let Some(dup) = params.first_duplicate() {
        return Err(OAuthError::invalid_request(format!(
            "parameter `{dup}` is included more than once"
        )));
    }
    if params.contains("request_uri") {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported; send the request object by value (request)",
        ));
    }
    let Some(jwt) = params.get("request") else {
        return Ok(None);
    };
    match request_object::unpack(state, client, params, jwt, Target::Authorization).await {
        Ok(signed) => Ok(Some(signed)),
        Err(RequestObjectError::Invalid(d)) => {
            Err(OAuthError::new(ErrorCode::InvalidRequestObject, d))
        }
        Err(RequestObjectError::Unavailable(e)) => Err(OAuthError::caused(
            ErrorCode::TemporarilyUnavailable,
            UNAVAILABLE,
            e,
        )),
    }
}

/// The answer when nobody was identified.
pub(super) fn unidentified(why: Unidentified, prompt: Prompt) -> OAuthError {
    // OIDC Core §3.1.2.6 when the request itself says prompt=none; ICM Appendix A otherwise.
    let code = match prompt {
        Prompt::None => ErrorCode::LoginRequired,
        Prompt::Unspecified | Prompt::Login => ErrorCode::AccessDenied,
    };
    match why {
        Unidentified::Store(e) => OAuthError::caused(
            ErrorCode::TemporarilyUnavailable,
            "the network identity service is unavailable; retry shortly",
            e,
        ),
        // A proxy misconfiguration or a tampered request: the detail is for the operator's log,
        // not for the client, which must not learn how the proxies are set up.
        Unidentified::Forwarding(e) => OAuthError::caused(
            code,
            "the subscriber could not be identified from the mobile network: the request's \
             forwarding headers do not identify the device",
            e,
        ),
        Unidentified::Unknown => OAuthError::new(
            code,
            "the subscriber could not be identified from the mobile network: the request did \
             not come from a mobile data connection known to this operator",
        ),
    }
}

/// A fresh code for `request` and `subscriber`, its grant stored until it expires.
async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    subscriber: Subscriber,
    now: i64,
) -> Result<String, OAuthError> {
    let code = random_token();
    let grant = CodeGrant {
        client_id: request.client.id.clone(),
        redirect_uri: request.redirect_uri.as_str().to_owned(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        phone_number: subscriber.phone_number,
        amr: subscriber.amr,
        auth_time: now,
        expires_at: now + state.code_ttl_seconds,
    };
    let value = grant.seal(&code).map_err(OAuthError::internal)?;
    let ttl = Duration::from_secs(state.code_ttl_seconds as u64);
    match state
        .store
        .put_if_absent(&keys::code(&code), &value, ttl)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(OAuthError::new(
                ErrorCode::ServerError,
                "code collision; retry",
            ))
        }
        Err(e) => {
            return Err(OAuthError::caused(
                ErrorCode::TemporarilyUnavailable,
                UNAVAILABLE,
                e,
            ))
        }
    }
    tracing::info!(client.id = %grant.client_id, subscriber = %grant.phone_number.masked(), amr = ?grant.amr, "code issued");
    Ok(code)
}

/// What `/authorize` answers when the store or a client's keys cannot be reached.
const UNAVAILABLE: &str = "the authorization server is unavailable; retry shortly";

/// 256 random bits, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_never_prints_the_client_state() {
        let e = AuthorizeError::Redirect {
            to: "https://rp.example/cb".into(),
            error: OAuthError::new(ErrorCode::AccessDenied, "no"),
            state: Some("client-state-f00d".into()),
            iss: "https://as.example".into(),
        };
        let debug = format!("{e:?}");
        assert!(!debug.contains("client-state-f00d"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
}
