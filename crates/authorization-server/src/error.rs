//! The error codes this server sends and the one mapping from an error to HTTP.
//!
//! - [`ErrorCode`]: every `error` value (RFC 6749 §4.1.2.1 and §5.2, OIDC Core §3.1.2.6, RFC 9101,
//!   RFC 6750 §3.1, RFC 8628 §3.5 / CIBA §11, RFC 9449), with its status;
//! - [`OAuthError`]: the RFC 6749 §5.2 JSON `{error, error_description}` of every endpoint but
//!   `/authorize`, the 404 and 405 included; its [`ResponseError`] impl decides status and
//!   `WWW-Authenticate`;
//! - [`crate::endpoints::authorize::AuthorizeError`] carries an [`OAuthError`] to a redirect, or
//!   to the HTML error page when the client or redirect URI cannot be trusted (ICM Appendix A).
//!
//! Nothing is logged here. The request's root span records the error's `Display` (code,
//! description and internal cause) and `Debug`, and one event ends the request
//! ([`crate::telemetry`]). The cause never reaches the caller, which sees the description only.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An internal cause, for the log only.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Every `error` code this server sends, and the ones the next grants need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // RFC 6749 §4.1.2.1 and §5.2.
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    // OIDC Core §3.1.2.6.
    LoginRequired,
    ConsentRequired,
    AccountSelectionRequired,
    // OIDC Core §6.2, RFC 9101 §6.
    InvalidRequestObject,
    RequestUriNotSupported,
    // RFC 6750 §3.1.
    InvalidToken,
    InsufficientScope,
    // RFC 8628 §3.5, CIBA §11 (polling at the token endpoint).
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    // CIBA §13 (the backchannel authentication endpoint).
    UnknownUserId,
    // RFC 9449 §5 and §8.
    InvalidDpopProof,
    UseDpopNonce,
    /// This server's own: an unknown path, a disabled or missing admin resource.
    NotFound,
    /// This server's own: the admin API with a wrong admin token.
    Forbidden,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 25] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidClient,
        ErrorCode::InvalidGrant,
        ErrorCode::UnauthorizedClient,
        ErrorCode::UnsupportedGrantType,
        ErrorCode::UnsupportedResponseType,
        ErrorCode::InvalidScope,
        ErrorCode::AccessDenied,
        ErrorCode::ServerError,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::LoginRequired,
        ErrorCode::ConsentRequired,
        ErrorCode::AccountSelectionRequired,
        ErrorCode::InvalidRequestObject,
        ErrorCode::RequestUriNotSupported,
        ErrorCode::InvalidToken,
        ErrorCode::InsufficientScope,
        ErrorCode::AuthorizationPending,
        ErrorCode::SlowDown,
        ErrorCode::ExpiredToken,
        ErrorCode::UnknownUserId,
        ErrorCode::InvalidDpopProof,
        ErrorCode::UseDpopNonce,
        ErrorCode::NotFound,
        ErrorCode::Forbidden,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::AccountSelectionRequired => "account_selection_required",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::UnknownUserId => "unknown_user_id",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Forbidden => "forbidden",
        }
    }

    /// The status of a JSON answer with this code.
    pub fn status(self) -> StatusCode {
        match self {
            // RFC 6749 §5.2: 401 for a failed client authentication.
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            // RFC 6750 §3.1.
            ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            // Everything else, the polling codes and DPoP's at the token endpoint included
            // (RFC 8628 §3.5, CIBA §11, RFC 9449 §5 and §8), is a 400.
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The challenge a JSON answer with this code carries when nothing more specific is known
    /// (RFC 6750 §3: a protected resource names the error in its challenge).
    fn challenge(self) -> Option<&'static str> {
        match self {
            ErrorCode::InvalidToken => Some(r#"Bearer error="invalid_token""#),
            ErrorCode::InsufficientScope => Some(r#"Bearer error="insufficient_scope""#),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `error_description` in the characters RFC 6749 allows (§4.1.2.1, §5.2: `%x20-21 /
/// %x23-5B / %x5D-7E`): `"` becomes `'`, anything else outside the set `?`. Descriptions may
/// quote what a client sent (a duplicated parameter's name, an `alg`); a raw CR or LF in them
/// would also forge lines in the text log (CWE-117), so this is applied to every description.
pub fn description_text(s: impl Into<String>) -> String {
    let s = s.into();
    let allowed = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
    if s.chars().all(allowed) {
        return s;
    }
    s.chars()
        .map(|c| match c {
            c if allowed(c) => c,
            '"' => '\'',
            _ => '?',
        })
        .collect()
}

/// An `error_description`: only [`Description::new`] makes one, so every description is in the
/// RFC 6749 characters ([`description_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn new(s: impl Into<String>) -> Self {
        Self(description_text(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Into<String>> From<S> for Description {
    fn from(s: S) -> Self {
        Self::new(s)
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a request failed, as the caller is told (code and description) and the log records it
/// (plus the internal cause, if any).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Refused with `code`, status [`ErrorCode::status`]; the description says what to fix. The
    /// server's own failures are here too (`server_error`, `temporarily_unavailable`), with the
    /// cause that only the log sees.
    #[error("{code}: {description}{}", CauseText(.cause))]
    Refused {
        code: ErrorCode,
        description: Description,
        #[source]
        cause: Option<Cause>,
    },
    /// `invalid_client` for a client that used HTTP Basic, or sent no credentials at all: RFC
    /// 6749 §5.2 answers 401 with the `Basic` challenge.
    #[error("invalid_client: {description}")]
    BasicRefused { description: Description },
    /// A protected resource was called without a bearer token: 401 `invalid_token`, and a
    /// challenge without an error code (RFC 6750 §3.1), naming `realm` if the resource has one.
    #[error("invalid_token: {description}")]
    TokenMissing {
        realm: Option<&'static str>,
        description: Description,
    },
    /// The bearer token was not issued for `scope`: 403 `insufficient_scope`, the challenge names
    /// the scope that would do (RFC 6750 §3.1).
    #[error("insufficient_scope: the access token was not issued for {scope}")]
    ScopeMissing { scope: &'static str },
    /// A body over `limit` bytes: 413, `invalid_request` (read without buffering it).
    #[error("invalid_request: the request body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// A method the endpoint does not serve: 405, `invalid_request`.
    #[error("invalid_request: method not allowed on this endpoint")]
    MethodNotAllowed,
    /// The backchannel authentication endpoint refuses the request before any user interaction:
    /// `access_denied` with 403 there (CIBA §13), where the token endpoint's is a 400 (§11).
    #[error("access_denied: {description}")]
    BackchannelDenied { description: Description },
}

/// `; cause: …` when there is one (the log form only).
struct CauseText<'a>(&'a Option<Cause>);

impl fmt::Display for CauseText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(cause) => write!(f, "; cause: {cause}"),
            None => Ok(()),
        }
    }
}

impl OAuthError {
    /// Refused with `code` and `description`.
    pub fn new(code: ErrorCode, description: impl Into<Description>) -> Self {
        OAuthError::Refused {
            code,
            description: description.into(),
            cause: None,
        }
    }

    /// Refused with `code` and `description`; `cause` is for the log.
    pub fn caused(
        code: ErrorCode,
        description: impl Into<Description>,
        cause: impl Into<Cause>,
    ) -> Self {
        OAuthError::Refused {
            code,
            description: description.into(),
            cause: Some(cause.into()),
        }
    }

    pub fn invalid_request(d: impl Into<Description>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_client(d: impl Into<Description>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    pub fn invalid_grant(d: impl Into<Description>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_token(d: impl Into<Description>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }

    pub fn not_found(d: impl Into<Description>) -> Self {
        Self::new(ErrorCode::NotFound, d)
    }

    /// A dependency (the shared store, the resource server's JWKS) is down: 503, retry later.
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::caused(
            ErrorCode::TemporarilyUnavailable,
            "the authorization server cannot complete the request right now; retry shortly",
            cause,
        )
    }

    /// A bug or an unexpected failure: 500, the detail for the log only.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::caused(ErrorCode::ServerError, "internal error", cause)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            OAuthError::Refused { code, .. } => *code,
            OAuthError::BasicRefused { .. } => ErrorCode::InvalidClient,
            OAuthError::TokenMissing { .. } => ErrorCode::InvalidToken,
            OAuthError::ScopeMissing { .. } => ErrorCode::InsufficientScope,
            OAuthError::BodyTooLarge { .. } | OAuthError::MethodNotAllowed => {
                ErrorCode::InvalidRequest
            }
            OAuthError::BackchannelDenied { .. } => ErrorCode::AccessDenied,
        }
    }

    /// The `error_description` the caller sees.
    pub fn description(&self) -> Cow<'_, str> {
        match self {
            OAuthError::Refused { description, .. }
            | OAuthError::BasicRefused { description }
            | OAuthError::TokenMissing { description, .. }
            | OAuthError::BackchannelDenied { description } => Cow::Borrowed(description.as_str()),
            OAuthError::ScopeMissing { scope } => {
                format!("the access token was not issued for {scope}").into()
            }
            OAuthError::BodyTooLarge { limit } => {
                format!("the request body exceeds {limit} bytes").into()
            }
            OAuthError::MethodNotAllowed => "method not allowed on this endpoint".into(),
        }
    }

    /// The `WWW-Authenticate` value, if the answer carries one.
    pub fn www_authenticate(&self) -> Option<Cow<'static, str>> {
        match self {
            OAuthError::BasicRefused { .. } => {
                Some(r#"Basic realm="token", charset="UTF-8""#.into())
            }
            OAuthError::TokenMissing { realm: None, .. } => Some("Bearer".into()),
            OAuthError::TokenMissing {
                realm: Some(realm), ..
            } => Some(format!(r#"Bearer realm="{realm}""#).into()),
            OAuthError::ScopeMissing { scope } => {
                Some(format!(r#"Bearer error="insufficient_scope", scope="{scope}""#).into())
            }
            _ => self.code().challenge().map(Cow::Borrowed),
        }
    }
}

/// The RFC 6749 §5.2 body.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            OAuthError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            OAuthError::BackchannelDenied { .. } => StatusCode::FORBIDDEN,
            _ => self.code().status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        // RFC 6749 §5.1 applies the same headers to error responses in practice: never cache.
        resp.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        resp.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        if let Some(challenge) = self.www_authenticate() {
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                resp.insert_header((header::WWW_AUTHENTICATE, v));
            }
        }
        if self.code() == ErrorCode::TemporarilyUnavailable {
            // RFC 9110 §10.2.3: the store reconnects within about a second.
            resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        resp.json(ErrorBody {
            error: self.code().as_str(),
            error_description: &self.description(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn descriptions_keep_to_the_rfc_6749_characters() {
        assert_eq!(
            description_text("plain `x` (a-z) 300 s"),
            "plain `x` (a-z) 300 s"
        );
        assert_eq!(
            description_text("parameter `a\r\nINFO tokens issued` twice"),
            "parameter `a??INFO tokens issued` twice"
        );
        assert_eq!(description_text("say \"hi\" \\ § é"), "say 'hi' ? ? ?");
        let e = OAuthError::invalid_request("line\nbreak");
        assert_eq!(e.description(), "line?break");
    }

    #[test]
    fn every_code_maps_to_its_status_and_challenge() {
        for code in ErrorCode::ALL {
            let (status, challenge) = match code {
                ErrorCode::InvalidClient => (401, None),
                ErrorCode::InvalidToken => (401, Some(r#"Bearer error="invalid_token""#)),
                ErrorCode::InsufficientScope => (403, Some(r#"Bearer error="insufficient_scope""#)),
                ErrorCode::Forbidden => (403, None),
                ErrorCode::NotFound => (404, None),
                ErrorCode::ServerError => (500, None),
                ErrorCode::TemporarilyUnavailable => (503, None),
                ErrorCode::InvalidRequest
                | ErrorCode::InvalidGrant
                | ErrorCode::UnauthorizedClient
                | ErrorCode::UnsupportedGrantType
                | ErrorCode::UnsupportedResponseType
                | ErrorCode::InvalidScope
                | ErrorCode::AccessDenied
                | ErrorCode::LoginRequired
                | ErrorCode::ConsentRequired
                | ErrorCode::AccountSelectionRequired
                | ErrorCode::InvalidRequestObject
                | ErrorCode::RequestUriNotSupported
                | ErrorCode::AuthorizationPending
                | ErrorCode::SlowDown
                | ErrorCode::ExpiredToken
                | ErrorCode::UnknownUserId
                | ErrorCode::InvalidDpopProof
                | ErrorCode::UseDpopNonce => (400, None),
            };
            let r = OAuthError::new(code, "d").error_response();
            assert_eq!(r.status().as_u16(), status, "{code}");
            let header = r.headers().get(header::WWW_AUTHENTICATE);
            assert_eq!(header.map(|v| v.to_str().unwrap()), challenge, "{code}");
            assert_eq!(
                r.headers().contains_key(header::RETRY_AFTER),
                code == ErrorCode::TemporarilyUnavailable,
                "{code}"
            );
            assert_eq!(
                r.headers().get(header::CACHE_CONTROL).unwrap(),
                "no-store",
                "{code}"
            );
        }
        // CIBA §13: the backchannel endpoint's access_denied is a 403.
        let denied = OAuthError::BackchannelDenied {
            description: "d".into(),
        };
        assert_eq!(denied.code(), ErrorCode::AccessDenied);
        assert_eq!(denied.error_response().status().as_u16(), 403);
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "one name per code");
    }

    #[test]
    fn the_challenges_say_what_the_401_or_403_needs() {
        let cases = [
            (
                OAuthError::BasicRefused {
                    description: "no".into(),
                },
                401,
                "invalid_client",
                Some(r#"Basic realm="token", charset="UTF-8""#),
            ),
            (
                OAuthError::TokenMissing {
                    realm: None,
                    description: "no".into(),
                },
                401,
                "invalid_token",
                Some("Bearer"),
            ),
            (
                OAuthError::TokenMissing {
                    realm: Some("admin"),
                    description: "no".into(),
                },
                401,
                "invalid_token",
                Some(r#"Bearer realm="admin""#),
            ),
            (
                OAuthError::ScopeMissing { scope: "openid" },
                403,
                "insufficient_scope",
                Some(r#"Bearer error="insufficient_scope", scope="openid""#),
            ),
            (
                OAuthError::BodyTooLarge { limit: 10 },
                413,
                "invalid_request",
                None,
            ),
            (OAuthError::MethodNotAllowed, 405, "invalid_request", None),
            (
                OAuthError::invalid_client("no"),
                401,
                "invalid_client",
                None,
            ),
        ];
        for (err, status, code, challenge) in cases {
            assert_eq!(err.code().as_str(), code, "{err}");
            let r = err.error_response();
            assert_eq!(r.status().as_u16(), status, "{err}");
            let header = r.headers().get(header::WWW_AUTHENTICATE);
            assert_eq!(header.map(|v| v.to_str().unwrap()), challenge, "{err}");
        }
    }

    #[test]
    fn causes_go_to_the_log_form_and_source_never_to_the_caller() {
        let err = OAuthError::unavailable("redis at 10.0.0.5 refused");
        assert!(!err.description().contains("10.0.0.5"));
        assert!(err.to_string().contains("10.0.0.5"), "{err}");
        assert_eq!(
            err.source().map(|s| s.to_string()).as_deref(),
            Some("redis at 10.0.0.5 refused")
        );
        let err = OAuthError::internal("stack");
        assert_eq!(
            (err.code(), err.description().as_ref()),
            (ErrorCode::ServerError, "internal error")
        );
        assert!(OAuthError::invalid_grant("x").source().is_none());
    }
}
