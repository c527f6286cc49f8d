//! One error type per HTTP surface:
//! - [`OAuthError`]: RFC 6749 §5.2 JSON `{error, error_description}` (token, userinfo, admin);
//! - [`crate::endpoints::authorize::AuthorizeError`]: a redirect to the client, or the HTML error
//!   page when the client or redirect URI cannot be trusted (ICM Appendix A).
//!
//! Internal causes are logged once here and never sent to the caller.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct OAuthError {
    pub error: &'static str,
    pub error_description: String,
    #[serde(skip)]
    pub status: StatusCode,
    /// `WWW-Authenticate` value, for 401s (RFC 6749 §5.2, RFC 6750 §3).
    #[serde(skip)]
    pub www_authenticate: Option<String>,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.error_description)
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

impl OAuthError {
    fn new(error: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description_text(description),
            status,
            www_authenticate: None,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, d)
    }

    /// RFC 6749 §5.2: 401 for client authentication failures.
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", StatusCode::UNAUTHORIZED, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, d)
    }

    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST, d)
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", StatusCode::BAD_REQUEST, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", StatusCode::BAD_REQUEST, d)
    }

    pub fn invalid_token(d: impl Into<String>) -> Self {
        let mut e = Self::new("invalid_token", StatusCode::UNAUTHORIZED, d);
        e.www_authenticate = Some("Bearer error=\"invalid_token\"".into());
        e
    }

    /// A dependency (the shared store, the resource server's JWKS) is down: 503, retry later.
    pub fn temporarily_unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error.cause = %cause, "dependency unavailable");
        Self::new(
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "the authorization server cannot complete the request right now; retry shortly",
        )
    }

    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error.cause = %cause, "internal error");
        Self::new(
            "server_error",
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        )
    }

    pub fn with_www_authenticate(mut self, value: impl Into<String>) -> Self {
        self.www_authenticate = Some(value.into());
        self
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_client_error() {
            tracing::info!(oauth.error = self.error, oauth.error_description = %self.error_description, "request refused");
        }
        let mut resp = HttpResponse::build(self.status);
        // RFC 6749 §5.1 applies the same headers to error responses in practice: never cache.
        resp.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        resp.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        if let Some(v) = &self.www_authenticate {
            if let Ok(v) = HeaderValue::from_str(v) {
                resp.insert_header((header::WWW_AUTHENTICATE, v));
            }
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // RFC 9110 §10.2.3: the store reconnects within about a second.
            resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        resp.json(self)
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(e.error_description, "line?break");
    }
}
