//! Registered clients and their keys.

use std::collections::HashMap;
use std::sync::Arc;

use josekit::jws::JwsHeader;
use nv_token::keys::VerifyError;
use nv_token::{SigningAlg, VerificationKeys};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AuthMethod, ClientKeySource, ClientSettings, CompatProfile, Secret, Settings};
use crate::keys::{read_jwks_file, KeyFileError};
use crate::protocol::GrantType;
use nv_store::Clock;
use server_kit::remote::{RemoteDocument, RemoteError};

pub struct Client {
    pub id: String,
    pub redirect_uris: Vec<String>,
    pub auth_methods: Vec<AuthMethod>,
    secret_hash: Option<[u8; 32]>,
    pub keys: ClientKeys,
    pub scopes: Vec<String>,
    pub purposes: Vec<String>,
    pub sector: String,
    pub id_token_alg: Option<SigningAlg>,
    /// The grants it may use at `/token` (`grant_types`).
    pub grant_types: Vec<GrantType>,
    /// Whether its JWT-bearer assertions may name a number (`trusted_number_assertion`).
    pub trusted_number_assertion: bool,
    /// What the client-credentials grant may give it (`two_legged_scopes`).
    pub two_legged_scopes: Vec<String>,
    /// Whether its CIBA requests may name a device by address (`ipport_hints`).
    pub ipport_hints: bool,
    /// Its compatibility profile (`compat`), strict unless configured.
    pub compat: CompatProfile,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("auth_methods", &self.auth_methods)
            .finish()
    }
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_methods == [AuthMethod::None]
    }

    pub fn allows(&self, method: AuthMethod) -> bool {
        self.auth_methods.contains(&method)
    }

    pub fn may_use(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Constant-time comparison of SHA-256 digests, so neither content nor length leaks.
    pub fn secret_matches(&self, presented: &str) -> bool {
        let Some(expected) = &self.secret_hash else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        expected.ct_eq(&presented).into()
    }

    pub fn redirect_uri_registered(&self, uri: &str) -> bool {
        // Exact string comparison (RFC 9700 §4.1.3): no prefix or pattern matching.
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// Verify a compact JWS this client signed (a client assertion, a request object) with its
    /// registered keys: the inline JWKS, or its `jwks_uri`, fetched again (rate-limited) when the
    /// `kid` is unknown, so a client can rotate keys without a server restart. `header` is the
    /// already decoded protected header; `allowed` the algorithm allow-list.
    pub async fn verify_jws(
        &self,
        jws: &str,
        header: &JwsHeader,
        allowed: &[SigningAlg],
    ) -> Result<(), ClientJwsError> {
        let verify = |keys: &VerificationKeys| {
            keys.verify_peeked(jws, header, allowed)
                .map(drop)
                .map_err(ClientJwsError::Invalid)
        };
        match &self.keys {
            ClientKeys::None => Err(ClientJwsError::NoKeys),
            ClientKeys::Static(keys) => verify(keys),
            ClientKeys::Remote(remote) => {
                let keys = remote
                    .get()
                    .await
                    .map_err(ClientJwsError::KeysUnavailable)?;
                match verify(&keys) {
                    Err(ClientJwsError::Invalid(VerifyError::UnknownKey(kid))) => {
                        // The client may have rotated its keys: refetch (rate-limited). Without
                        // a `kid` nothing says whether the cache is current: always refetch.
                        let has_kid =
                            |k: &VerificationKeys| !kid.is_empty() && k.contains_kid(&kid);
                        match remote.refresh_unless(has_kid).await {
                            Ok(Some(fresh)) => verify(&fresh),
                            Ok(None) => Err(ClientJwsError::Invalid(VerifyError::UnknownKey(kid))),
                            Err(e) => Err(ClientJwsError::KeysUnavailable(e)),
                        }
                    }
                    other => other,
                }
            }
        }
    }
}

/// What a client may sign its assertions and request objects with: no `none`, no HMAC (RFC 8725
/// §2.1, algorithm confusion).
pub const CLIENT_JWS_ALGS: [SigningAlg; 3] =
    [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256];

/// Why [`Client::verify_jws`] refused a JWS.
#[derive(Debug)]
pub enum ClientJwsError {
    /// The client registered no keys (a secret-only or public client).
    NoKeys,
    /// Its `jwks_uri` could not be fetched.
    KeysUnavailable(RemoteError),
    Invalid(VerifyError),
}

pub enum ClientKeys {
    None,
    Static(Arc<VerificationKeys>),
    Remote(RemoteJwks),
}

/// A client's `jwks_uri`, cached with single flight, back-off and stale fallback
/// ([`crate::remote`]).
pub type RemoteJwks = RemoteDocument<VerificationKeys>;

pub struct ClientRegistry {
    clients: HashMap<String, Arc<Client>>,
}

impl ClientRegistry {
    /// `http` and `clock` serve the clients' `jwks_uri` caches.
    pub fn from_settings(
        settings: &Settings,
        clients: &[ClientSettings],
        http: &reqwest::Client,
        clock: &Arc<dyn Clock>,
    ) -> Result<Self, KeyFileError> {
        let mut map = HashMap::new();
        for c in clients {
            let keys = match &c.keys {
                Some(ClientKeySource::Jwks(jwks)) => ClientKeys::Static(Arc::new(
                    VerificationKeys::from_jwks(jwks).map_err(|e| bad(&c.id, e))?,
                )),
                Some(ClientKeySource::JwksFile(file)) => {
                    let jwks = read_jwks_file(&settings.key_path(file))?;
                    let doc = serde_json::json!({"keys": jwks.iter().map(|j| serde_json::Value::Object(j.as_ref().clone())).collect::<Vec<_>>()});
                    ClientKeys::Static(Arc::new(
                        VerificationKeys::from_jwks(&doc).map_err(|e| bad(&c.id, e))?,
                    ))
                }
                Some(ClientKeySource::JwksUri(uri)) => ClientKeys::Remote(crate::remote::document(
                    uri.clone(),
                    Box::new(|doc| VerificationKeys::from_jwks(doc).map_err(|e| e.to_string())),
                    http.clone(),
                    clock.clone(),
                )),
                None => ClientKeys::None,
            };
            let sector = c.sector_identifier.clone().unwrap_or_else(|| {
                url::Url::parse(&c.redirect_uris[0])
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| c.id.clone())
            });
            let client = Client {
                id: c.id.clone(),
                redirect_uris: c.redirect_uris.clone(),
                auth_methods: c.auth_methods.clone(),
                secret_hash: c
                    .secret
                    .as_ref()
                    .map(|s: &Secret| Sha256::digest(s.expose().as_bytes()).into()),
                keys,
                scopes: c.scopes.clone(),
                purposes: c.purposes.clone(),
                sector,
                id_token_alg: c.id_token_signed_response_alg,
                grant_types: c.grant_types.clone(),
                trusted_number_assertion: c.trusted_number_assertion,
                two_legged_scopes: c.two_legged_scopes.clone(),
                ipport_hints: c.ipport_hints,
                compat: c.compat.clone(),
            };
            if !c.compat.is_strict() {
                // An operator must see every relaxation in force (docs/compatibility.md).
                tracing::warn!(client.id = %c.id, compat = ?c.compat, "client has a compatibility profile: some rules are relaxed for it");
            }
            map.insert(c.id.clone(), Arc::new(client));
        }
        Ok(Self { clients: map })
    }

    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        self.clients.get(id).cloned()
    }
}

fn bad(id: &str, e: impl std::fmt::Display) -> KeyFileError {
    KeyFileError::Unreadable {
        path: format!("client {id} jwks"),
        reason: e.to_string(),
    }
}
