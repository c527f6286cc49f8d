//! The OpenID Connect authorization server: silent network authentication, encrypted JWT access
//! tokens. `main.rs` is a thin wrapper around [`Application`]; tests start the same thing on port 0.
//!
//! Map of the crate:
//! - [`config`]: the typed configuration tree;
//! - [`startup`]: building the app, dev defaults, the route table;
//! - [`endpoints`]: one module per endpoint (`authorize`, `token/*`, `userinfo`, `discovery`, …);
//! - [`network`]: client address (trusted proxies) and identity resolvers;
//! - [`protocol`]: scopes, PKCE, `login_hint`, request parameters as types;
//! - [`clients`], [`keys`], [`recipient`], [`remote`] (fetched key documents), [`subject`],
//!   [`state`], [`error`].

pub mod clients;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod keys;
pub mod network;
pub mod protocol;
pub mod recipient;
pub mod remote;
pub mod sealed;
pub mod startup;
pub mod state;
pub mod subject;
pub mod telemetry;

pub use config::Settings;
pub use startup::{Application, Dependencies, StartupError};
