//! The CAMARA `x-correlator` header (NV 2.1.0 `XCorrelator`, `^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$`):
//! validated, echoed on every response — errors and 404s included — and generated (UUID v4) when
//! the request has none, so a caller can always quote it to the operator. It is recorded as the
//! `x_correlator` field of the request's root span.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::ResponseError;

use crate::error::ApiError;

pub const X_CORRELATOR: HeaderName = HeaderName::from_static("x-correlator");

/// Whether `value` matches the spec pattern. The class `-_:;./<>{}` plus ASCII letters and
/// digits; the `-_` in the pattern is a literal `-` and `_` (a leading `-` is literal in ECMA
/// regex), not a range.
pub fn is_valid(value: &str) -> bool {
    value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:;./<>{}".contains(&b))
}

/// Middleware (`actix_web::middleware::from_fn`).
pub async fn correlate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let sent = req.headers().get(&X_CORRELATOR).map(|v| v.to_str().ok());
    let (id, valid) = match sent {
        // The pattern allows an empty value; treat it as absent so the caller gets a usable id.
        Some(Some("")) | None => (nv_token::random_uuid().to_string(), true),
        Some(Some(v)) if is_valid(v) => (v.to_owned(), true),
        // Present but malformed: reject (CAMARA: 400 INVALID_ARGUMENT) and answer with a fresh
        // id rather than reflecting the bad value.
        Some(_) => (nv_token::random_uuid().to_string(), false),
    };
    tracing::Span::current().record("x_correlator", id.as_str());
    let header = HeaderValue::from_str(&id).ok();
    let mut response = if valid {
        next.call(req).await?.map_into_boxed_body()
    } else {
        let error = ApiError::invalid(
            "The x-correlator header must match ^[a-zA-Z0-9-_:;.\\/<>{}]{0,256}$.",
        );
        let response = error.error_response();
        req.into_response(response).map_into_boxed_body()
    };
    if let Some(header) = header {
        response.headers_mut().insert(X_CORRELATOR, header);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_pattern_is_enforced() {
        for ok in [
            "",
            "b4333c46-49c0-4f62-80d7-f0ef930f1c46",
            "a:b;c.d/e<f>{g}_h",
            &"a".repeat(256),
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in ["a b", "é", "a\"b", "a,b", "a\\b", &"a".repeat(257)] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
