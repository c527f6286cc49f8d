//! The OpenID Connect authorization server: silent network authentication, encrypted JWT access
//! tokens. `main.rs` is a thin wrapper around [`Application`]; tests start the same thing on port 0.
//!
//! Map of the crate:
//! - [`config`]: the typed configuration tree;
//! - [`startup`]: building the app, dev defaults, the route table;
//! - [`endpoints`]: one module per endpoint (`authorize`, `token/*`, `userinfo`, `discovery`, …);
//! - [`network`]: identification (the playground short-cut, client address behind trusted
//!   proxies, identity resolvers) and the RADIUS accounting feed;
//! - [`protocol`]: the authorization request, scopes and purpose, PKCE, `login_hint`, request
//!   objects, as types;
//! - [`state`]: what handlers share, the store key layout and the records stored under it;
//! - [`error`]: the error codes and the one mapping to HTTP;
//! - [`clients`], [`keys`], [`recipient`], [`remote`] (fetched key documents), [`subject`].

pub mod clients;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod keys;
pub mod network;
pub mod operator_token;
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
