//! Logging: the subscriber comes from the shared kit (`log.format`, `RUST_LOG`); here, the
//! per-request root span, which ends with one event: `request completed`, `request refused`
//! (an [`crate::error::OAuthError`] or an `AuthorizeError`, whose log form the span carries) or
//! `request failed` (5xx). Nothing personal is logged: phone numbers appear masked, codes and
//! tokens never.

pub use server_kit::telemetry::init;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// The per-request root span. tracing-actix-web's default records `http.target` with the query
/// string — on `/authorize` that is the `login_hint` (a phone number), on a redirect URI the
/// code — and a client IP taken from `Forwarded` headers anyone can write. This one records the
/// path only and the matched route; the client address is decided (and logged masked) where
/// the trusted-proxy rules apply.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %nv_token::random_uuid(),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        // Records the error's log form in the span (`exception.message`: code, description and
        // cause; `exception.details`): errors are logged once, here, by the one event below.
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        let _entered = span.enter();
        match outcome {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.response().error() {
                    _ if status >= 500 => tracing::error!(http.status = status, "request failed"),
                    Some(_) => tracing::info!(http.status = status, "request refused"),
                    None => tracing::info!(http.status = status, "request completed"),
                }
            }
            Err(_) => tracing::error!("request failed"),
        }
    }
}
