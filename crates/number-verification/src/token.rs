//! Opening an access token: [`nv_token::opener::Opener`] decrypts it with this server's key,
//! verifies the inner JWS with the authorization server's keys (refetched on an unknown `kid`
//! through [`crate::issuer_keys::IssuerKeyCache`]) and checks its claims, inline on the HTTP
//! worker or on the blocking pool (`server.crypto`; [`nv_token::dispatch`] has the
//! measurements). What is left here is this server's side: which `amr` values it accepts, and
//! the mapping of failures to its errors.

use nv_store::Clock;
use nv_token::opener::{OpenFailure, Opener};
use nv_token::{Amr, Opened};
use std::sync::Arc;

use crate::error::{ApiError, TokenRejection};

/// Everything needed to open tokens; one per application, shared by all workers.
pub struct TokenVerifier {
    pub opener: Opener,
    /// `amr` values that prove a mobile-network authentication (`tokens.accepted_amr`, with
    /// `playground` when accepted).
    pub accepted_amr: Vec<Amr>,
    pub clock: Arc<dyn Clock>,
}

impl TokenVerifier {
    /// Decrypt, verify and check `token` now.
    pub async fn open(&self, token: String) -> Result<Opened, ApiError> {
        self.opener
            .open(token, self.clock.now())
            .await
            .map_err(|e| match e {
                OpenFailure::Invalid(e) => ApiError::Unauthenticated(TokenRejection::Invalid(e)),
                OpenFailure::Unavailable(e) => ApiError::Unavailable(e.to_string()),
                OpenFailure::Crypto(e) => ApiError::Internal(e),
            })
    }
}
