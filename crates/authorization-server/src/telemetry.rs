//! Logging: the subscriber and the per-request root span come from the shared kit
//! (`server_kit::telemetry`: `log.format`, `RUST_LOG`, one field vocabulary for both servers).
//! The span ends with one event: `request completed`, `request refused` (an
//! [`crate::error::OAuthError`] or an `AuthorizeError`, whose log form the span carries) or
//! `request failed` (5xx). The TCP peer is not in the span: it is the device or a proxy, and the
//! client address is decided (and logged masked) where the trusted-proxy rules apply.

pub use server_kit::telemetry::init;

/// The per-request root span, without the peer address.
pub type RootSpan = server_kit::telemetry::RootSpan<server_kit::telemetry::NoPeer>;
