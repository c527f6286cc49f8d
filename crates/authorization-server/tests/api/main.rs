//! Integration tests: the real authorization server on port 0, spoken to over HTTP.

mod helpers;

mod admin;
mod authorize;
mod ciba;
mod client_auth;
mod client_credentials;
mod compat;
mod discovery;
mod errors;
mod jwt_bearer;
mod keys;
mod network;
mod operator_tokens;
mod remote_keys;
mod request_object;
mod token;
mod userinfo;
