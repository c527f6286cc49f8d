//! Protocol values as types: parse once at the edge, then handlers work with valid values only.

pub mod authorization_request;
pub mod client_jwt;
pub mod grant_type;
pub mod login_hint;
pub mod params;
pub mod pkce;
pub mod request_object;
pub mod scope;

pub use grant_type::GrantType;
pub use login_hint::LoginHint;
pub use params::Params;
pub use pkce::{CodeChallenge, CodeVerifier};
pub use scope::{Purpose, ScopeError, ScopeSet};
