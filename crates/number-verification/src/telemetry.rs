//! Logging: one `tracing` subscriber for the binary, and the per-request root span.
//!
//! The root span (tracing-actix-web) carries the request id, method, route, status and the CAMARA
//! `x-correlator`; one event is emitted when a request ends, with the error's log form when it
//! failed — errors are logged once, here, at the boundary. Phone numbers appear only masked
//! (`PhoneNumber::masked`), tokens never.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::Error;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

pub use server_kit::telemetry::init;

/// The root span of every request. Unlike tracing-actix-web's default it records the path
/// without the query string (a client could put a phone number there) and the TCP peer rather
/// than a client IP taken from `Forwarded` headers anyone can write.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let peer = request
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.peer_ip = %peer,
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %nv_token::random_uuid(),
            // Filled in by the correlator middleware, which runs inside this span.
            x_correlator = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        let _entered = span.enter();
        // The span already carries the error (`exception.message` / `exception.details`).
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.response().error() {
                    Some(_) if status >= 500 => tracing::error!("request failed"),
                    Some(_) => tracing::info!("request refused"),
                    None => tracing::info!("request completed"),
                }
            }
            Err(_) => tracing::error!("request failed"),
        }
    }
}
