//! What handlers share, built once by [`crate::Application::build_with`] and registered as
//! `web::Data<AppState>`. Nothing in here is read from the configuration at request time.

use std::sync::Arc;

use nv_store::{Clock, Store};

use crate::token::TokenVerifier;

pub struct AppState {
    pub verifier: TokenVerifier,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// This server's public encryption JWKS, serialised once.
    pub public_jwks: String,
}
