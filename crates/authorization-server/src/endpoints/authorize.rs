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
use crate::error::{Description, ErrorCode, OAuthError};
use crate::network::{Subscriber, Unidentified};
use crate::protocol::request_object::{self, RequestObjectError};
use crate::protocol::{CodeChallenge, LoginHint, Params, ScopeError, ScopeSet};
use crate::state::records::CodeGrant;
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
    /// The HTML error page (the client or redirect URI cannot be trusted).
    pub fn page(code: ErrorCode, description: impl Into<Description>) -> Self {
        AuthorizeError::Page(OAuthError::new(code, description))
    }

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
    outer: Params,
) -> Result<HttpResponse, AuthorizeError> {
    let params = &outer;
    // 1. Client and redirect URI: errors here are never redirected.
    let page = AuthorizeError::page;
    if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
        return Err(page(
            ErrorCode::InvalidRequest,
            "client_id and redirect_uri must each be given once",
        ));
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| page(ErrorCode::InvalidRequest, "client_id is missing"))?;
    let client = state.clients.get(client_id).ok_or_else(|| {
        page(
            ErrorCode::InvalidClient,
            "client_id is not a registered client",
        )
    })?;
    // OIDC Core §3.1.2.1 makes redirect_uri REQUIRED.
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| page(ErrorCode::InvalidRequest, "redirect_uri is missing"))?;
    if !client.redirect_uri_registered(redirect_uri) {
        return Err(page(
            ErrorCode::InvalidRequest,
            "redirect_uri is not registered for this client (exact match required)",
        ));
    }

    // 2. From here on, errors go back to the client.
    let fail_with_state =
        |client_state: Option<&str>, error: OAuthError| AuthorizeError::Redirect {
            to: redirect_uri.to_owned(),
            error,
            state: client_state.map(str::to_owned),
            iss: state.issuer.clone(),
        };
    {
        let fail = |error| fail_with_state(params.get("state"), error);
        if let Some(dup) = params.first_duplicate() {
            return Err(fail(OAuthError::invalid_request(format!(
                "parameter `{dup}` is included more than once"
            ))));
        }
        if params.contains("request_uri") {
            return Err(fail(OAuthError::new(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported; send the request object by value (request)",
            )));
        }
    }
    // A signed request object (OIDC Core §6.1, RFC 9101; a MUST of the CAMARA profile): once it
    // verifies, every parameter but the four that must match comes from it, `state` included.
    let signed;
    let params = match outer.get("request") {
        None => params,
        Some(jwt) => match request_object::unpack(state, &client, &outer, jwt).await {
            Ok(p) => {
                signed = p;
                &signed
            }
            Err(RequestObjectError::Invalid(d)) => {
                return Err(fail_with_state(
                    outer.get("state"),
                    OAuthError::new(ErrorCode::InvalidRequestObject, d),
                ));
            }
            Err(RequestObjectError::Unavailable(e)) => {
                return Err(fail_with_state(
                    outer.get("state"),
                    OAuthError::caused(ErrorCode::TemporarilyUnavailable, UNAVAILABLE, e),
                ));
            }
        },
    };
    let client_state = params.get("state").map(str::to_owned);
    let fail = |error: OAuthError| fail_with_state(client_state.as_deref(), error);
    let refuse = |code: ErrorCode, description: String| fail(OAuthError::new(code, description));
    match params.get("response_type") {
        None => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "response_type is missing".into(),
            ))
        }
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported".into(),
            ))
        }
    }
    if params.get("response_mode").is_some_and(|m| m != "query") {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "only response_mode=query is supported".into(),
        ));
    }
    let scopes = match ScopeSet::parse(params.get("scope").unwrap_or("")) {
        Ok(s) => s,
        Err(ScopeError::Missing) => {
            return Err(refuse(ErrorCode::InvalidRequest, "scope is missing".into()))
        }
        Err(e) => return Err(refuse(ErrorCode::InvalidScope, e.to_string())),
    };
    scopes
        .check_allowed(&client.scopes, &client.purposes)
        .map_err(|e| refuse(ErrorCode::InvalidScope, e.to_string()))?;
    let challenge = CodeChallenge::from_request(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    )
    .map_err(|e| refuse(ErrorCode::InvalidRequest, e.to_string()))?;
    if challenge.is_none() && client.is_public() {
        // RFC 9700 §2.1.1 / ICM Appendix A: PKCE is required for public clients.
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "code_challenge (PKCE, S256) is required for public clients".into(),
        ));
    }
    let prompt_none = check_prompt(params.get("prompt")).map_err(|(e, d)| refuse(e, d.into()))?;
    if let Some(max_age) = params.get("max_age") {
        // Every authentication here is a fresh network lookup, so any max_age is met (OIDC Core
        // §3.1.2.1); only its syntax can be wrong.
        max_age.parse::<u64>().map_err(|_| {
            refuse(
                ErrorCode::InvalidRequest,
                "max_age must be a non-negative integer".into(),
            )
        })?;
    }
    let hint = match params.get("login_hint") {
        Some(h) => Some(
            h.parse::<LoginHint>()
                .map_err(|e| refuse(ErrorCode::InvalidRequest, e.to_string()))?,
        ),
        None => None,
    };
    let nonce = params.get("nonce").map(str::to_owned);

    // 3. Who is it?
    let now = state.now();
    let subscriber = state
        .identity
        .identify(req.peer_addr(), req.headers(), hint.as_ref(), now)
        .await;
    let Subscriber { phone_number, amr } = match subscriber {
        Ok(found) => found,
        Err(Unidentified::Store(e)) => {
            return Err(fail(OAuthError::caused(
                ErrorCode::TemporarilyUnavailable,
                "the network identity service is unavailable; retry shortly",
                e,
            )));
        }
        Err(why) => {
            // OIDC Core §3.1.2.6 when the request itself says prompt=none; ICM Appendix A otherwise.
            let code = if prompt_none {
                ErrorCode::LoginRequired
            } else {
                ErrorCode::AccessDenied
            };
            return Err(fail(match why {
                // A proxy misconfiguration or a tampered request: the detail is for the
                // operator's log, not for the client, which must not learn how the proxies are
                // set up.
                Unidentified::Forwarding(e) => OAuthError::caused(
                    code,
                    "the subscriber could not be identified from the mobile network: the \
                     request's forwarding headers do not identify the device",
                    e,
                ),
                _ => OAuthError::new(
                    code,
                    "the subscriber could not be identified from the mobile network: the request \
                     did not come from a mobile data connection known to this operator",
                ),
            }));
        }
    };

    // 4. Issue the code.
    let code = random_token();
    let grant = CodeGrant {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scopes,
        nonce,
        code_challenge: challenge,
        phone_number,
        amr,
        auth_time: now,
        expires_at: now + state.code_ttl_seconds,
    };
    let value = grant
        .seal(&code)
        .map_err(|e| fail(OAuthError::internal(e)))?;
    let ttl = Duration::from_secs(state.code_ttl_seconds as u64);
    match state
        .store
        .put_if_absent(&keys::code(&code), &value, ttl)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(refuse(
                ErrorCode::ServerError,
                "code collision; retry".into(),
            ))
        }
        Err(e) => {
            return Err(fail(OAuthError::caused(
                ErrorCode::TemporarilyUnavailable,
                UNAVAILABLE,
                e,
            )))
        }
    }
    tracing::info!(client.id = %client.id, subscriber = %grant.phone_number.masked(), amr = ?grant.amr, "code issued");
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &client_state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &state.issuer));
    Ok(redirect(redirect_uri, &pairs))
}

/// What `/authorize` answers when the store or a client's keys cannot be reached.
const UNAVAILABLE: &str = "the authorization server is unavailable; retry shortly";

/// `prompt` (OIDC Core §3.1.2.1). Returns whether it was `none`.
fn check_prompt(prompt: Option<&str>) -> Result<bool, (ErrorCode, &'static str)> {
    let Some(prompt) = prompt else {
        return Ok(false);
    };
    let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
    if values.contains(&"none") && values.len() > 1 {
        return Err((
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    for v in &values {
        match *v {
            // A silent network authentication is always fresh: login is met, none is honoured.
            "none" | "login" => {}
            "consent" => {
                return Err((
                    ErrorCode::ConsentRequired,
                    "this server cannot show a consent page",
                ))
            }
            "select_account" => {
                return Err((
                    ErrorCode::AccountSelectionRequired,
                    "the account is the SIM in the device; there is nothing to select",
                ))
            }
            _ => return Err((ErrorCode::InvalidRequest, "prompt has an unknown value")),
        }
    }
    Ok(values.contains(&"none"))
}

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

    #[test]
    fn prompt_values() {
        assert_eq!(check_prompt(None), Ok(false));
        assert_eq!(check_prompt(Some("none")), Ok(true));
        assert_eq!(check_prompt(Some("login")), Ok(false));
        assert_eq!(
            check_prompt(Some("consent")).unwrap_err().0,
            ErrorCode::ConsentRequired
        );
        assert_eq!(
            check_prompt(Some("select_account")).unwrap_err().0,
            ErrorCode::AccountSelectionRequired
        );
        assert_eq!(
            check_prompt(Some("none login")).unwrap_err().0,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            check_prompt(Some("bogus")).unwrap_err().0,
            ErrorCode::InvalidRequest
        );
    }
}
