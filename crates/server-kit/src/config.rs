//! The layered settings of both servers: built-in defaults → an optional TOML file → environment
//! variables `<PREFIX>SECTION__KEY`. Every key is checked against the typed tree, in the file
//! and in the environment alike: an unknown one is a start-up error, so a misspelt
//! `NV_MOD=production` cannot leave a server in dev mode unnoticed (decision 0009).

//!
//! Besides the loader, the sections both trees have in common live here, so they mean the same
//! in both servers: [`Mode`], `[server]` ([`ServerSettings`], with the keys only one server has
//! in its own part), `[store]` ([`StoreSettings`]) and `[log]` ([`LogSettings`]). The keys and
//! the `AS_…` / `NV_…` variables are those of each server's tree; nothing here adds a level.

use std::net::IpAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use nv_token::CryptoDispatch;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

/// Why a tree could not be read: the file is missing, or a key is unknown or has a value of the
/// wrong kind (figment's message names the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    MissingFile(#[from] MissingFile),
    #[error("{0}")]
    Invalid(String),
}

/// `base`, then `file` when given, then the variables starting with `prefix`, read as `T`.
/// Checks that types cannot express are the caller's (each server's `validate`).
pub fn load<T: DeserializeOwned>(
    base: Figment,
    file: Option<&Path>,
    prefix: &str,
) -> Result<T, LoadError> {
    extract(base, file, environment(prefix))
}

/// [`load`] with the environment given, so tests can read a prefix nobody sets.
pub fn extract<T: DeserializeOwned>(
    base: Figment,
    file: Option<&Path>,
    env: Env,
) -> Result<T, LoadError> {
    layered(base, file, env)?
        .extract()
        .map_err(|e| LoadError::Invalid(e.to_string()))
}

/// Whether `path` can be served as one more route path (an alias of an endpoint): absolute, no
/// trailing or doubled `/`, and no `{` (actix would read `{name}` as a path parameter).
pub fn is_route_path(path: &str) -> bool {
    path.starts_with('/') && !path.ends_with('/') && !path.contains("//") && !path.contains('{')
}

/// `dev` (the default) lets each server fill in what a developer machine lacks (keys, demo
/// settings, playground identities); `production` refuses all of that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Dev,
    Production,
}

/// The keys one server adds to its `[server]` section (the issuer and trusted proxies of the
/// authorization server, the path prefix of the resource server), and its port.
pub trait ServerSection: Default {
    /// `server.port` when the settings do not say.
    const DEFAULT_PORT: u16;
}

/// `[server]`: where and how the HTTP listener runs. One table in the file, so the server's own
/// keys sit next to these (`#[serde(flatten)]`, still every unknown key an error) and are read
/// through [`Deref`] as if they were fields of this struct: `settings.server.trusted_proxies`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings<Own> {
    pub host: IpAddr,
    /// 0 picks a free port (tests); the bound port is reported by `Application::port`.
    pub port: u16,
    /// HTTP workers; 0 = one per core ([`ServerSettings::workers`]).
    pub workers: usize,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Where the public-key operations run: `inline` (on the HTTP worker, the default) or `pool`
    /// (a blocking thread pool, one job per HTTP worker). See docs/performance.md.
    pub crypto: CryptoDispatch,
    #[serde(flatten)]
    pub own: Own,
}

impl<Own: ServerSection> Default for ServerSettings<Own> {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: Own::DEFAULT_PORT,
            workers: 0,
            max_body_bytes: 16 * 1024,
            crypto: CryptoDispatch::Inline,
            own: Own::default(),
        }
    }
}

impl<Own> ServerSettings<Own> {
    /// `workers`, with 0 replaced by the number of cores: what the HTTP server and the crypto
    /// pool are sized by.
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
}

impl<Own> Deref for ServerSettings<Own> {
    type Target = Own;
    fn deref(&self) -> &Own {
        &self.own
    }
}

impl<Own> DerefMut for ServerSettings<Own> {
    fn deref_mut(&mut self) -> &mut Own {
        &mut self.own
    }
}

/// `[store]`: the shared state (`nv_store::connect_store`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// `memory` (one process) or `redis://[user:password@]host[:port][/db]` / `rediss://…` /
    /// `redis+cluster://…`: several replicas must share one store, or a code or token could be
    /// used once per replica.
    pub url: String,
    /// Key prefix in the shared store, so several deployments can share one Redis. Must be the
    /// same on every replica.
    pub prefix: String,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: "memory".into(),
            prefix: "nv:".into(),
        }
    }
}

/// `[log]`; the subscriber is [`crate::telemetry::init`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (default) or `json`. The level comes from `RUST_LOG` (default `info`).
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
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

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Own {
        path_prefix: String,
    }

    impl ServerSection for Own {
        const DEFAULT_PORT: u16 = 8123;
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct WithSection {
        server: ServerSettings<Own>,
    }

    #[test]
    fn a_servers_own_keys_sit_in_the_same_section_and_unknown_keys_still_fail() {
        #[allow(clippy::result_large_err)]
        figment::Jail::expect_with(|jail| {
            let read = |file: Option<&Path>| {
                extract::<WithSection>(Figment::new(), file, environment("KITSECTION_"))
                    .map(|t| t.server)
                    .map_err(|e| e.to_string())
            };
            let defaults = read(None).unwrap();
            assert_eq!((defaults.port, defaults.workers), (8123, 0));
            jail.create_file("s.toml", "[server]\nport = 1\npath_prefix = \"/p\"\n")?;
            jail.set_env("KITSECTION_SERVER__WORKERS", "3");
            jail.set_env("KITSECTION_SERVER__CRYPTO", "pool");
            let s = read(Some(Path::new("s.toml"))).unwrap();
            assert_eq!((s.port, s.workers, s.workers()), (1, 3, 3));
            assert_eq!(s.crypto, CryptoDispatch::Pool);
            // The server's own key, read through `Deref`.
            assert_eq!(s.path_prefix, "/p");
            jail.set_env("KITSECTION_SERVER__PROT", "2");
            assert!(read(None).unwrap_err().contains("prot"));
            jail.clear_env();
            jail.create_file("bad.toml", "[server]\npath_prefx = \"/p\"\n")?;
            assert!(read(Some(Path::new("bad.toml")))
                .unwrap_err()
                .contains("path_prefx"));
            Ok(())
        });
    }
}
