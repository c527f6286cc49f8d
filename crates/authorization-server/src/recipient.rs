//! The resource server's public encryption key: access tokens are encrypted to it.

use std::sync::Arc;

use nv_token::{EncryptionAlg, EncryptionKey};

use nv_store::Clock;
use server_kit::remote::{RemoteDocument, RemoteError};

/// The key access tokens are encrypted to: from a file, or the resource server's JWKS (cached for
/// five minutes; if a refetch fails the old key keeps working, so the resource server being
/// briefly down does not stop token issuance — see [`crate::remote`]).
pub enum RecipientKey {
    Static(Arc<EncryptionKey>),
    Remote(RemoteDocument<EncryptionKey>),
}

impl RecipientKey {
    pub fn remote(
        uri: String,
        alg: Option<EncryptionAlg>,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::Remote(crate::remote::document(
            uri,
            Box::new(move |doc| parse(doc, alg).map_err(|e| e.to_string())),
            http,
            clock,
        ))
    }

    pub async fn get(&self) -> Result<Arc<EncryptionKey>, RemoteError> {
        match self {
            RecipientKey::Static(k) => Ok(k.clone()),
            RecipientKey::Remote(doc) => doc.get().await,
        }
    }
}

fn parse(
    doc: &serde_json::Value,
    alg: Option<EncryptionAlg>,
) -> Result<EncryptionKey, nv_token::KeyError> {
    match alg {
        None => EncryptionKey::from_jwks(doc),
        Some(alg) => doc["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| josekit::jwk::Jwk::from_map(k.as_object()?.clone()).ok())
            .find_map(|j| EncryptionKey::from_jwk(&j, Some(alg)).ok())
            .ok_or_else(|| nv_token::KeyError::Invalid(format!("no {} key", alg.name()))),
    }
}
