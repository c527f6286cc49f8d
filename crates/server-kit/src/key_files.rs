//! Key files, as both servers keep them: private JWKs (and JWK sets) in a key directory, each
//! written once, readable by its owner only. The token contract (`nv-token`) does no I/O; the
//! servers read the JWKs here and hand them over.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use josekit::jwk::Jwk;
use serde_json::{Map, Value};

/// Why a key file could not be read or written. The path is the caller's to add.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("`keys` is not an array")]
    KeysNotAnArray,
    #[error("neither a JWK nor a JWKS")]
    NotAJwk,
    #[error("{0}")]
    InvalidJwk(String),
    /// A private key was expected (`d`, or a symmetric `oct` key).
    #[error("this is a public key, not the private JWK")]
    PublicKey,
}

impl KeyFileError {
    /// The file does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, KeyFileError::Io(e) if e.kind() == ErrorKind::NotFound)
    }
}

/// Write a secret file readable by its owner only (0600), unless it exists. Returns whether this
/// call created it. The contents go to a temporary file first and are then hard-linked into
/// place, so two replicas starting together on a shared key directory never see a half-written
/// key and never overwrite each other: the loser reads the winner's key.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(contents).and_then(|_| f.sync_all()));
    let linked = written.and_then(|_| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every key of a file holding one JWK or a JWK set (RFC 7517 §4, §5).
pub fn read_jwks(path: &Path) -> Result<Vec<Jwk>, KeyFileError> {
    let bytes = fs::read(path)?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| KeyFileError::NotJson(e.to_string()))?;
    let objects: Vec<Map<String, Value>> = match value {
        Value::Object(o) if o.contains_key("keys") => o["keys"]
            .as_array()
            .ok_or(KeyFileError::KeysNotAnArray)?
            .iter()
            .filter_map(|k| k.as_object().cloned())
            .collect(),
        Value::Object(o) => vec![o],
        _ => return Err(KeyFileError::NotAJwk),
    };
    objects
        .into_iter()
        .map(|o| Jwk::from_map(o).map_err(|e| KeyFileError::InvalidJwk(e.to_string())))
        .collect()
}

/// The one private JWK of a file; `Ok(None)` when the file does not exist.
pub fn read_private_jwk(path: &Path) -> Result<Option<Jwk>, KeyFileError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let jwk = Jwk::from_bytes(&bytes).map_err(|_| KeyFileError::NotAJwk)?;
    if jwk.parameter("d").is_none() && jwk.key_type() != "oct" {
        return Err(KeyFileError::PublicKey);
    }
    Ok(Some(jwk))
}

/// A private JWK file that [`create_private_jwk`] asked for.
#[derive(Debug)]
pub struct Created {
    pub jwk: Jwk,
    /// `false`: the file appeared meanwhile (another replica, another process), and `jwk` is the
    /// one in it.
    pub generated: bool,
}

/// Write the fresh private `jwk` into `path` (0600) unless a file is there already, in which
/// case that file's key wins, so every replica uses the same key.
pub fn create_private_jwk(path: &Path, jwk: Jwk) -> Result<Created, KeyFileError> {
    let json = serde_json::to_vec_pretty(jwk.as_ref())
        .map_err(|e| KeyFileError::NotJson(e.to_string()))?;
    if write_private(path, &json)? {
        return Ok(Created {
            jwk,
            generated: true,
        });
    }
    let theirs = read_private_jwk(path)?.ok_or_else(|| {
        KeyFileError::Io(std::io::Error::new(
            ErrorKind::NotFound,
            "the key file disappeared",
        ))
    })?;
    Ok(Created {
        jwk: theirs,
        generated: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oct() -> Jwk {
        Jwk::generate_oct_key(32).unwrap()
    }

    #[test]
    fn a_private_file_is_written_once_and_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/k.jwk");
        assert!(write_private(&path, b"first").unwrap());
        assert!(!write_private(&path, b"second").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn racing_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.jwk");
        let keys: Vec<Value> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| create_private_jwk(&path, oct()).unwrap().jwk))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().parameter("k").unwrap().clone())
                .collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(read_jwks(&path).unwrap().len(), 1);
    }

    #[test]
    fn reading_tells_a_missing_file_a_public_key_and_junk_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.jwk");
        assert!(read_private_jwk(&path).unwrap().is_none());
        assert!(read_jwks(&path).unwrap_err().is_missing());
        let public = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_public_key()
            .unwrap();
        fs::write(&path, public.to_string()).unwrap();
        assert!(matches!(
            read_private_jwk(&path),
            Err(KeyFileError::PublicKey)
        ));
        fs::write(&path, b"[1]").unwrap();
        assert!(matches!(read_jwks(&path), Err(KeyFileError::NotAJwk)));
        fs::write(&path, br#"{"keys": 1}"#).unwrap();
        assert!(matches!(
            read_jwks(&path),
            Err(KeyFileError::KeysNotAnArray)
        ));
        fs::write(&path, b"{").unwrap();
        assert!(matches!(read_jwks(&path), Err(KeyFileError::NotJson(_))));
    }
}
