//! Key files: loaded once at start-up; in dev mode generated when missing.

use std::fs;
use std::path::Path;

use josekit::jwk::Jwk;
use nv_token::{SigningAlg, SigningKey, SigningKeys};
use rand::RngCore;
use server_kit::key_files;

use crate::config::{Mode, Secret, Settings};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "{path} is missing. In production mode keys are never generated: create one with \
         `authorization-server generate-key --alg RS256 --out {path}` (or run with mode = \"dev\")"
    )]
    MissingInProduction { path: String },
}

/// Read a JWK file, or every key of a JWKS file.
pub fn read_jwks_file(path: &Path) -> Result<Vec<Jwk>, KeyFileError> {
    key_files::read_jwks(path).map_err(|e| unreadable(path, e))
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> KeyFileError {
    KeyFileError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Load the signing keys named in the settings, generating missing ones in dev mode.
pub fn load_signing_keys(settings: &Settings) -> Result<SigningKeys, KeyFileError> {
    let mut keys = Vec::new();
    for file in &settings.keys.signing {
        let path = settings.key_path(file);
        if !path.exists() {
            if settings.mode == Mode::Production {
                return Err(KeyFileError::MissingInProduction {
                    path: path.display().to_string(),
                });
            }
            let jwk = generate_key_file(&path, settings.keys.generate_alg)?;
            tracing::warn!(key.path = %path.display(), key.kid = jwk.key_id().unwrap_or(""), "dev mode: generated a new signing key");
        }
        let jwks = read_jwks_file(&path)?;
        for jwk in jwks {
            let key = SigningKey::from_jwk(&jwk, None).map_err(|e| KeyFileError::Unreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            keys.push(key);
        }
    }
    SigningKeys::new(keys).map_err(|e| KeyFileError::Unreadable {
        path: "keys.signing".into(),
        reason: e.to_string(),
    })
}

/// Generate a private signing JWK into `path` (mode 0600); if another replica generated one
/// there first, theirs.
pub fn generate_key_file(path: &Path, alg: SigningAlg) -> Result<Jwk, KeyFileError> {
    let jwk = alg.generate().map_err(|e| unreadable(path, e))?;
    Ok(key_files::create_private_jwk(path, jwk)
        .map_err(|e| unreadable(path, e))?
        .jwk)
}

/// The pairwise-subject salt: configured, or in dev mode kept in `keys/pairwise-salt`.
pub fn pairwise_salt(settings: &Settings) -> Result<Secret, KeyFileError> {
    if let Some(s) = &settings.subject.pairwise_salt {
        return Ok(s.clone());
    }
    let path = settings.keys.dir.join("pairwise-salt");
    if settings.mode == Mode::Production {
        return Err(KeyFileError::Unreadable {
            path: "subject.pairwise_salt".into(),
            reason:
                "required in production mode (a long random secret; changing it changes every sub)"
                    .into(),
        });
    }
    if !path.exists() {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        key_files::write_private(&path, hex::encode(bytes).as_bytes())
            .map_err(|e| unreadable(&path, e))?;
        tracing::warn!(key.path = %path.display(), "dev mode: generated the pairwise subject salt");
    }
    let salt = fs::read_to_string(&path).map_err(|e| KeyFileError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(Secret::new(salt.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn racing_generators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.jwk");
        let kids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        generate_key_file(&path, SigningAlg::ES256)
                            .unwrap()
                            .key_id()
                            .unwrap()
                            .to_owned()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(kids.windows(2).all(|w| w[0] == w[1]), "{kids:?}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }
}
