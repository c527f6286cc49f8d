//! This server's own key material: the private JWE decryption keys.
//!
//! Files are private JWKs in `keys.dir`, newest first (docs/operations.md, "Keys and rotation": several keys may be
//! active; the newest is published first, all are accepted). In dev mode a missing file is
//! generated (and said so in the log) and the public JWKS is written next to it for the
//! authorization server's convenience; in production a missing key is a start-up error.

use std::fs;
use std::path::{Path, PathBuf};

use josekit::jwk::Jwk;
use nv_token::{DecryptionKeys, EncryptionAlg};
use server_kit::key_files::{self, KeyFileError};

use crate::config::{Mode, Settings};

/// File name of the public JWKS written in dev mode.
pub const PUBLIC_JWKS_FILE: &str = "rs-encryption.public.json";

#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error(
        "decryption key {path} not found. In production keys are never generated: create one \
         (e.g. run once with `mode = \"dev\"` / NV_MODE=dev and copy the generated file, or \
         provide an RSA private JWK with `\"alg\": \"RSA-OAEP-256\"`), or point `keys.dir` / \
         `keys.decryption` (NV_KEYS__DIR / NV_KEYS__DECRYPTION) at it"
    )]
    Missing { path: PathBuf },
    #[error("decryption key {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("key directory {path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// The loaded keys and the public JWKS to publish.
pub struct LoadedKeys {
    pub decryption: DecryptionKeys,
    pub public_jwks: serde_json::Value,
}

/// Load (dev: create when missing) every configured decryption key.
pub fn load_decryption_keys(settings: &Settings) -> Result<LoadedKeys, KeyLoadError> {
    let dir = &settings.keys.dir;
    let dev = settings.mode == Mode::Dev;
    let generate_alg = settings
        .keys
        .key_management
        .first()
        .copied()
        .unwrap_or(EncryptionAlg::RsaOaep256);
    let mut jwks = Vec::new();
    for name in &settings.keys.decryption {
        let path = dir.join(name);
        let jwk = match read_jwk(&path)? {
            Some(jwk) => jwk,
            None if dev => generate(&path, generate_alg)?,
            None => return Err(KeyLoadError::Missing { path }),
        };
        let alg = jwk.algorithm().unwrap_or(EncryptionAlg::RsaOaep256.name());
        if !settings.keys.key_management.iter().any(|a| a.name() == alg) {
            return Err(KeyLoadError::Invalid {
                path,
                message: format!(
                    "its algorithm `{alg}` is not in keys.key_management; add it there or use \
                     another key"
                ),
            });
        }
        jwks.push(jwk);
    }
    let decryption = DecryptionKeys::from_jwks(&jwks).map_err(|e| KeyLoadError::Invalid {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let public_jwks = decryption.public_jwks();
    if dev {
        write_public_jwks(dir, &public_jwks);
    }
    Ok(LoadedKeys {
        decryption,
        public_jwks,
    })
}

/// `Ok(None)` when the file does not exist.
fn read_jwk(path: &Path) -> Result<Option<Jwk>, KeyLoadError> {
    key_files::read_private_jwk(path).map_err(|e| load_error(path, e))
}

fn load_error(path: &Path, e: KeyFileError) -> KeyLoadError {
    let path = path.to_owned();
    let message = match e {
        KeyFileError::Io(e) => {
            return KeyLoadError::Io {
                path,
                message: e.to_string(),
            }
        }
        KeyFileError::PublicKey => {
            "this is a public key; a decryption key must be the private JWK".into()
        }
        KeyFileError::NotJson(_)
        | KeyFileError::KeysNotAnArray
        | KeyFileError::NotAJwk
        | KeyFileError::InvalidJwk(_) => "not a JSON Web Key (RFC 7517) file".into(),
    };
    KeyLoadError::Invalid { path, message }
}

/// Generate a private decryption JWK into `path` (mode 0600); dev start-up and `generate-key`.
/// Written whole then linked into place: two replicas starting together on a shared keys
/// directory never overwrite each other, nor read a half-written key; the later one uses the
/// key the first wrote.
pub fn generate(path: &Path, alg: EncryptionAlg) -> Result<Jwk, KeyLoadError> {
    let jwk = alg.generate().map_err(|e| KeyLoadError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let created = key_files::create_private_jwk(path, jwk).map_err(|e| load_error(path, e))?;
    if created.generated {
        tracing::warn!(
            key.path = %path.display(),
            key.alg = alg.name(),
            key.kid = created.jwk.key_id().unwrap_or(""),
            "generated a new decryption key"
        );
    }
    Ok(created.jwk)
}

fn write_public_jwks(dir: &Path, jwks: &serde_json::Value) {
    let path = dir.join(PUBLIC_JWKS_FILE);
    let written = serde_json::to_vec_pretty(jwks)
        .map_err(std::io::Error::other)
        .and_then(|bytes| fs::write(&path, bytes));
    match written {
        Ok(()) => {
            tracing::info!(jwks.path = %path.display(), "dev mode: wrote the public encryption JWKS")
        }
        // A convenience copy only; the JWKS is served at /.well-known/jwks.json anyway.
        Err(e) => {
            tracing::warn!(jwks.path = %path.display(), error = %e, "could not write the public JWKS")
        }
    }
}
