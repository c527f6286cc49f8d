//! Logging for both servers: one `tracing` subscriber per process, level from `RUST_LOG`
//! (default `info`), text or JSON lines as the settings' `log.format` says; and the per-request
//! root span with its one closing event ([`RootSpan`]). Nothing personal is logged: phone
//! numbers appear masked, codes and tokens never.

use std::marker::PhantomData;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber. Fails if one is already installed (a second server in the
/// same process, as in the local stack, keeps the first).
pub fn init(format: LogFormat) -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal; log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// The one vocabulary of the per-request root span of both servers. tracing-actix-web's default
/// span records `http.target` with the query string — on `/authorize` that is the `login_hint`
/// (a phone number), on a redirect URI the code — and a client IP taken from `Forwarded`
/// headers anyone can write. This one records the path only and the matched route:
///
/// | field | what |
/// |---|---|
/// | `http.method`, `http.route`, `http.target` | the request, without its query string |
/// | `http.peer_ip` | the TCP peer, where [`Peer`] says it may be logged |
/// | `http.status_code`, `otel.kind`, `otel.status_code` | tracing-actix-web's |
/// | `request_id` | a random UUID |
/// | `x_correlator` | the CAMARA `x-correlator`, recorded by the server that has one |
/// | `exception.message`, `exception.details` | the error's log form, when the request failed |
///
/// The request ends with one event ([`RootSpan::on_request_end`]): `request completed`,
/// `request refused` (an error response below 500) or `request failed` (5xx), each with
/// `http.status`. A failed request is logged once, by that event.
pub struct RootSpan<P = NoPeer>(PhantomData<P>);

/// Whether a server's root span records the TCP peer's address.
pub trait Peer {
    const LOGGED: bool;
}

/// The peer is not logged: the authorization server's peer is the device (or a proxy in front
/// of it), whose address is decided — and logged masked — where the trusted-proxy rules apply.
pub struct NoPeer;

impl Peer for NoPeer {
    const LOGGED: bool = false;
}

/// The peer is logged: the resource server's callers are relying-party back ends.
pub struct TcpPeer;

impl Peer for TcpPeer {
    const LOGGED: bool = true;
}

impl<P: Peer> RootSpanBuilder for RootSpan<P> {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.peer_ip = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %nv_token::random_uuid(),
            x_correlator = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        );
        if P::LOGGED {
            let peer = request
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            span.record("http.peer_ip", peer.as_str());
        }
        span
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
