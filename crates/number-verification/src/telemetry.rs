//! Logging: the subscriber and the per-request root span come from the shared kit
//! (`server_kit::telemetry`: `log.format`, `RUST_LOG`, one field vocabulary for both servers).
//!
//! The root span carries the request id, method, route, status, the TCP peer (a relying-party
//! back end) and the CAMARA `x-correlator` (recorded by [`crate::correlator`]); one event is
//! emitted when a request ends, with the error's log form when it failed — errors are logged
//! once, there, at the boundary. Phone numbers appear only masked (`PhoneNumber::masked`),
//! tokens never.

pub use server_kit::telemetry::init;

/// The per-request root span, with the TCP peer rather than a client IP taken from `Forwarded`
/// headers anyone can write.
pub type RootSpan = server_kit::telemetry::RootSpan<server_kit::telemetry::TcpPeer>;
