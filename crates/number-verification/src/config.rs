//! One typed configuration tree: built-in defaults → the TOML file given by `--config` →
//! environment variables `NV_…` with `__` for nesting (`NV_SERVER__PORT=9000`,
//! `NV_KEYS__DECRYPTION='["rs-2.jwk","rs-1.jwk"]'`).
//!
//! `docs/number-verification.md` lists every key, its default and its variable. Settings are
//! read once at start-up and handed to [`crate::Application::build`]; no handler reads them.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Serialized};
use figment::Figment;
use nv_token::{Amr, ContentEncryption, EncryptionAlg, SigningAlg};
use serde::{Deserialize, Serialize};
use server_kit::config::LoadError;
pub use server_kit::config::{LogFormat, LogSettings, Mode, StoreSettings};
use url::Url;

/// Environment variable prefix; `__` separates nested keys.
pub const ENV_PREFIX: &str = "NV_";

/// Why the configuration could not be loaded. The message says which key and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `dev` generates a missing decryption key and accepts playground tokens by default;
    /// `production` refuses both.
    pub mode: Mode,
    /// This resource server's identifier: the access token's `aud` must contain it
    /// (RFC 9068 §4, RFC 7519 §4.1.3).
    pub audience: String,
    pub server: ServerSettings,
    pub authorization_server: AuthorizationServerSettings,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub store: StoreSettings,
    pub log: LogSettings,
    /// `[[aliases]]`: other bases under which one API surface is served too (the gateways'
    /// and operators' layouts the SDKs have fixed). Unset: [`DEV_ALIASES`] in dev mode, none in
    /// production.
    pub aliases: Option<Vec<PathAlias>>,
}

/// One more base for one API surface: `{base}/verify` and `{base}/device-phone-number`
/// (`{base}/share` for the seed-004 profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathAlias {
    pub base: String,
    pub surface: Surface,
}

/// The API surfaces an alias can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    /// CAMARA 0.3.1 (`/number-verification/v0`).
    V0,
    /// CAMARA 1.0.0 (`/number-verification/v1`).
    V1,
    /// CAMARA 2.1.0 (`/number-verification/v2`).
    V2,
    /// The seed-004 profile (`/number-verification/verify`, `/share`).
    Seed004,
}

/// The layouts the operator documents and SDKs use (docs/compatibility.md), served in dev mode
/// unless `aliases` is set: (base, surface, whose).
pub const DEV_ALIASES: &[(&str, Surface, &str)] = &[
    (
        "/camara/number-verification/ofr/v0",
        Surface::V0,
        "Orange CAMARA 0.3.1",
    ),
    (
        "/camara/playground/api/number-verification/v1",
        Surface::V1,
        "Orange playground",
    ),
    (
        "/v1/number-verification",
        Surface::Seed004,
        "Telefónica Open Gateway",
    ),
    ("/camara/number-verification/v031", Surface::V0, "Vonage"),
    (
        "/passthrough/camara/v1/number-verification/number-verification/v0",
        Surface::V0,
        "Nokia network-as-code 10",
    ),
    (
        "/passthrough/camara/v1/number-verification/number-verification/v2",
        Surface::V2,
        "Nokia network-as-code 10",
    ),
];

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Dev,
            audience: "http://127.0.0.1:8081".into(),
            server: ServerSettings::default(),
            authorization_server: AuthorizationServerSettings::default(),
            keys: KeySettings::default(),
            tokens: TokenSettings::default(),
            store: StoreSettings::default(),
            log: LogSettings::default(),
            aliases: None,
        }
    }
}

/// `[server]`: host, port, workers, body limit and crypto dispatch as both servers have them,
/// and this server's own keys.
pub type ServerSettings = server_kit::config::ServerSettings<OwnServerSettings>;

/// The keys of `[server]` only this server has.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnServerSettings {
    /// Serve every API under this prefix too (e.g. `/camara/playground/api`, as the Orange
    /// playground does). Empty = only the plain paths.
    pub path_prefix: String,
}

impl server_kit::config::ServerSection for OwnServerSettings {
    const DEFAULT_PORT: u16 = 8081;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    from = "RawAuthorizationServerSettings",
    into = "RawAuthorizationServerSettings"
)]
pub struct AuthorizationServerSettings {
    /// The issuer identifier; the token's `iss` must equal it exactly (RFC 9068 §4).
    pub issuer: String,
    /// Where its signature keys come from.
    pub keys: IssuerKeySource,
    /// At most one refetch per this many seconds when a token names an unknown `kid`, so a
    /// stream of forged `kid`s cannot turn this server into a load generator against the AS.
    pub jwks_refresh_min_interval_seconds: u64,
    /// Cached keys older than this are refetched on the next request (keys the AS withdrew stop
    /// being accepted). The stale set is kept if the refetch fails, for up to 24 h.
    pub jwks_max_age_seconds: u64,
    /// Timeout of each HTTP request to the authorization server.
    pub http_timeout_ms: u64,
}

/// Where the authorization server's signature keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerKeySource {
    /// A local JWKS file (`jwks_file`; dev, offline set-ups).
    File(PathBuf),
    /// Its JWKS URL (`jwks_uri`).
    JwksUri(Url),
    /// The `jwks_uri` of `{issuer}/.well-known/openid-configuration` (OIDC Discovery §4).
    Discovery,
}

impl Default for AuthorizationServerSettings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            keys: IssuerKeySource::Discovery,
            jwks_refresh_min_interval_seconds: 10,
            jwks_max_age_seconds: 300,
            http_timeout_ms: 5_000,
        }
    }
}

/// `[authorization_server]` as written: the keys are `jwks_file`, else `jwks_uri`, else
/// discovered.
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAuthorizationServerSettings {
    issuer: String,
    jwks_uri: Option<Url>,
    jwks_file: Option<PathBuf>,
    jwks_refresh_min_interval_seconds: u64,
    jwks_max_age_seconds: u64,
    http_timeout_ms: u64,
}

impl Default for RawAuthorizationServerSettings {
    fn default() -> Self {
        AuthorizationServerSettings::default().into()
    }
}

impl From<AuthorizationServerSettings> for RawAuthorizationServerSettings {
    fn from(s: AuthorizationServerSettings) -> Self {
        let (jwks_file, jwks_uri) = match s.keys {
            IssuerKeySource::File(file) => (Some(file), None),
            IssuerKeySource::JwksUri(uri) => (None, Some(uri)),
            IssuerKeySource::Discovery => (None, None),
        };
        Self {
            issuer: s.issuer,
            jwks_uri,
            jwks_file,
            jwks_refresh_min_interval_seconds: s.jwks_refresh_min_interval_seconds,
            jwks_max_age_seconds: s.jwks_max_age_seconds,
            http_timeout_ms: s.http_timeout_ms,
        }
    }
}

impl From<RawAuthorizationServerSettings> for AuthorizationServerSettings {
    fn from(raw: RawAuthorizationServerSettings) -> Self {
        // A local file wins over the URL (docs/examples/number-verification.toml).
        let keys = match (raw.jwks_file, raw.jwks_uri) {
            (Some(file), _) => IssuerKeySource::File(file),
            (None, Some(uri)) => IssuerKeySource::JwksUri(uri),
            (None, None) => IssuerKeySource::Discovery,
        };
        Self {
            issuer: raw.issuer,
            keys,
            jwks_refresh_min_interval_seconds: raw.jwks_refresh_min_interval_seconds,
            jwks_max_age_seconds: raw.jwks_max_age_seconds,
            http_timeout_ms: raw.http_timeout_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySettings {
    /// Directory that the key file names are resolved against.
    pub dir: PathBuf,
    /// Private JWK files of this server's decryption keys, newest first. The first is the one
    /// published first in the JWKS; all are accepted (rotation without downtime).
    pub decryption: Vec<PathBuf>,
    /// Accepted JWE `alg` values; the first is used to generate a missing key in dev mode.
    pub key_management: Vec<EncryptionAlg>,
    /// Accepted JWE `enc` values.
    pub content_encryption: Vec<ContentEncryption>,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("keys"),
            decryption: vec![PathBuf::from("rs-encryption.jwk")],
            key_management: vec![EncryptionAlg::RsaOaep256],
            content_encryption: vec![ContentEncryption::A256GCM],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_seconds: i64,
    /// `amr` values that prove a network- or SIM-based authentication (CAMARA NV 2.1.0: "This
    /// must be done via mobile network authentication").
    pub accepted_amr: Vec<Amr>,
    /// Also accept `amr: playground` (the login-hint identity of the playground). Defaults to
    /// true in dev mode and false in production.
    pub accept_playground: Option<bool>,
    /// Accepted inner JWS algorithms (never `none` or HMAC: RFC 8725 §3.1).
    pub signing_algorithms: Vec<SigningAlg>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            leeway_seconds: 30,
            accepted_amr: vec![Amr::Network, Amr::Sim],
            accept_playground: None,
            signing_algorithms: SigningAlg::ALL.to_vec(),
        }
    }
}

/// The `[log]` section, for the shared `main` (`server_kit::cli`).
impl AsRef<LogSettings> for Settings {
    fn as_ref(&self) -> &LogSettings {
        &self.log
    }
}

impl Settings {
    /// Defaults, then the TOML file (when given), then `NV_…` environment variables.
    pub fn load(config_path: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(config_path, server_kit::config::environment(ENV_PREFIX))
    }

    fn load_from(config_path: Option<&Path>, env: Env) -> Result<Settings, ConfigError> {
        let defaults = Figment::from(Serialized::defaults(Settings::default()));
        let settings: Settings =
            server_kit::config::extract(defaults, config_path, env).map_err(|e| match e {
                LoadError::MissingFile(missing) => ConfigError::File {
                    path: missing.0,
                    message: "not found (check the --config argument)".into(),
                },
                LoadError::Invalid(message) => ConfigError::Parse(message),
            })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that serde cannot express; every message names the key and how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if self.audience.trim().is_empty() {
            return invalid(
                "audience",
                "must be this server's identifier, as the authorization server puts it in `aud`",
            );
        }
        if Url::parse(&self.authorization_server.issuer).is_err() {
            return invalid(
                "authorization_server.issuer",
                "must be the authorization server's issuer URL, e.g. https://as.example.com",
            );
        }
        let prefix = &self.server.path_prefix;
        if !prefix.is_empty()
            && (!prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//"))
        {
            return invalid(
                "server.path_prefix",
                "must be empty or start with '/' and not end with '/', e.g. /camara/playground/api",
            );
        }
        for alias in self.aliases() {
            if !server_kit::config::is_route_path(&alias.base) {
                return invalid(
                    "aliases",
                    "each base must start with '/' and not end with '/', e.g. /camara/number-verification/v031",
                );
            }
        }
        if self.server.max_body_bytes < 256 {
            return invalid("server.max_body_bytes", "must be at least 256");
        }
        if self.keys.decryption.is_empty() {
            return invalid(
                "keys.decryption",
                "list at least one private JWK file, e.g. [\"rs-encryption.jwk\"]",
            );
        }
        if self.keys.key_management.is_empty() {
            return invalid(
                "keys.key_management",
                "list at least one JWE algorithm, e.g. [\"RSA-OAEP-256\"]",
            );
        }
        if self.keys.content_encryption.is_empty() {
            return invalid(
                "keys.content_encryption",
                "list at least one JWE content encryption, e.g. [\"A256GCM\"]",
            );
        }
        if self.tokens.signing_algorithms.is_empty() {
            return invalid(
                "tokens.signing_algorithms",
                "list at least one of RS256, PS256, ES256",
            );
        }
        if !(0..=300).contains(&self.tokens.leeway_seconds) {
            return invalid("tokens.leeway_seconds", "must be between 0 and 300");
        }
        if self.authorization_server.http_timeout_ms == 0 {
            return invalid("authorization_server.http_timeout_ms", "must be above 0");
        }
        Ok(())
    }

    /// The `amr` values accepted, playground included when enabled.
    /// The aliases served: as configured, else the dev layouts in dev mode, else none.
    pub fn aliases(&self) -> Vec<PathAlias> {
        match (&self.aliases, self.mode) {
            (Some(aliases), _) => aliases.clone(),
            (None, Mode::Dev) => DEV_ALIASES
                .iter()
                .map(|(base, surface, _)| PathAlias {
                    base: (*base).to_owned(),
                    surface: *surface,
                })
                .collect(),
            (None, Mode::Production) => Vec::new(),
        }
    }

    pub fn accepted_amr(&self) -> Vec<Amr> {
        let mut amr = self.tokens.accepted_amr.clone();
        if self.accepts_playground() && !amr.contains(&Amr::Playground) {
            amr.push(Amr::Playground);
        }
        amr
    }

    /// Whether playground tokens are accepted: explicit setting, else only in dev mode.
    pub fn accepts_playground(&self) -> bool {
        self.tokens
            .accept_playground
            .unwrap_or(self.mode == Mode::Dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use server_kit::testing::SettingsFile;
    use std::net::IpAddr;

    fn no_env() -> Env {
        server_kit::config::environment("NV_TEST_THAT_NOBODY_SETS_")
    }

    #[test]
    fn aliases_default_to_the_dev_layouts_in_dev_and_to_none_in_production() {
        let dev = Settings::default();
        assert_eq!(dev.aliases().len(), DEV_ALIASES.len());
        let production = Settings {
            mode: Mode::Production,
            ..Settings::default()
        };
        assert!(production.aliases().is_empty());
        let file = SettingsFile::new(
            "mode = \"production\"\n[[aliases]]\nbase = \"/camara/number-verification/v031\"\nsurface = \"v0\"\n",
        );
        let s = Settings::load_from(Some(file.path()), no_env()).unwrap();
        assert_eq!(
            s.aliases(),
            [PathAlias {
                base: "/camara/number-verification/v031".into(),
                surface: Surface::V0
            }]
        );
        for base in ["gateway", "/gateway/", "/a//b"] {
            let file = SettingsFile::new(&format!(
                "[[aliases]]\nbase = \"{base}\"\nsurface = \"v2\"\n"
            ));
            let err = Settings::load_from(Some(file.path()), no_env()).unwrap_err();
            assert!(err.to_string().contains("aliases"), "{base}: {err}");
        }
        let file = SettingsFile::new("[[aliases]]\nbase = \"/x\"\nsurface = \"v9\"\n");
        assert!(Settings::load_from(Some(file.path()), no_env()).is_err());
    }

    #[test]
    fn defaults_are_the_local_stack() {
        let s = Settings::load_from(None, no_env()).unwrap();
        assert_eq!(s.server.port, 8081);
        assert_eq!(s.mode, Mode::Dev);
        assert_eq!(s.audience, "http://127.0.0.1:8081");
        assert_eq!(s.authorization_server.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.keys.key_management, vec![EncryptionAlg::RsaOaep256]);
        assert_eq!(s.accepted_amr(), vec!["network", "sim", "playground"]);
    }

    #[test]
    fn production_refuses_playground_tokens_unless_told() {
        let mut s = Settings {
            mode: Mode::Production,
            ..Settings::default()
        };
        assert_eq!(s.accepted_amr(), vec!["network", "sim"]);
        s.tokens.accept_playground = Some(true);
        assert!(s.accepts_playground());
    }

    #[test]
    fn file_then_environment_override_the_defaults() {
        let file = SettingsFile::new(
            "mode = \"production\"\n[server]\nport = 9001\npath_prefix = \"/camara/playground/api\"\n[keys]\nkey_management = [\"RSA-OAEP-256\", \"ECDH-ES+A256KW\"]\n",
        );
        let path = file.path();
        // Jail's closure type is figment's; its large error type is not ours to box.
        #[allow(clippy::result_large_err)]
        figment::Jail::expect_with(|jail| {
            jail.set_env("NV_SERVER__PORT", "9002");
            jail.set_env("NV_TOKENS__LEEWAY_SECONDS", "5");
            let s = Settings::load(Some(path)).unwrap();
            assert_eq!(s.mode, Mode::Production);
            assert_eq!(s.server.port, 9002);
            assert_eq!(s.server.path_prefix, "/camara/playground/api");
            assert_eq!(s.tokens.leeway_seconds, 5);
            assert_eq!(s.keys.key_management.len(), 2);
            Ok(())
        });
    }

    #[test]
    fn the_issuer_keys_are_a_file_a_jwks_url_or_discovered() {
        let keys = |section: &str| {
            let file = SettingsFile::new(&format!("[authorization_server]\n{section}"));
            Settings::load_from(Some(file.path()), no_env())
                .unwrap()
                .authorization_server
                .keys
        };
        let uri = "jwks_uri = \"https://as.example/jwks\"\n";
        let file = "jwks_file = \"as-jwks.json\"\n";
        assert_eq!(keys(""), IssuerKeySource::Discovery);
        assert_eq!(
            keys(uri),
            IssuerKeySource::JwksUri("https://as.example/jwks".parse().unwrap())
        );
        assert_eq!(keys(file), IssuerKeySource::File("as-jwks.json".into()));
        // The file wins over the URL, as documented.
        assert_eq!(
            keys(&format!("{uri}{file}")),
            IssuerKeySource::File("as-jwks.json".into())
        );
    }

    #[test]
    fn lists_urls_and_addresses_come_through_the_environment() {
        #[allow(clippy::result_large_err)]
        figment::Jail::expect_with(|jail| {
            jail.set_env("NV_KEYS__DECRYPTION", r#"["rs-2.jwk","rs-1.jwk"]"#);
            jail.set_env("NV_TOKENS__ACCEPTED_AMR", "[network]");
            jail.set_env("NV_SERVER__HOST", "0.0.0.0");
            jail.set_env(
                "NV_AUTHORIZATION_SERVER__JWKS_URI",
                "https://as.example/jwks",
            );
            jail.set_env("NV_MODE", "production");
            let s = Settings::load(None).unwrap();
            assert_eq!(
                s.keys.decryption,
                vec![PathBuf::from("rs-2.jwk"), PathBuf::from("rs-1.jwk")]
            );
            assert_eq!(s.tokens.accepted_amr, vec!["network"]);
            assert_eq!(s.server.host, IpAddr::from([0, 0, 0, 0]));
            assert_eq!(
                s.authorization_server.keys,
                IssuerKeySource::JwksUri("https://as.example/jwks".parse().unwrap())
            );
            assert_eq!(s.accepted_amr(), vec!["network"]);
            // A typo inside a section is still reported.
            jail.set_env("NV_SERVER__PROT", "1");
            let err = Settings::load(None).unwrap_err();
            assert!(err.to_string().contains("prot"), "{err}");
            // So is a misspelt top-level name: it must not leave the server in dev mode.
            jail.clear_env();
            jail.set_env("NV_MOD", "production");
            let err = Settings::load(None).unwrap_err();
            assert!(err.to_string().contains("mod"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn mistakes_are_reported_with_the_key() {
        let file = SettingsFile::new("[server]\npath_prefix = \"camara/\"\n");
        let err = Settings::load_from(Some(file.path()), no_env()).unwrap_err();
        assert!(err.to_string().contains("server.path_prefix"), "{err}");
        file.rewrite("[keys]\nkey_management = [\"A128KW\"]\n");
        let err = Settings::load_from(Some(file.path()), no_env()).unwrap_err();
        assert!(err.to_string().contains("A128KW"), "{err}");
        let missing = file.path().with_file_name("missing.toml");
        let err = Settings::load_from(Some(&missing), no_env()).unwrap_err();
        assert!(err.to_string().contains("--config"), "{err}");
    }
}
