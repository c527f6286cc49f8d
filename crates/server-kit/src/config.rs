//! The layered settings of both servers: built-in defaults → an optional TOML file → environment
//! variables `<PREFIX>SECTION__KEY`. Every key is checked against the typed tree, in the file
//! and in the environment alike: an unknown one is a start-up error, so a misspelt
//! `NV_MOD=production` cannot leave a server in dev mode unnoticed (decision 0009).

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;

/// The configuration file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration file {}: not found (check the --config argument)", .0.display())]
pub struct MissingFile(pub PathBuf);

/// Every variable that starts with `prefix`, `__` separating the levels of the tree.
pub fn environment(prefix: &str) -> Env {
    Env::prefixed(prefix).split("__")
}

/// `base` (the defaults), then `file` when given (it must exist), then `env`.
pub fn layered(base: Figment, file: Option<&Path>, env: Env) -> Result<Figment, MissingFile> {
    let mut figment = base;
    if let Some(path) = file {
        if !path.is_file() {
            return Err(MissingFile(path.to_owned()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    Ok(figment.merge(env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Tree {
        mode: String,
        server: Server,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Server {
        port: u16,
    }

    fn load(file: Option<&Path>) -> Result<Tree, String> {
        layered(Figment::new(), file, environment("KITTEST_"))
            .map_err(|e| e.to_string())?
            .extract()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_environment_overrides_the_file_and_unknown_keys_fail_everywhere() {
        // figment's Jail closures return its own (large) error type.
        #[allow(clippy::result_large_err)]
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "mode = \"dev\"\n[server]\nport = 1\n")?;
            jail.set_env("KITTEST_SERVER__PORT", "2");
            let t = load(Some(Path::new("c.toml"))).unwrap();
            assert_eq!(t.server.port, 2);
            assert_eq!(t.mode, "dev");
            // A misspelt top-level name is an error, not silently ignored.
            jail.set_env("KITTEST_MOD", "production");
            assert!(load(None).unwrap_err().contains("mod"));
            jail.clear_env();
            jail.set_env("KITTEST_SERVER__PROT", "2");
            assert!(load(None).is_err());
            jail.clear_env();
            jail.create_file("bad.toml", "[server]\nprot = 1\n")?;
            assert!(load(Some(Path::new("bad.toml"))).is_err());
            assert!(load(Some(Path::new("absent.toml")))
                .unwrap_err()
                .contains("not found"));
            Ok(())
        });
    }
}
