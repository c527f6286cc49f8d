//! CAMARA Number Verification resource server.
//!
//! Relying parties call it with the encrypted access token from the authorization server:
//! `POST /number-verification/v2/verify` answers whether a phone number (or its SHA-256) is the
//! subscriber's, `GET /number-verification/v2/device-phone-number` returns it. The number comes
//! only from the `phone_number` claim inside the JWE; each token answers one call.
//!
//! Map of the crate:
//! - [`config`]: the typed settings tree (`NV_…` environment variables);
//! - [`startup`]: [`Application`] — binds, builds the state, runs; [`routes::configure`] is the
//!   route table;
//! - [`extractor`]: [`VerifiedAccessToken`], every token check and single use;
//! - [`token`]: `nv_token::opener::Opener` (decrypt, verify, claims; inline or on the blocking
//!   pool) and the accepted `amr`; [`issuer_keys`]: the AS's JWKS cache, the opener's
//!   `IssuerKeys`; [`keys`]: this server's decryption keys (generated in dev mode);
//! - [`error`]: [`ApiError`] → CAMARA `ErrorInfo`; [`body`]: JSON bodies with CAMARA errors;
//! - [`correlator`]: `x-correlator`; [`telemetry`]: logging and the request root span.
//!
//! `docs/number-verification.md` documents the endpoints, configuration and token checks.

pub mod body;
pub mod config;
pub mod correlator;
pub mod error;
pub mod extractor;
pub mod issuer_keys;
pub mod keys;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod token;

pub use config::{ConfigError, Settings};
pub use error::{ApiError, ApiVersion};
pub use extractor::{Operation, Subscriber, VerifiedAccessToken};
pub use startup::{Application, Dependencies, StartupError};
