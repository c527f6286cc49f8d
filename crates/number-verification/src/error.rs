//! The one error type of the HTTP layer and its one mapping to CAMARA `ErrorInfo`
//! (`{"status", "code", "message"}`, CAMARA API Design Guide §3.1 / NV 2.1.0 `ErrorInfo`).
//!
//! Every failure path ends here: handlers, the token extractor, the JSON body extractor, the
//! `JsonConfig` / `PathConfig` / `QueryConfig` error handlers, the 404 default service and the
//! per-resource 405. The `Display` form is for the log (it may name an internal cause such as
//! "issuer x is not trusted"); the `message` sent to the caller is fixed per variant and says
//! what to fix without revealing internals. Neither ever contains a phone number or a token.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Which API family answered; the few codes that differ between versions depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// CAMARA Number Verification 0.3.1 (`/number-verification/v0`).
    V0,
    /// CAMARA Number Verification 1.0.0 (`/number-verification/v1`).
    V1,
    /// CAMARA Number Verification 2.1.0 (`/number-verification/v2`).
    V2,
    /// The Telefónica Open Gateway profile of seed 004 (`/number-verification/{verify,share}`).
    Seed004,
}

/// Why a bearer token was refused. Only the log sees the detail; the caller gets one 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("no Authorization header")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("{0}")]
    Invalid(nv_token::OpenError),
    #[error("the token was already used (single use)")]
    AlreadyUsed,
}

impl TokenRejection {
    /// The RFC 6750 §3 challenge. A request without credentials gets no error code (§3.1:
    /// "the resource server SHOULD NOT include an error code"); every other case is
    /// `invalid_token`.
    fn challenge(&self) -> &'static str {
        match self {
            TokenRejection::Missing | TokenRejection::NotBearer => {
                r#"Bearer realm="number-verification""#
            }
            TokenRejection::AlreadyUsed => {
                r#"Bearer realm="number-verification", error="invalid_token", error_description="The access token was already used; tokens for this API are single use""#
            }
            TokenRejection::Invalid(nv_token::OpenError::Expired) => {
                r#"Bearer realm="number-verification", error="invalid_token", error_description="The access token expired""#
            }
            _ => {
                r#"Bearer realm="number-verification", error="invalid_token", error_description="The access token is invalid""#
            }
        }
    }

    fn message(&self) -> &'static str {
        match self {
            TokenRejection::Missing => {
                "Request not authenticated: send the access token as `Authorization: Bearer <token>`."
            }
            TokenRejection::NotBearer => {
                "Request not authenticated: the Authorization header must use the Bearer scheme."
            }
            TokenRejection::AlreadyUsed => {
                "Request not authenticated: the access token was already used. Access tokens for this API are single use; request a new one."
            }
            TokenRejection::Invalid(nv_token::OpenError::Expired) => {
                "Request not authenticated: the access token expired. A new authentication is required."
            }
            _ => {
                "Request not authenticated due to missing, invalid, or expired credentials. A new authentication is required."
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body, a header or a parameter does not match the API schema.
    #[error("invalid argument: {0}")]
    InvalidArgument(Cow<'static, str>),
    /// 401 with `WWW-Authenticate`.
    #[error("unauthenticated: {0}")]
    Unauthenticated(TokenRejection),
    /// 403: the token lacks the operation's scope (RFC 6750 §3.1 `insufficient_scope`).
    #[error("token lacks scope {required}")]
    PermissionDenied { required: &'static str },
    /// 403: `amr` is not a network- or SIM-based method.
    #[error("token amr {amr:?} is not a mobile-network authentication")]
    NotAuthenticatedByMobileNetwork { amr: Vec<nv_token::Amr> },
    /// The token is genuine but names no phone number (0.3.1/1.0.0 `INVALID_TOKEN_CONTEXT`).
    #[error("token carries no usable phone_number")]
    InvalidTokenContext(ApiVersion),
    /// 422: a device identifier was sent with a 3-legged token, which already identifies it.
    #[error("device identifier sent with a 3-legged token")]
    UnnecessaryIdentifier,
    /// 403: the request's `device` names another number than the token's (seed-004 profile).
    #[error("device.phoneNumber differs from the token's")]
    DeviceMismatch,
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed (allowed: {allow})")]
    MethodNotAllowed { allow: &'static str },
    /// 503: a dependency (store, authorization-server JWKS) is down. Never an acceptance.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; the detail goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

/// CAMARA `ErrorInfo`.
#[derive(Debug, Serialize)]
pub struct ErrorInfo {
    pub status: u16,
    pub code: &'static str,
    pub message: Cow<'static, str>,
}

impl ApiError {
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::InvalidArgument(message.into())
    }

    /// The body sent to the caller.
    pub fn info(&self) -> ErrorInfo {
        let (code, message): (&'static str, Cow<'static, str>) = match self {
            ApiError::InvalidArgument(m) => ("INVALID_ARGUMENT", m.clone()),
            ApiError::Unauthenticated(r) => ("UNAUTHENTICATED", r.message().into()),
            ApiError::PermissionDenied { required } => (
                "PERMISSION_DENIED",
                format!(
                    "Client does not have sufficient permissions to perform this action: the access token lacks the scope `{required}`."
                )
                .into(),
            ),
            ApiError::NotAuthenticatedByMobileNetwork { .. } => (
                "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
                "Client must authenticate via the mobile network to use this service".into(),
            ),
            ApiError::InvalidTokenContext(version) => {
                let message = "Phone number cannot be deducted from access token context".into();
                match version {
                    // 0.3.1 `PhoneNumberVerificationPermissionDenied403`.
                    ApiVersion::V0 => ("NUMBER_VERIFICATION.INVALID_TOKEN_CONTEXT", message),
                    // 1.0.0 `GENERIC_403_INVALID_TOKEN_CONTEXT`.
                    ApiVersion::V1 => ("INVALID_TOKEN_CONTEXT", message),
                    // 2.1.0 dropped the code; its 403 enum allows PERMISSION_DENIED only.
                    ApiVersion::V2 => ("PERMISSION_DENIED", message),
                    // Seed 004 documents "422: Unable to determine phone number" (CAMARA
                    // Commonalities `UNIDENTIFIABLE_DEVICE`).
                    ApiVersion::Seed004 => (
                        "UNIDENTIFIABLE_DEVICE",
                        "The device cannot be identified from the access token.".into(),
                    ),
                }
            }
            ApiError::UnnecessaryIdentifier => (
                "UNNECESSARY_IDENTIFIER",
                "The device is already identified by the access token; do not send `device`."
                    .into(),
            ),
            ApiError::DeviceMismatch => (
                "INVALID_TOKEN_CONTEXT",
                "The `device` in the request is not the device the access token was issued for."
                    .into(),
            ),
            ApiError::NotFound => (
                "NOT_FOUND",
                "The requested resource does not exist. See /number-verification/v2/openapi.yaml for the API."
                    .into(),
            ),
            ApiError::MethodNotAllowed { allow } => (
                "METHOD_NOT_SUPPORTED",
                format!("This resource only supports {allow}.").into(),
            ),
            ApiError::Unavailable(_) => (
                "UNAVAILABLE",
                "Service temporarily unavailable. Retry later with a new access token if this one has expired.".into(),
            ),
            ApiError::Internal(_) => ("INTERNAL", "Server error".into()),
        };
        ErrorInfo {
            status: self.status_code().as_u16(),
            code,
            message,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied { .. }
            | ApiError::NotAuthenticatedByMobileNetwork { .. } => StatusCode::FORBIDDEN,
            ApiError::InvalidTokenContext(ApiVersion::Seed004) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidTokenContext(_) => StatusCode::FORBIDDEN,
            ApiError::UnnecessaryIdentifier => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::DeviceMismatch => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        // Error bodies carry no personal data, but they answer one specific request.
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            ApiError::Unauthenticated(rejection) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(rejection.challenge()),
                ));
            }
            ApiError::PermissionDenied { required } => {
                // RFC 6750 §3.1: tell the client which scope would have been enough.
                if let Ok(value) = HeaderValue::from_str(&format!(
                    r#"Bearer realm="number-verification", error="insufficient_scope", scope="{required}""#
                )) {
                    response.insert_header((header::WWW_AUTHENTICATE, value));
                }
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            _ => {}
        }
        response.json(self.info())
    }
}

impl From<actix_web::error::JsonPayloadError> for ApiError {
    fn from(e: actix_web::error::JsonPayloadError) -> Self {
        use actix_web::error::JsonPayloadError as J;
        match e {
            J::ContentType => {
                ApiError::invalid("The request body must be JSON (Content-Type: application/json).")
            }
            J::OverflowKnownLength { .. } | J::Overflow { .. } => {
                ApiError::invalid("The request body is too large.")
            }
            J::Deserialize(e) if e.is_eof() && e.line() == 1 && e.column() == 0 => {
                ApiError::invalid("The request body is missing: send a JSON object.")
            }
            J::Deserialize(_) => {
                ApiError::invalid("The request body is not valid JSON for this operation.")
            }
            _ => ApiError::invalid("The request body could not be read."),
        }
    }
}

/// `JsonConfig::error_handler`: JSON extractor failures become CAMARA 400s.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::from(err).into()
}

/// `PathConfig::error_handler`.
pub fn path_error_handler(
    _err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::invalid("A path parameter is not valid.").into()
}

/// `QueryConfig::error_handler`.
pub fn query_error_handler(
    _err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::invalid("A query parameter is not valid.").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_error_info_with_its_status() {
        let cases = [
            (ApiError::invalid("x"), 400, "INVALID_ARGUMENT"),
            (
                ApiError::Unauthenticated(TokenRejection::Missing),
                401,
                "UNAUTHENTICATED",
            ),
            (
                ApiError::PermissionDenied {
                    required: "number-verification:verify",
                },
                403,
                "PERMISSION_DENIED",
            ),
            (
                ApiError::NotAuthenticatedByMobileNetwork { amr: vec![] },
                403,
                "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
            ),
            (
                ApiError::InvalidTokenContext(ApiVersion::V0),
                403,
                "NUMBER_VERIFICATION.INVALID_TOKEN_CONTEXT",
            ),
            (
                ApiError::InvalidTokenContext(ApiVersion::V1),
                403,
                "INVALID_TOKEN_CONTEXT",
            ),
            (
                ApiError::InvalidTokenContext(ApiVersion::Seed004),
                422,
                "UNIDENTIFIABLE_DEVICE",
            ),
            (
                ApiError::UnnecessaryIdentifier,
                422,
                "UNNECESSARY_IDENTIFIER",
            ),
            (ApiError::NotFound, 404, "NOT_FOUND"),
            (
                ApiError::MethodNotAllowed { allow: "POST" },
                405,
                "METHOD_NOT_SUPPORTED",
            ),
            (ApiError::Unavailable("redis".into()), 503, "UNAVAILABLE"),
            (ApiError::Internal("bug".into()), 500, "INTERNAL"),
        ];
        for (err, status, code) in cases {
            let info = err.info();
            assert_eq!((info.status, info.code), (status, code), "{err:?}");
            assert_eq!(err.status_code().as_u16(), status);
            assert!(!info.message.is_empty());
        }
    }

    #[test]
    fn internal_causes_stay_out_of_the_body() {
        let err = ApiError::Unavailable("redis at 10.0.0.5 refused".into());
        assert!(!err.info().message.contains("10.0.0.5"));
        let err = ApiError::Internal("stack".into());
        assert!(!err.info().message.contains("stack"));
    }

    #[test]
    fn a_missing_token_gets_a_challenge_without_error_code() {
        let r = ApiError::Unauthenticated(TokenRejection::Missing).error_response();
        let challenge = r.headers().get(header::WWW_AUTHENTICATE).unwrap();
        assert_eq!(challenge, r#"Bearer realm="number-verification""#);
        let r = ApiError::Unauthenticated(TokenRejection::AlreadyUsed).error_response();
        let challenge = r.headers().get(header::WWW_AUTHENTICATE).unwrap();
        assert!(challenge
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#));
    }
}
