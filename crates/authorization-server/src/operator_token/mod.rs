//! Operator tokens (GSMA TS.43 temporary tokens): "which subscriber, for which client, does this
//! operator token prove?"
//!
//! The device obtains the token from the operator's entitlement server, its app hands it to the
//! relying party's backend, and the backend presents it as `operatortoken:<token>` (the `sub` of
//! a JWT-bearer assertion or the `login_hint` of a CIBA request; CAMARA Security and
//! Interoperability Profile, section "Format of login_hint"). TS.43 does not specify the token's
//! format, so the authorization server asks whoever issued it:
//!
//! - [`simulated::SimulatedEntitlement`]: the product's own entitlement service, tokens in the
//!   shared store (single use on every replica);
//! - [`external::ExternalEntitlement`]: an operator's entitlement server over HTTP (the contract
//!   is in `docs/api.md`, "Operator tokens (TS.43) — external entitlement contract").
//!
//! Resolving a token spends it, whatever the outcome: a token is proof of possession of the SIM
//! at one moment, and one that could be presented twice could be replayed by whoever saw it.

pub mod external;
pub mod simulated;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nv_store::{Clock, Store};
use nv_token::{Amr, PhoneNumber};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use external::ExternalEntitlement;
pub use simulated::SimulatedEntitlement;

/// Longest lifetime of an operator token: the profile's bound on assertion lifetimes (section
/// "JWT Bearer Flow": at most 300 s), so a token never outlives the assertion that carries it.
pub const MAX_TTL_SECONDS: u64 = 300;
/// Longest wait for an external entitlement server: the grant waits for it while the client
/// waits for the grant.
pub const MAX_TIMEOUT_MS: u64 = 30_000;
/// Longest token accepted for a lookup; TS.43 tokens are a few hundred characters at most, and a
/// longer one is not worth a store or network round trip.
pub const MAX_TOKEN_LEN: usize = 2048;

/// An operator token as presented (`operatortoken:` stripped). Redacted `Debug`, no `Display`:
/// the token is a bearer credential until it is spent.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorToken(String);

impl OperatorToken {
    /// The token as sent on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorToken(***)")
    }
}

/// Why a string is not an operator token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorTokenError {
    #[error("the operator token is empty")]
    Empty,
    #[error("the operator token exceeds {MAX_TOKEN_LEN} characters")]
    TooLong,
    #[error("the operator token must be visible ASCII")]
    NotVisibleAscii,
}

impl std::str::FromStr for OperatorToken {
    type Err = OperatorTokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(OperatorTokenError::Empty);
        }
        if s.len() > MAX_TOKEN_LEN {
            return Err(OperatorTokenError::TooLong);
        }
        // It travels in a form parameter, a JWT claim and a JSON body: no spaces or controls.
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OperatorTokenError::NotVisibleAscii);
        }
        Ok(Self(s.to_owned()))
    }
}

/// What a valid operator token proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenSubscriber {
    /// The subscriber whose SIM obtained the token.
    pub phone_number: PhoneNumber,
    /// How the subscriber was identified when the token was issued: `sim` (an entitlement
    /// server's SIM authentication, or the simulated one's network identification), or
    /// `playground` for a token issued to a playground number — never upgraded to `sim`.
    pub amr: Amr,
    /// The client (app) the token was issued for.
    pub client_id: String,
}

/// Why an operator token proves nothing for this client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Unknown, expired or already spent: indistinguishable on purpose, so a caller learns
    /// nothing about tokens it does not hold.
    #[error("the operator token is unknown, expired or already used")]
    Unknown,
    /// Issued for another client: a relying party must not use a token obtained by another
    /// party's app (token substitution). Spent all the same.
    #[error("the operator token was issued for another client")]
    ForeignClient,
    /// The entitlement backend could not answer; the grant answers `temporarily_unavailable`,
    /// never a subscriber. The text is for the log: it names no token and no number.
    #[error("the entitlement backend is unavailable: {0}")]
    Unavailable(String),
}

/// Resolves an operator token to the subscriber and client it was issued for, spending it.
#[async_trait]
pub trait OperatorTokenResolver: Send + Sync + 'static {
    /// The subscriber `token` proves to `client_id`, or why not. Single use: a second call with
    /// the same token is [`Refusal::Unknown`], whichever client asked the first time.
    async fn resolve(
        &self,
        token: &OperatorToken,
        client_id: &str,
    ) -> Result<ProvenSubscriber, Refusal>;
}

/// The configured backend, built at start-up: what the grants resolve tokens with and, when the
/// backend is the product's own entitlement service, what the issuing endpoints issue with.
pub struct OperatorTokens {
    resolver: Arc<dyn OperatorTokenResolver>,
    simulated: Option<Arc<SimulatedEntitlement>>,
}

impl OperatorTokens {
    /// From settings already validated ([`OperatorTokenSettings::validate`]).
    pub fn from_settings(
        settings: &OperatorTokenSettings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        Ok(match settings {
            OperatorTokenSettings::Simulated { ttl_seconds } => {
                let service = Arc::new(SimulatedEntitlement::new(store, clock, *ttl_seconds));
                Self {
                    resolver: service.clone(),
                    simulated: Some(service),
                }
            }
            OperatorTokenSettings::External {
                url,
                credentials,
                timeout_ms,
            } => Self {
                resolver: Arc::new(ExternalEntitlement::new(
                    url.clone(),
                    credentials.clone(),
                    Duration::from_millis(*timeout_ms),
                    store,
                )?),
                simulated: None,
            },
        })
    }

    pub fn resolver(&self) -> &dyn OperatorTokenResolver {
        &*self.resolver
    }

    /// The product's entitlement service, when it is the backend. With an external entitlement
    /// server the operator's own server issues the tokens, and the issuing endpoints do not
    /// exist here (404).
    pub fn issuer(&self) -> Option<&SimulatedEntitlement> {
        self.simulated.as_deref()
    }

    /// For the start-up log.
    pub fn backend(&self) -> &'static str {
        if self.simulated.is_some() {
            "simulated"
        } else {
            "external"
        }
    }
}

/// `[operator_token]`: where operator tokens come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawOperatorTokenSettings")]
pub enum OperatorTokenSettings {
    /// The product's own entitlement service.
    Simulated {
        /// Lifetime of an issued token, 1..=300 s.
        ttl_seconds: u64,
    },
    /// An operator's entitlement server.
    External {
        /// `POST` endpoint of the contract; `https`, or `http` to a loopback address.
        url: url::Url,
        /// How the authorization server authenticates to it.
        credentials: Credentials,
        /// Whole-exchange timeout, 1..=30000 ms.
        timeout_ms: u64,
    },
}

/// `[operator_token]` as written: flat, every key optional, so an empty section or one
/// environment variable (`AS_OPERATOR_TOKEN__TTL_SECONDS`) works without naming the backend;
/// keys of the other backend are refused rather than ignored.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawOperatorTokenSettings {
    backend: Backend,
    ttl_seconds: Option<u64>,
    url: Option<url::Url>,
    credentials: Option<Credentials>,
    timeout_ms: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Backend {
    #[default]
    Simulated,
    External,
}

impl Default for RawOperatorTokenSettings {
    fn default() -> Self {
        Self {
            backend: Backend::Simulated,
            ttl_seconds: None,
            url: None,
            credentials: None,
            timeout_ms: None,
        }
    }
}

impl TryFrom<RawOperatorTokenSettings> for OperatorTokenSettings {
    type Error = String;

    fn try_from(raw: RawOperatorTokenSettings) -> Result<Self, String> {
        match raw.backend {
            Backend::Simulated => {
                if raw.url.is_some() || raw.credentials.is_some() || raw.timeout_ms.is_some() {
                    return Err(
                        "url, credentials and timeout_ms apply to backend = \"external\" \
                                only"
                            .into(),
                    );
                }
                Ok(Self::Simulated {
                    ttl_seconds: raw.ttl_seconds.unwrap_or_else(default_ttl_seconds),
                })
            }
            Backend::External => {
                if raw.ttl_seconds.is_some() {
                    return Err("ttl_seconds applies to backend = \"simulated\" only: the \
                                entitlement server decides its tokens' lifetime"
                        .into());
                }
                Ok(Self::External {
                    url: raw
                        .url
                        .ok_or("backend = \"external\" needs url (the contract's endpoint)")?,
                    credentials: raw
                        .credentials
                        .ok_or("backend = \"external\" needs credentials (bearer or basic)")?,
                    timeout_ms: raw.timeout_ms.unwrap_or_else(default_timeout_ms),
                })
            }
        }
    }
}

fn default_ttl_seconds() -> u64 {
    120
}

fn default_timeout_ms() -> u64 {
    2_000
}

impl Default for OperatorTokenSettings {
    fn default() -> Self {
        Self::Simulated {
            ttl_seconds: default_ttl_seconds(),
        }
    }
}

/// Credentials for the external entitlement server; secrets never print.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Bearer { token: SecretString },
    /// `Authorization: Basic` (RFC 7617).
    Basic {
        username: String,
        password: SecretString,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Bearer { .. } => f.write_str("Credentials::Bearer(***)"),
            Credentials::Basic { username, .. } => {
                write!(f, "Credentials::Basic({username:?}, ***)")
            }
        }
    }
}

impl Credentials {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credentials::Bearer { token } => request.bearer_auth(token.expose_secret()),
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        }
    }
}

/// Why `[operator_token]` is unusable; the message says which key to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operator_token.{0}")]
pub struct SettingsError(String);

impl OperatorTokenSettings {
    /// Checks no type can express.
    pub fn validate(&self) -> Result<(), SettingsError> {
        match self {
            Self::Simulated { ttl_seconds } => {
                if !(1..=MAX_TTL_SECONDS).contains(ttl_seconds) {
                    return Err(SettingsError(format!(
                        "ttl_seconds must be 1..={MAX_TTL_SECONDS} (operator tokens are short-lived)"
                    )));
                }
            }
            Self::External {
                url, timeout_ms, ..
            } => {
                if !(1..=MAX_TIMEOUT_MS).contains(timeout_ms) {
                    return Err(SettingsError(format!(
                        "timeout_ms must be 1..={MAX_TIMEOUT_MS}"
                    )));
                }
                // The request carries a bearer operator token and the server's credentials:
                // never in clear across a network.
                let loopback = match url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(url::Host::Domain(d)) => d == "localhost",
                    None => false,
                };
                match url.scheme() {
                    "https" => {}
                    "http" if loopback => {}
                    _ => {
                        return Err(SettingsError(
                            "url must be https (http only to a loopback address)".into(),
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};

    fn parse(toml: &str) -> Result<OperatorTokenSettings, Box<figment::Error>> {
        figment::Figment::from(Toml::string(toml))
            .extract()
            .map_err(Box::new)
    }

    #[test]
    fn an_operator_token_is_visible_ascii_of_bounded_length_and_never_prints() {
        let token: OperatorToken = "a-b_c.d~e+f/g=".parse().unwrap();
        assert_eq!(token.expose(), "a-b_c.d~e+f/g=");
        assert_eq!(format!("{token:?}"), "OperatorToken(***)");
        assert_eq!("".parse::<OperatorToken>(), Err(OperatorTokenError::Empty));
        assert_eq!(
            "a b".parse::<OperatorToken>(),
            Err(OperatorTokenError::NotVisibleAscii)
        );
        assert_eq!(
            "a\u{e9}".parse::<OperatorToken>(),
            Err(OperatorTokenError::NotVisibleAscii)
        );
        assert!("x".repeat(MAX_TOKEN_LEN).parse::<OperatorToken>().is_ok());
        assert_eq!(
            "x".repeat(MAX_TOKEN_LEN + 1).parse::<OperatorToken>(),
            Err(OperatorTokenError::TooLong)
        );
    }

    #[test]
    fn the_simulated_backend_is_the_default_and_its_lifetime_is_at_most_300_seconds() {
        let default = OperatorTokenSettings::default();
        assert!(matches!(
            default,
            OperatorTokenSettings::Simulated { ttl_seconds: 120 }
        ));
        assert_eq!(default.validate(), Ok(()));
        let s = parse("backend = \"simulated\"\nttl_seconds = 300").unwrap();
        assert_eq!(s.validate(), Ok(()));
        for bad in [0, 301] {
            let s = parse(&format!("backend = \"simulated\"\nttl_seconds = {bad}")).unwrap();
            assert!(s
                .validate()
                .unwrap_err()
                .to_string()
                .contains("ttl_seconds"));
        }
    }

    #[test]
    fn an_empty_section_is_the_simulated_default_and_keys_of_the_other_backend_are_refused() {
        assert!(matches!(
            parse("").unwrap(),
            OperatorTokenSettings::Simulated { ttl_seconds: 120 }
        ));
        assert!(matches!(
            parse("ttl_seconds = 60").unwrap(),
            OperatorTokenSettings::Simulated { ttl_seconds: 60 }
        ));
        let err = parse("url = \"https://e.example/t\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("apply to backend = \"external\" only"),
            "{err}"
        );
        let err = parse(
            "backend = \"external\"\nurl = \"https://e.example/t\"\nttl_seconds = 60\n\
             [credentials.bearer]\ntoken = \"t\"",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ttl_seconds applies"), "{err}");
        let err = parse("backend = \"external\"\n[credentials.bearer]\ntoken = \"t\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs url"), "{err}");
        let err = parse("backend = \"external\"\nurl = \"https://e.example/t\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs credentials"), "{err}");
    }

    #[test]
    fn unknown_keys_and_backends_are_refused() {
        assert!(parse("backend = \"simulated\"\nttl = 60").is_err());
        assert!(parse("backend = \"carrier\"").is_err());
        assert!(parse(
            "backend = \"external\"\nurl = \"https://e.example/t\"\n\
             [credentials.bearer]\ntoken = \"t\"\nextra = 1"
        )
        .is_err());
    }

    #[test]
    fn the_external_backend_needs_https_or_loopback_and_a_bounded_timeout() {
        let external = |url: &str, timeout: u64| {
            parse(&format!(
                "backend = \"external\"\nurl = \"{url}\"\ntimeout_ms = {timeout}\n\
                 [credentials.basic]\nusername = \"as\"\npassword = \"p4ss\""
            ))
            .unwrap()
        };
        assert_eq!(
            external("https://entitlement.example/t", 2000).validate(),
            Ok(())
        );
        assert_eq!(external("http://127.0.0.1:9000/t", 2000).validate(), Ok(()));
        assert_eq!(external("http://[::1]:9000/t", 2000).validate(), Ok(()));
        let err = external("http://entitlement.example/t", 2000)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("url must be https"), "{err}");
        for bad in [0, MAX_TIMEOUT_MS + 1] {
            let err = external("https://e.example/t", bad).validate().unwrap_err();
            assert!(err.to_string().contains("timeout_ms"), "{err}");
        }
        let OperatorTokenSettings::External { credentials, .. } =
            external("https://e.example/t", 1)
        else {
            panic!("external")
        };
        assert_eq!(
            format!("{credentials:?}"),
            "Credentials::Basic(\"as\", ***)"
        );
        let bearer = parse(
            "backend = \"external\"\nurl = \"https://e.example/t\"\n\
             [credentials.bearer]\ntoken = \"s3cret-token\"",
        )
        .unwrap();
        assert!(!format!("{bearer:?}").contains("s3cret"));
    }
}
