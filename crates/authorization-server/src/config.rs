//! One typed configuration tree: built-in defaults → the TOML file given by `--config` →
//! environment variables `AS_…` with `__` for nesting (`AS_SERVER__PORT=9000`).
//! `docs/configuration.md` and `authorization-server.example.toml` list every key.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::Figment;
use ipnet::IpNet;
use nv_token::{ContentEncryption, EncryptionAlg, PhoneNumber, SigningAlg};
use serde::{Deserialize, Deserializer};

use crate::endpoints::backchannel::CibaSettings;
use crate::operator_token::OperatorTokenSettings;
use crate::protocol::{GrantType, Purpose};
pub use server_kit::config::{LogFormat, LogSettings, Mode, StoreSettings};

/// Environment variable prefix.
pub const ENV_PREFIX: &str = "AS_";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `dev` generates missing keys and enables the dev defaults; `production` refuses both.
    pub mode: Mode,
    pub server: ServerSettings,
    pub keys: KeySettings,
    pub access_token: AccessTokenSettings,
    pub code: CodeSettings,
    pub client_assertion: ClientAssertionSettings,
    pub subject: SubjectSettings,
    pub network: NetworkSettings,
    pub store: StoreSettings,
    pub clients: Vec<ClientSettings>,
    pub admin: AdminSettings,
    pub log: LogSettings,
    pub dev: DevSettings,
    pub radius: RadiusSettings,
    pub cgnat: CgnatSettings,
    /// Where TS.43 operator tokens come from (`[operator_token]`).
    pub operator_token: OperatorTokenSettings,
    /// CIBA request lifetime and polling interval (`[ciba]`).
    pub ciba: CibaSettings,
    /// Layouts and discovery members of the gateways the operator SDKs target (`[compat]`,
    /// docs/compatibility.md).
    pub compat: ServerCompat,
}

/// `[compat]`: what the server serves for SDKs whose paths and metadata are fixed. Each member
/// unset: on in dev mode (the local stack serves the SDKs unmodified), off in production.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerCompat {
    /// More paths for `/authorize` and `/token`.
    pub aliases: Option<Vec<EndpointAlias>>,
    /// Discovery carries `fast_flow_csp_auth_endpoint` (the authorization endpoint), which the
    /// Nokia network-as-code 10 discovery model requires.
    pub fast_flow_csp_auth_endpoint: Option<bool>,
}

/// One more path for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointAlias {
    pub path: String,
    pub endpoint: AliasedEndpoint,
}

/// The endpoints an alias can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AliasedEndpoint {
    Authorize,
    Token,
}

/// The gateway layouts served in dev mode unless `compat.aliases` is set: (path, endpoint,
/// whose).
pub const DEV_ENDPOINT_ALIASES: &[(&str, AliasedEndpoint, &str)] = &[
    ("/oauth2/auth", AliasedEndpoint::Authorize, "Vonage, Glide"),
    ("/oauth2/token", AliasedEndpoint::Token, "Vonage"),
    (
        "/openidconnect/playground/v1.0/authorize",
        AliasedEndpoint::Authorize,
        "Orange playground",
    ),
    (
        "/openidconnect/playground/v1.0/token",
        AliasedEndpoint::Token,
        "Orange playground",
    ),
];

impl ServerCompat {
    /// The aliases served in `mode`.
    pub fn aliases(&self, mode: Mode) -> Vec<EndpointAlias> {
        match (&self.aliases, mode) {
            (Some(aliases), _) => aliases.clone(),
            (None, Mode::Dev) => DEV_ENDPOINT_ALIASES
                .iter()
                .map(|(path, endpoint, _)| EndpointAlias {
                    path: (*path).to_owned(),
                    endpoint: *endpoint,
                })
                .collect(),
            (None, Mode::Production) => Vec::new(),
        }
    }

    /// Whether discovery carries `fast_flow_csp_auth_endpoint` in `mode`.
    pub fn fast_flow_csp_auth_endpoint(&self, mode: Mode) -> bool {
        self.fast_flow_csp_auth_endpoint
            .unwrap_or(mode == Mode::Dev)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token of the admin API (`/admin/…`), at least [`MIN_ADMIN_TOKEN_LEN`] characters.
    /// Unset: the admin API is off (404).
    pub token: Option<Secret>,
    /// Serve the admin API on this address only (e.g. `127.0.0.1:9091`, an internal interface),
    /// and not on the public listener. Unset: on the public listener.
    pub listen: Option<std::net::SocketAddr>,
}

/// The admin token holds full power over identities: at least 32 characters (e.g.
/// `openssl rand -base64 32`), so it cannot be guessed online.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Dev,
            server: ServerSettings::default(),
            keys: KeySettings::default(),
            access_token: AccessTokenSettings::default(),
            code: CodeSettings::default(),
            client_assertion: ClientAssertionSettings::default(),
            subject: SubjectSettings::default(),
            network: NetworkSettings::default(),
            store: StoreSettings::default(),
            clients: Vec::new(),
            admin: AdminSettings::default(),
            log: LogSettings::default(),
            dev: DevSettings::default(),
            radius: RadiusSettings::default(),
            cgnat: CgnatSettings::default(),
            operator_token: OperatorTokenSettings::default(),
            ciba: CibaSettings::default(),
            compat: ServerCompat::default(),
        }
    }
}

/// `[server]`: host, port, workers, body limit and crypto dispatch as both servers have them,
/// and this server's own keys.
pub type ServerSettings = server_kit::config::ServerSettings<OwnServerSettings>;

/// The keys of `[server]` only this server has.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OwnServerSettings {
    /// Issuer identifier; defaults to `http://{host}:{bound port}`.
    pub issuer: Option<String>,
    /// Proxies whose forwarding header is believed, each with the one header it writes. Empty =
    /// none: the TCP peer is the device.
    pub trusted_proxies: Vec<TrustedProxy>,
}

impl server_kit::config::ServerSection for OwnServerSettings {
    const DEFAULT_PORT: u16 = 8080;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySettings {
    /// Directory that relative key paths are resolved against.
    pub dir: PathBuf,
    /// Private signing JWK files, newest first: the first signs, all are published.
    pub signing: Vec<PathBuf>,
    /// Algorithm of keys generated in dev mode.
    pub generate_alg: SigningAlg,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("keys"),
            signing: vec![PathBuf::from("as-signing.jwk")],
            generate_alg: SigningAlg::RS256,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawAccessTokenSettings")]
pub struct AccessTokenSettings {
    /// The resource server's identifier, put in `aud` of API-scoped tokens.
    pub audience: String,
    /// Lifetime in seconds (at most 300).
    pub ttl_seconds: i64,
    /// Where the resource server's public encryption key comes from.
    pub encryption_key: EncryptionKeySource,
    /// JWE key management algorithm used when the key does not name one.
    pub key_management: Option<EncryptionAlg>,
    pub content_encryption: ContentEncryption,
}

/// The resource server's public encryption key, as this server gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptionKeySource {
    /// A JWK or JWKS file (`encryption_key_file`; for `dir`, the shared key itself).
    File(PathBuf),
    /// Its JWKS URL (`encryption_jwks_uri`), fetched when first needed and cached.
    JwksUri(String),
}

impl Default for AccessTokenSettings {
    fn default() -> Self {
        Self {
            audience: "http://127.0.0.1:8081".into(),
            ttl_seconds: 300,
            encryption_key: EncryptionKeySource::JwksUri(
                "http://127.0.0.1:8081/.well-known/jwks.json".into(),
            ),
            key_management: None,
            content_encryption: ContentEncryption::A256GCM,
        }
    }
}

/// `[access_token]` as written: the key is `encryption_key_file` or `encryption_jwks_uri`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAccessTokenSettings {
    audience: String,
    ttl_seconds: i64,
    encryption_key_file: Option<PathBuf>,
    encryption_jwks_uri: Option<String>,
    key_management: Option<EncryptionAlg>,
    content_encryption: ContentEncryption,
}

impl Default for RawAccessTokenSettings {
    fn default() -> Self {
        let s = AccessTokenSettings::default();
        let (encryption_key_file, encryption_jwks_uri) = match s.encryption_key {
            EncryptionKeySource::File(file) => (Some(file), None),
            EncryptionKeySource::JwksUri(uri) => (None, Some(uri)),
        };
        Self {
            audience: s.audience,
            ttl_seconds: s.ttl_seconds,
            encryption_key_file,
            encryption_jwks_uri,
            key_management: s.key_management,
            content_encryption: s.content_encryption,
        }
    }
}

impl TryFrom<RawAccessTokenSettings> for AccessTokenSettings {
    type Error = String;

    fn try_from(raw: RawAccessTokenSettings) -> Result<Self, String> {
        // The URL has a default, so a file set next to it is the usual case: the file wins.
        let encryption_key = match (raw.encryption_key_file, raw.encryption_jwks_uri) {
            (Some(file), _) => EncryptionKeySource::File(file),
            (None, Some(uri)) => EncryptionKeySource::JwksUri(uri),
            (None, None) => {
                return Err("set access_token.encryption_key_file or \
                            access_token.encryption_jwks_uri (the resource server's key)"
                    .into())
            }
        };
        Ok(Self {
            audience: raw.audience,
            ttl_seconds: raw.ttl_seconds,
            encryption_key,
            key_management: raw.key_management,
            content_encryption: raw.content_encryption,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeSettings {
    /// Authorization-code lifetime in seconds (at most 60).
    pub ttl_seconds: i64,
}

impl Default for CodeSettings {
    fn default() -> Self {
        Self { ttl_seconds: 60 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientAssertionSettings {
    /// Clock skew tolerated on `iat`/`nbf`/`exp` of what clients sign (client assertions and
    /// request objects), in seconds.
    pub leeway_seconds: i64,
}

impl Default for ClientAssertionSettings {
    fn default() -> Self {
        Self { leeway_seconds: 5 }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubjectSettings {
    /// Secret salt of the pairwise `sub` (OIDC Core §8.1). Required in production; in dev mode it
    /// is generated into `keys/pairwise-salt` when absent.
    pub pairwise_salt: Option<Secret>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// Playground mode: the `login_hint` number is the identity for `+990…` test numbers and the
    /// numbers below. Never on by default in production.
    pub playground: Option<bool>,
    pub playground_numbers: Vec<PhoneNumber>,
    /// Static IP table: which subscriber holds which address.
    #[serde(rename = "static")]
    pub static_table: Vec<StaticEntry>,
}

/// A load balancer or reverse proxy in front of the server, and the one forwarding header it
/// writes. Only that header is read from it; the other one, which a device can send through
/// most proxies untouched, is never read (RFC 7239 §8.1, CWE-348).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxy {
    /// The proxy's address or prefix (`10.0.0.2`, `10.0.0.0/24`).
    pub network: IpNet,
    pub header: ForwardingHeader,
}

/// Which header a trusted proxy writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardingHeader {
    /// `Forwarded: for="ip:port"` (RFC 7239); can carry the source port that CGNAT needs.
    Forwarded,
    /// `X-Forwarded-For: ip[, ip…]`, appended to (nginx `$proxy_add_x_forwarded_for`, cloud load
    /// balancers, Envoy).
    XForwardedFor,
}

impl ForwardingHeader {
    pub fn name(self) -> &'static str {
        match self {
            ForwardingHeader::Forwarded => "forwarded",
            ForwardingHeader::XForwardedFor => "x-forwarded-for",
        }
    }

    pub fn other(self) -> Self {
        match self {
            ForwardingHeader::Forwarded => ForwardingHeader::XForwardedFor,
            ForwardingHeader::XForwardedFor => ForwardingHeader::Forwarded,
        }
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            #[serde(deserialize_with = "ip_or_net")]
            network: IpNet,
            header: ForwardingHeader,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TrustedProxy;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a table { network = "10.0.0.0/24", header = "x-forwarded-for" }"#)
            }
            // The old form, a bare prefix, does not say which header the proxy writes: guessing
            // is what let a device choose its own identity.
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TrustedProxy, E> {
                Err(E::custom(format!(
                    "trusted proxy `{v}` must say which header it writes: \
                     {{ network = \"{v}\", header = \"x-forwarded-for\" }} or \
                     header = \"forwarded\" (the other header is then never read)"
                )))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TrustedProxy, A::Error> {
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(TrustedProxy {
                    network: t.network,
                    header: t.header,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One row of the static IP table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticEntry {
    /// A single address (`10.0.0.7`, `2001:db8::1`) or a prefix (`100.64.0.0/10`, `2001:db8:1::/48`).
    #[serde(deserialize_with = "ip_or_net")]
    pub network: IpNet,
    /// Optional source-port range for CGNAT (`"1024-2047"` or `"5000"`), IPv4 only in practice.
    pub ports: Option<PortRange>,
    pub msisdn: PhoneNumber,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

/// `first-last`, the form [`FromStr`] reads.
impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a port or a port range like 1024-2047");
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first: u16 = a.trim().parse().map_err(|_| bad())?;
        let last: u16 = b.trim().parse().map_err(|_| bad())?;
        if first > last {
            return Err(bad());
        }
        Ok(Self { first, last })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u16),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(p) => Ok(Self { first: p, last: p }),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

fn ip_or_net<'de, D: Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
    let s = String::deserialize(d)?;
    parse_ip_or_net(&s).map_err(serde::de::Error::custom)
}

pub fn parse_ip_or_net(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR prefix"))
}

/// How a client authenticates at `/token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    PrivateKeyJwt,
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client (PKCE required).
    None,
}

impl AuthMethod {
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawClientSettings")]
pub struct ClientSettings {
    pub id: String,
    pub redirect_uris: Vec<String>,
    pub auth_methods: Vec<AuthMethod>,
    pub secret: Option<Secret>,
    /// The keys it signs with (`private_key_jwt`, request objects); `None`: it registered none.
    pub keys: Option<ClientKeySource>,
    /// API scopes the client may ask for (`openid` is always allowed).
    pub scopes: Vec<String>,
    /// Purposes (`dpv:…`) it may declare.
    pub purposes: Vec<String>,
    /// Sector identifier of the pairwise `sub`; defaults to the host of the first redirect URI.
    pub sector_identifier: Option<String>,
    /// ID-token signing algorithm; defaults to the algorithm of the current signing key.
    pub id_token_signed_response_alg: Option<SigningAlg>,
    /// The grants it may use at `/token` (RFC 7591 names); default `["authorization_code"]`.
    pub grant_types: Vec<GrantType>,
    /// Whether its JWT-bearer assertions may name a subscriber by number (`sub = "tel:+…"`)
    /// instead of proving one with an operator token: a relying party the operator trusts to
    /// have verified the number itself. Off by default; the tokens it gets say so in `amr`.
    pub trusted_number_assertion: bool,
    /// Whether its CIBA requests may name the device by address (`login_hint=ipport:…`): the
    /// client's word about where a device connected from, which tells it who holds an address.
    /// Off by default.
    pub ipport_hints: bool,
    /// Scopes it may get with the client-credentials grant (2-legged, no subscriber): the
    /// operator's other APIs. Number Verification scopes are 3-legged only and refused here.
    pub two_legged_scopes: Vec<String>,
    /// Relaxations for relying parties whose SDKs speak an older dialect (`[clients.compat]`,
    /// docs/compatibility.md). All off by default.
    pub compat: CompatProfile,
}

/// A client's compatibility profile: each member relaxes one rule for an SDK that cannot be
/// changed, and says which rule in its documentation. The strict default is
/// `CompatProfile::default()`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompatProfile {
    /// The purpose declared for the client when it asks for API scopes without one
    /// (CAMARA ICM "Purpose as a scope" requires one; the Nokia SDK sometimes sends none).
    pub default_purpose: Option<Purpose>,
    /// What `/token` does with `redirect_uri` in an authorization-code redemption.
    pub token_redirect_uri: TokenRedirectUri,
    /// `/authorize` reads a `purpose` parameter in the colon form `dpv:<Purpose>:<api>`
    /// (`dpv:FraudPreventionAndDetection:number-verification`) as the purpose and the API scope
    /// it names (Glide's SDK sends `scope=openid` and the right in `purpose`). Without it the
    /// parameter is unknown, and ignored as RFC 6749 §3.1 says.
    pub purpose_parameter: bool,
    /// `/token` accepts an `application/json` body (an object of string members) where RFC 6749
    /// §4.1.3 says `application/x-www-form-urlencoded`.
    pub json_token_request: bool,
    /// `/token` authenticates the client by Vonage's application JWT: `Authorization: Bearer`
    /// with an RS256 JWT of the client's registered keys whose claims are `application_id` (the
    /// client id), `iat`, `exp` (at most 15 min after `iat`) and a single-use `jti` — no `iss`,
    /// `sub` or `aud` (RFC 7523 §3 requires them), so nothing binds it to this server: a sandbox
    /// profile (docs/compatibility.md).
    pub application_jwt: bool,
}

impl CompatProfile {
    /// Whether anything is relaxed (logged at start-up).
    pub fn is_strict(&self) -> bool {
        *self == CompatProfile::default()
    }
}

/// `redirect_uri` at `/token` (RFC 6749 §4.1.3: REQUIRED when the authorization request had
/// one, which OIDC makes mandatory, and "their values MUST be identical").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRedirectUri {
    /// RFC 6749 §4.1.3 as written: present and identical.
    #[default]
    Required,
    /// May be omitted by a client registered with exactly one redirect URI (the Nokia SDK):
    /// the code can only have been issued for that URI. A value sent must still be identical.
    OptionalWhenOne,
    /// Not compared (the Telefónica SDK sends the literal `whatever`). The code was still issued
    /// to a registered URI only (exact match at `/authorize`), so no code reaches an
    /// unregistered URI; what is lost is the check that the redeemer saw the same redirect.
    Ignored,
}

/// Where a client's public keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientKeySource {
    /// An inline JWKS (`jwks = { keys = [...] }`).
    Jwks(serde_json::Value),
    /// A JWKS URL (`jwks_uri`), fetched when needed and cached.
    JwksUri(String),
    /// A JWK / JWKS file (`jwks_file`, relative to `keys.dir`).
    JwksFile(PathBuf),
}

/// A `[[clients]]` entry as written: the keys are one of `jwks`, `jwks_uri`, `jwks_file`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientSettings {
    id: String,
    redirect_uris: Vec<String>,
    #[serde(default = "default_auth_methods")]
    auth_methods: Vec<AuthMethod>,
    secret: Option<Secret>,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    jwks_file: Option<PathBuf>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    purposes: Vec<String>,
    sector_identifier: Option<String>,
    id_token_signed_response_alg: Option<SigningAlg>,
    #[serde(default = "default_grant_types")]
    grant_types: Vec<GrantType>,
    #[serde(default)]
    trusted_number_assertion: bool,
    #[serde(default)]
    two_legged_scopes: Vec<String>,
    #[serde(default)]
    ipport_hints: bool,
    #[serde(default)]
    compat: CompatProfile,
}

fn default_grant_types() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode]
}

fn default_auth_methods() -> Vec<AuthMethod> {
    vec![AuthMethod::PrivateKeyJwt]
}

impl TryFrom<RawClientSettings> for ClientSettings {
    type Error = String;

    fn try_from(raw: RawClientSettings) -> Result<Self, String> {
        let sources = [
            raw.jwks.map(ClientKeySource::Jwks),
            raw.jwks_uri.map(ClientKeySource::JwksUri),
            raw.jwks_file.map(ClientKeySource::JwksFile),
        ];
        let mut keys = sources.into_iter().flatten();
        let (first, second) = (keys.next(), keys.next());
        if second.is_some() {
            return Err(format!(
                "client {}: {}",
                raw.id,
                if raw.auth_methods.contains(&AuthMethod::PrivateKeyJwt) {
                    PRIVATE_KEY_JWT_KEYS
                } else {
                    "jwks, jwks_uri and jwks_file are alternatives: set one"
                }
            ));
        }
        if let Some(purpose) = &raw.compat.default_purpose {
            if !raw.purposes.iter().any(|p| p == purpose.as_str()) {
                return Err(format!(
                    "client {}: compat.default_purpose {purpose} must be one of its purposes",
                    raw.id
                ));
            }
        }
        if raw.compat.application_jwt && first.is_none() {
            return Err(format!(
                "client {}: compat.application_jwt needs the client's keys (jwks, jwks_uri or jwks_file)",
                raw.id
            ));
        }
        if raw.compat.token_redirect_uri == TokenRedirectUri::OptionalWhenOne
            && raw.redirect_uris.len() != 1
        {
            return Err(format!(
                "client {}: compat.token_redirect_uri = \"optional_when_one\" needs exactly one redirect URI",
                raw.id
            ));
        }
        Ok(Self {
            id: raw.id,
            redirect_uris: raw.redirect_uris,
            auth_methods: raw.auth_methods,
            secret: raw.secret,
            keys: first,
            scopes: raw.scopes,
            purposes: raw.purposes,
            sector_identifier: raw.sector_identifier,
            id_token_signed_response_alg: raw.id_token_signed_response_alg,
            grant_types: raw.grant_types,
            trusted_number_assertion: raw.trusted_number_assertion,
            two_legged_scopes: raw.two_legged_scopes,
            ipport_hints: raw.ipport_hints,
            compat: raw.compat,
        })
    }
}

const PRIVATE_KEY_JWT_KEYS: &str = "private_key_jwt needs exactly one of jwks, jwks_uri, jwks_file";

/// Dev-mode defaults: only applied when `mode = "dev"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevSettings {
    /// Register the demo client `demo-app` when no client is configured.
    pub demo_client: bool,
    pub demo_client_secret: Secret,
    /// Map the loopback addresses to this number when the static table is empty.
    pub loopback_msisdn: PhoneNumber,
}

impl Default for DevSettings {
    fn default() -> Self {
        Self {
            demo_client: true,
            demo_client_secret: Secret::new("demo-secret"),
            loopback_msisdn: "+99012345678".parse().expect("valid"),
        }
    }
}

/// A secret string (client secret, admin token, pairwise salt): zeroed when dropped
/// (`secrecy`), compared in constant time by its users, never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(secrecy::SecretString);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(secrecy::SecretString::from(s.into()))
    }
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}\n(see docs/configuration.md; every key can also be set as {ENV_PREFIX}SECTION__KEY)")]
pub struct ConfigError(pub String);

/// The `[log]` section, for the shared `main` (`server_kit::cli`).
impl AsRef<LogSettings> for Settings {
    fn as_ref(&self) -> &LogSettings {
        &self.log
    }
}

impl Settings {
    /// Defaults, then the optional TOML file, then `AS_*` environment variables.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let settings: Settings = server_kit::config::load(Figment::new(), config_file, ENV_PREFIX)
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks no type can express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=300).contains(&self.access_token.ttl_seconds) {
            return Err(ConfigError(
                "access_token.ttl_seconds must be 1..=300 (CAMARA: short-lived tokens)".into(),
            ));
        }
        if !(0..=60).contains(&self.client_assertion.leeway_seconds) {
            return Err(ConfigError(
                "client_assertion.leeway_seconds must be 0..=60 (clock skew, not a lifetime)"
                    .into(),
            ));
        }
        if !(1..=60).contains(&self.code.ttl_seconds) {
            return Err(ConfigError("code.ttl_seconds must be 1..=60".into()));
        }
        for alias in self.compat.aliases.iter().flatten() {
            let p = &alias.path;
            if !server_kit::config::is_route_path(p) {
                return Err(ConfigError(format!(
                    "compat.aliases: path {p:?} must start with '/' and not end with '/', e.g. /oauth2/token"
                )));
            }
        }
        if self.keys.signing.is_empty() {
            return Err(ConfigError(
                "keys.signing must list at least one key file".into(),
            ));
        }
        if let Some(token) = &self.admin.token {
            if token.expose().chars().count() < MIN_ADMIN_TOKEN_LEN {
                return Err(ConfigError(format!(
                    "admin.token must have at least {MIN_ADMIN_TOKEN_LEN} characters \
                     (e.g. `openssl rand -base64 32`)"
                )));
            }
            if self.mode == Mode::Production && token.expose().contains("change-me") {
                return Err(ConfigError(
                    "admin.token is still the example value: set a random one".into(),
                ));
            }
        }
        if self.admin.listen.is_some() && self.admin.token.is_none() {
            return Err(ConfigError(
                "admin.listen is set but admin.token is not: the admin API would not exist".into(),
            ));
        }
        let proxies = &self.server.trusted_proxies;
        let mapped =
            |net: &IpNet| matches!(net, IpNet::V6(v6) if v6.addr().to_ipv4_mapped().is_some());
        for p in proxies {
            // Peers and hops are compared as IPv4 (`::ffff:a.b.c.d` is a.b.c.d): such an entry
            // would silently match nothing.
            if mapped(&p.network) {
                return Err(ConfigError(format!(
                    "server.trusted_proxies: {} is IPv4-mapped IPv6; write the IPv4 address",
                    p.network
                )));
            }
            // A device inside a trusted range would be believed about its own forwarding
            // header, and so could name any subscriber's address.
            if let Some(row) = self
                .network
                .static_table
                .iter()
                .find(|r| r.network.contains(&p.network) || p.network.contains(&r.network))
            {
                return Err(ConfigError(format!(
                    "server.trusted_proxies: {} overlaps the subscriber network {} of \
                     network.static; a proxy's addresses must not be subscribers'",
                    p.network, row.network
                )));
            }
        }
        if let Some(row) = self
            .network
            .static_table
            .iter()
            .find(|r| mapped(&r.network))
        {
            return Err(ConfigError(format!(
                "network.static: {} is IPv4-mapped IPv6; write the IPv4 address",
                row.network
            )));
        }
        for (i, a) in proxies.iter().enumerate() {
            for b in &proxies[i + 1..] {
                let overlap = a.network.contains(&b.network) || b.network.contains(&a.network);
                if overlap && a.header != b.header {
                    return Err(ConfigError(format!(
                        "server.trusted_proxies: {} ({}) and {} ({}) overlap but name different \
                         headers; a proxy writes one header",
                        a.network,
                        a.header.name(),
                        b.network,
                        b.header.name()
                    )));
                }
            }
        }
        for c in &self.clients {
            if c.redirect_uris.is_empty() {
                return Err(ConfigError(format!(
                    "client {}: redirect_uris is empty",
                    c.id
                )));
            }
            let uses_secret = c.auth_methods.iter().any(|m| {
                matches!(
                    m,
                    AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
                )
            });
            if uses_secret && c.secret.is_none() {
                return Err(ConfigError(format!(
                    "client {}: a client_secret_* method needs `secret`",
                    c.id
                )));
            }
            if c.auth_methods.contains(&AuthMethod::PrivateKeyJwt) && c.keys.is_none() {
                return Err(ConfigError(format!(
                    "client {}: {PRIVATE_KEY_JWT_KEYS}",
                    c.id
                )));
            }
            if c.auth_methods.contains(&AuthMethod::None) && c.auth_methods.len() > 1 {
                return Err(ConfigError(format!(
                    "client {}: a public client (`none`) has no other method",
                    c.id
                )));
            }
            for p in &c.purposes {
                if !p.starts_with("dpv:") {
                    return Err(ConfigError(format!(
                        "client {}: purpose `{p}` must start with dpv:",
                        c.id
                    )));
                }
            }
            let jwt_bearer = c.grant_types.contains(&GrantType::JwtBearer);
            // The JWT-bearer assertion is the client's authentication (CAMARA profile, "JWT
            // Bearer Flow"): it is verified with the client's registered keys.
            if jwt_bearer && c.keys.is_none() {
                return Err(ConfigError(format!(
                    "client {}: the jwt-bearer grant needs the client's keys (jwks, jwks_uri or \
                     jwks_file)",
                    c.id
                )));
            }
            // RFC 6749 §4.4 and CIBA Core §7.1: grants of confidential clients only.
            let public = c.auth_methods == [AuthMethod::None];
            for grant in [GrantType::ClientCredentials, GrantType::Ciba] {
                if public && c.grant_types.contains(&grant) {
                    return Err(ConfigError(format!(
                        "client {}: {grant} needs a confidential client (auth_methods other than \
                         none)",
                        c.id
                    )));
                }
            }
            for scope in &c.two_legged_scopes {
                if let Some(why) = not_two_legged(scope) {
                    return Err(ConfigError(format!(
                        "client {}: two_legged_scopes `{scope}`: {why}",
                        c.id
                    )));
                }
            }
            if c.trusted_number_assertion && !jwt_bearer {
                return Err(ConfigError(format!(
                    "client {}: trusted_number_assertion applies to the jwt-bearer grant only: \
                     add urn:ietf:params:oauth:grant-type:jwt-bearer to grant_types",
                    c.id
                )));
            }
        }
        self.radius.validate(self.mode)?;
        self.cgnat.validate(self.mode)?;
        self.operator_token
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.ciba.validate().map_err(ConfigError)?;
        Ok(())
    }

    pub fn playground(&self) -> bool {
        self.network.playground.unwrap_or(self.mode == Mode::Dev)
    }

    pub fn key_path(&self, file: &Path) -> PathBuf {
        if file.is_absolute() {
            file.to_path_buf()
        } else {
            self.keys.dir.join(file)
        }
    }
}

/// Why `scope` cannot be a 2-legged scope, if it cannot: a Number Verification scope names a
/// subscriber's number (3-legged only), `openid` and purposes are not API scopes, and a scope is
/// one token of visible ASCII (RFC 6749 §3.3).
pub fn not_two_legged(scope: &str) -> Option<&'static str> {
    if scope.parse::<nv_token::ApiScope>().is_ok() {
        Some("Number Verification scopes are 3-legged only (they need a subscriber)")
    } else if scope == "openid" || scope.starts_with("dpv:") {
        Some("openid and purposes are not 2-legged API scopes")
    } else if scope.is_empty()
        || !scope
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        Some("a scope is visible ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)")
    } else {
        None
    }
}

/// The RADIUS accounting listener (`network::radius`): the packet core's gateways report each
/// data session there.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadiusSettings {
    /// Run the listener. Default: on in dev mode; in production, on when `listen` is set.
    pub enabled: Option<bool>,
    /// UDP address to listen on. Default: [`DEV_RADIUS_LISTEN`] in dev mode; production needs it.
    pub listen: Option<std::net::SocketAddr>,
    /// The NAS clients (gateways, or a RADIUS proxy in front of them) and their shared secrets.
    /// Empty in dev mode: `127.0.0.1` with [`DEV_RADIUS_SECRET`]; production needs at least one.
    pub clients: Vec<NasClient>,
    /// A session with no update (Start or Interim-Update) for this long expires, in seconds:
    /// a few times the gateways' interim interval.
    pub session_timeout_seconds: u64,
    /// Datagrams handled at once (each is at most one packet's store writes).
    pub max_in_flight: usize,
}

/// The dev-mode accounting address: the standard port on loopback.
pub const DEV_RADIUS_LISTEN: &str = "127.0.0.1:1813";
/// FreeRADIUS's test secret, so `radclient … testing123` works against the local stack; refused
/// in production.
pub const DEV_RADIUS_SECRET: &str = "testing123";

impl Default for RadiusSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            listen: None,
            clients: Vec::new(),
            session_timeout_seconds: 1800,
            max_in_flight: 32,
        }
    }
}

/// One RADIUS client: an address or prefix and the secret it signs with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasClient {
    #[serde(deserialize_with = "ip_or_net")]
    pub network: IpNet,
    pub secret: Secret,
}

/// What the listener runs with once the mode's defaults are applied.
pub struct RadiusListen {
    pub addr: std::net::SocketAddr,
    /// The address is the dev default (another process may hold it).
    pub dev_default: bool,
    pub clients: Vec<NasClient>,
}

impl RadiusSettings {
    fn enabled_in(&self, mode: Mode) -> bool {
        self.enabled
            .unwrap_or(mode == Mode::Dev || self.listen.is_some())
    }

    /// The listener to run, if any.
    pub fn effective(&self, mode: Mode) -> Option<RadiusListen> {
        if !self.enabled_in(mode) {
            return None;
        }
        let dev = mode == Mode::Dev;
        let addr = match (self.listen, dev) {
            (Some(addr), _) => addr,
            (None, true) => DEV_RADIUS_LISTEN.parse().expect("valid"),
            (None, false) => return None,
        };
        let mut clients = self.clients.clone();
        if clients.is_empty() && dev {
            clients.push(NasClient {
                network: IpNet::from(IpAddr::from([127, 0, 0, 1])),
                secret: Secret::new(DEV_RADIUS_SECRET),
            });
        }
        Some(RadiusListen {
            addr,
            dev_default: self.listen.is_none(),
            clients,
        })
    }

    fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        if !(60..=7 * 24 * 3600).contains(&self.session_timeout_seconds) {
            return Err(ConfigError(
                "radius.session_timeout_seconds must be 60..=604800 (a few interim intervals)"
                    .into(),
            ));
        }
        if !(1..=1024).contains(&self.max_in_flight) {
            return Err(ConfigError("radius.max_in_flight must be 1..=1024".into()));
        }
        if mode == Mode::Production {
            let wanted = self.enabled == Some(true) || !self.clients.is_empty();
            if wanted && self.listen.is_none() {
                return Err(ConfigError(
                    "radius is configured but radius.listen is not: give the UDP address \
                     (e.g. \"0.0.0.0:1813\")"
                        .into(),
                ));
            }
            if self.enabled_in(mode) && self.clients.is_empty() {
                return Err(ConfigError(
                    "radius.listen is set but radius.clients is empty: list the gateways \
                     ({ network = \"10.0.0.0/24\", secret = \"…\" })"
                        .into(),
                ));
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            // RFC 2865 §3: the secret must not be empty; the dev secret is public.
            if c.secret.expose().is_empty() {
                return Err(ConfigError(format!(
                    "radius.clients: {} has an empty secret",
                    c.network
                )));
            }
            if mode == Mode::Production && c.secret.expose() == DEV_RADIUS_SECRET {
                return Err(ConfigError(format!(
                    "radius.clients: {} uses the test secret {DEV_RADIUS_SECRET}; set a random one \
                     (at least 16 characters, RFC 2865 §3)",
                    c.network
                )));
            }
            // Peers are compared as IPv4 (`::ffff:a.b.c.d` is a.b.c.d): such an entry would
            // match nothing.
            if matches!(c.network, IpNet::V6(v6) if v6.addr().to_ipv4_mapped().is_some()) {
                return Err(ConfigError(format!(
                    "radius.clients: {} is IPv4-mapped IPv6; write the IPv4 address",
                    c.network
                )));
            }
            if self.clients[..i].iter().any(|o| o.network == c.network) {
                return Err(ConfigError(format!(
                    "radius.clients: {} is listed twice",
                    c.network
                )));
            }
        }
        Ok(())
    }
}

/// CGNAT port blocks (`network::cgnat`): which private address holds which ports of a public
/// one, fed by the NAT's IPFIX export (`cgnat.ipfix`) or the admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CgnatSettings {
    /// An allocation with no refresh (a new allocation event, or the admin API) for this long
    /// expires, in seconds. A NAT that reports only allocation and release needs it longer than
    /// its longest block hold.
    pub allocation_timeout_seconds: u64,
    pub ipfix: IpfixSettings,
}

impl Default for CgnatSettings {
    fn default() -> Self {
        Self {
            allocation_timeout_seconds: 86_400,
            ipfix: IpfixSettings::default(),
        }
    }
}

/// The IPFIX collector for NAT events (RFC 7011 over UDP, RFC 8158 information elements).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IpfixSettings {
    /// Run the collector. Default: on in dev mode; in production, on when `listen` is set.
    pub enabled: Option<bool>,
    /// UDP address to listen on. Default: [`DEV_IPFIX_LISTEN`] in dev mode; production needs it.
    pub listen: Option<std::net::SocketAddr>,
    /// Exporters (NAT devices) messages are accepted from, addresses or prefixes. Empty in dev
    /// mode: `127.0.0.1`; production needs at least one.
    #[serde(deserialize_with = "ip_or_nets")]
    pub exporters: Vec<IpNet>,
}

/// The dev-mode collector address: the IPFIX port (RFC 7011 §10.3.1) on loopback.
pub const DEV_IPFIX_LISTEN: &str = "127.0.0.1:4739";

fn ip_or_nets<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_ip_or_net(s).map_err(serde::de::Error::custom))
        .collect()
}

/// What the collector runs with once the mode's defaults are applied.
pub struct IpfixListen {
    pub addr: std::net::SocketAddr,
    /// The address is the dev default (another process may hold it).
    pub dev_default: bool,
    pub exporters: Vec<IpNet>,
}

impl IpfixSettings {
    fn enabled_in(&self, mode: Mode) -> bool {
        self.enabled
            .unwrap_or(mode == Mode::Dev || self.listen.is_some())
    }

    /// The collector to run, if any.
    pub fn effective(&self, mode: Mode) -> Option<IpfixListen> {
        if !self.enabled_in(mode) {
            return None;
        }
        let dev = mode == Mode::Dev;
        let addr = match (self.listen, dev) {
            (Some(addr), _) => addr,
            (None, true) => DEV_IPFIX_LISTEN.parse().expect("valid"),
            (None, false) => return None,
        };
        let mut exporters = self.exporters.clone();
        if exporters.is_empty() && dev {
            exporters.push(IpNet::from(IpAddr::from([127, 0, 0, 1])));
        }
        Some(IpfixListen {
            addr,
            dev_default: self.listen.is_none(),
            exporters,
        })
    }
}

impl CgnatSettings {
    fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        if !(60..=30 * 24 * 3600).contains(&self.allocation_timeout_seconds) {
            return Err(ConfigError(
                "cgnat.allocation_timeout_seconds must be 60..=2592000".into(),
            ));
        }
        let ipfix = &self.ipfix;
        if mode == Mode::Production {
            let wanted = ipfix.enabled == Some(true) || !ipfix.exporters.is_empty();
            if wanted && ipfix.listen.is_none() {
                return Err(ConfigError(
                    "cgnat.ipfix is configured but cgnat.ipfix.listen is not: give the UDP \
                     address (e.g. \"0.0.0.0:4739\")"
                        .into(),
                ));
            }
            if ipfix.enabled_in(mode) && ipfix.exporters.is_empty() {
                return Err(ConfigError(
                    "cgnat.ipfix.listen is set but cgnat.ipfix.exporters is empty: list the NAT \
                     devices' export addresses (e.g. [\"10.0.1.0/24\"])"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Env, Format, Toml};

    #[test]
    fn port_ranges_parse_and_reject_nonsense() {
        assert_eq!(
            "1024-2047".parse::<PortRange>().unwrap(),
            PortRange {
                first: 1024,
                last: 2047
            }
        );
        assert_eq!(
            "80".parse::<PortRange>().unwrap(),
            PortRange {
                first: 80,
                last: 80
            }
        );
        assert!("2047-1024".parse::<PortRange>().is_err());
        assert!("x-1".parse::<PortRange>().is_err());
        assert!("1-70000".parse::<PortRange>().is_err());
    }

    #[test]
    fn single_addresses_become_host_prefixes() {
        assert_eq!(
            parse_ip_or_net("10.0.0.7").unwrap().to_string(),
            "10.0.0.7/32"
        );
        assert_eq!(
            parse_ip_or_net("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert!(parse_ip_or_net("nope").is_err());
    }

    fn server_from(figment: Figment) -> Result<ServerSettings, String> {
        figment
            .extract::<ServerSettings>()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_trusted_proxy_names_the_header_it_writes() {
        let s = server_from(Figment::from(Toml::string(
            r#"trusted_proxies = [{ network = "10.0.0.2", header = "x-forwarded-for" },
                                  { network = "10.1.0.0/16", header = "forwarded" }]"#,
        )))
        .unwrap();
        assert_eq!(
            s.trusted_proxies,
            vec![
                TrustedProxy {
                    network: "10.0.0.2/32".parse().unwrap(),
                    header: ForwardingHeader::XForwardedFor
                },
                TrustedProxy {
                    network: "10.1.0.0/16".parse().unwrap(),
                    header: ForwardingHeader::Forwarded
                }
            ]
        );
        // The environment form of the same list.
        std::env::set_var(
            "ASCONFIGTEST_TRUSTED_PROXIES",
            r#"[{network="172.30.57.10/32",header="forwarded"}]"#,
        );
        let s = server_from(Figment::from(Env::prefixed("ASCONFIGTEST_"))).unwrap();
        assert_eq!(s.trusted_proxies[0].header, ForwardingHeader::Forwarded);
    }

    #[test]
    fn a_trusted_proxy_without_its_header_is_a_clear_error() {
        let err = server_from(Figment::from(Toml::string(
            r#"trusted_proxies = ["10.0.0.0/8"]"#,
        )))
        .unwrap_err();
        assert!(err.contains("must say which header it writes"), "{err}");
        for bad in [
            r#"trusted_proxies = [{ network = "10.0.0.0/8" }]"#,
            r#"trusted_proxies = [{ network = "10.0.0.0/8", header = "x-real-ip" }]"#,
            r#"trusted_proxies = [{ network = "nope", header = "forwarded" }]"#,
        ] {
            assert!(
                server_from(Figment::from(Toml::string(bad))).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn overlapping_proxies_with_different_headers_are_refused() {
        let mut s = Settings::default();
        let proxy = |net: &str, header| TrustedProxy {
            network: net.parse().unwrap(),
            header,
        };
        s.server.trusted_proxies = vec![
            proxy("10.0.0.0/8", ForwardingHeader::Forwarded),
            proxy("10.1.2.3/32", ForwardingHeader::XForwardedFor),
        ];
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("overlap"), "{err}");
        s.server.trusted_proxies[1].header = ForwardingHeader::Forwarded;
        assert!(s.validate().is_ok());
    }

    #[test]
    fn a_trusted_proxy_range_must_not_hold_subscribers_or_be_ipv4_mapped() {
        let mut s = Settings::default();
        s.server.trusted_proxies = vec![TrustedProxy {
            network: "10.0.0.0/8".parse().unwrap(),
            header: ForwardingHeader::XForwardedFor,
        }];
        s.network.static_table = vec![StaticEntry {
            network: parse_ip_or_net("10.20.0.5").unwrap(),
            ports: None,
            msisdn: "+99000000001".parse().unwrap(),
        }];
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("overlaps"), "{err}");
        s.network.static_table[0].network = parse_ip_or_net("100.64.0.0/10").unwrap();
        assert!(s.validate().is_ok());
        s.server.trusted_proxies[0].network = "::ffff:10.0.0.0/104".parse().unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("IPv4-mapped"), "{err}");
    }

    fn settings_from(toml: &str) -> Result<Settings, String> {
        let s: Settings = Figment::from(Toml::string(toml))
            .extract()
            .map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    fn client_with(keys: &str, methods: &str) -> String {
        format!(
            "[[clients]]\nid = \"rp\"\nredirect_uris = [\"https://rp.example/cb\"]\n\
             auth_methods = {methods}\nsecret = \"s\"\n{keys}"
        )
    }

    const JWKS: &str = r#"jwks = { keys = [] }"#;
    const JWKS_URI: &str = r#"jwks_uri = "https://rp.example/jwks""#;
    const JWKS_FILE: &str = r#"jwks_file = "rp.jwks.json""#;

    #[test]
    fn grant_types_default_to_the_code_flow_and_take_their_registered_names() {
        let s = settings_from(&client_with("", r#"["client_secret_basic"]"#)).unwrap();
        assert_eq!(s.clients[0].grant_types, [GrantType::AuthorizationCode]);
        assert!(!s.clients[0].trusted_number_assertion);
        let s = settings_from(&format!(
            "{}\ngrant_types = [\"urn:ietf:params:oauth:grant-type:jwt-bearer\", \
             \"urn:openid:params:grant-type:ciba\", \"client_credentials\"]\n\
             trusted_number_assertion = true",
            client_with(JWKS, r#"["private_key_jwt"]"#)
        ))
        .unwrap();
        assert_eq!(
            s.clients[0].grant_types,
            [
                GrantType::JwtBearer,
                GrantType::Ciba,
                GrantType::ClientCredentials
            ]
        );
        assert!(s.clients[0].trusted_number_assertion);
        let err = settings_from(&format!(
            "{}\ngrant_types = [\"password\"]",
            client_with("", r#"["client_secret_basic"]"#)
        ))
        .unwrap_err();
        assert!(err.contains("unknown grant type"), "{err}");
    }

    #[test]
    fn a_compatibility_profile_is_strict_unless_configured_and_checked_against_the_client() {
        let basic = client_with("", r#"["client_secret_basic"]"#);
        let s = settings_from(&basic).unwrap();
        assert!(s.clients[0].compat.is_strict());
        let s = settings_from(&format!(
            "{basic}\npurposes = [\"dpv:FraudPreventionAndDetection\"]\n[clients.compat]\n\
             default_purpose = \"dpv:FraudPreventionAndDetection\"\n\
             token_redirect_uri = \"optional_when_one\""
        ))
        .unwrap();
        let compat = &s.clients[0].compat;
        assert_eq!(compat.token_redirect_uri, TokenRedirectUri::OptionalWhenOne);
        assert_eq!(
            compat.default_purpose.as_ref().map(Purpose::as_str),
            Some("dpv:FraudPreventionAndDetection")
        );
        let err = settings_from(&format!(
            "{basic}\n[clients.compat]\ndefault_purpose = \"dpv:Marketing\""
        ))
        .unwrap_err();
        assert!(err.contains("must be one of its purposes"), "{err}");
        let err = settings_from(
            "[[clients]]\nid = \"rp\"\nredirect_uris = [\"https://rp.example/a\", \"https://rp.example/b\"]\n\
             auth_methods = [\"client_secret_basic\"]\nsecret = \"s\"\n\
             [clients.compat]\ntoken_redirect_uri = \"optional_when_one\"",
        )
        .unwrap_err();
        assert!(err.contains("needs exactly one redirect URI"), "{err}");
        let err = settings_from(&format!(
            "{basic}\n[clients.compat]\napplication_jwt = true"
        ))
        .unwrap_err();
        assert!(
            err.contains("application_jwt needs the client's keys"),
            "{err}"
        );
        for bad in [
            "default_purpose = \"Marketing\"",
            "token_redirect_uri = \"sometimes\"",
            "lenient = true",
        ] {
            assert!(
                settings_from(&format!("{basic}\n[clients.compat]\n{bad}")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn gateway_aliases_are_dev_defaults_and_clean_paths() {
        let s = settings_from("").unwrap();
        assert_eq!(
            s.compat.aliases(Mode::Dev).len(),
            DEV_ENDPOINT_ALIASES.len()
        );
        assert!(s.compat.aliases(Mode::Production).is_empty());
        assert!(s.compat.fast_flow_csp_auth_endpoint(Mode::Dev));
        assert!(!s.compat.fast_flow_csp_auth_endpoint(Mode::Production));
        let s = settings_from(
            "[compat]\naliases = [{ path = \"/gw/token\", endpoint = \"token\" }]\n\
             fast_flow_csp_auth_endpoint = false",
        )
        .unwrap();
        assert_eq!(
            s.compat.aliases(Mode::Dev),
            [EndpointAlias {
                path: "/gw/token".into(),
                endpoint: AliasedEndpoint::Token
            }]
        );
        assert!(!s.compat.fast_flow_csp_auth_endpoint(Mode::Dev));
        for bad in ["gw/token", "/gw/token/", "/gw//token"] {
            let err = settings_from(&format!(
                "[compat]\naliases = [{{ path = \"{bad}\", endpoint = \"token\" }}]"
            ))
            .unwrap_err();
            assert!(err.contains("compat.aliases"), "{bad}: {err}");
        }
        assert!(
            settings_from("[compat]\naliases = [{ path = \"/x\", endpoint = \"userinfo\" }]")
                .is_err()
        );
    }

    #[test]
    fn a_public_client_may_not_use_client_credentials_or_ciba() {
        for grant in ["client_credentials", "urn:openid:params:grant-type:ciba"] {
            let err = settings_from(&format!(
                "[[clients]]\nid = \"app\"\nredirect_uris = [\"https://app.example/cb\"]\n\
                 auth_methods = [\"none\"]\ngrant_types = [\"{grant}\"]"
            ))
            .unwrap_err();
            assert!(err.contains("confidential client"), "{grant}: {err}");
        }
    }

    #[test]
    fn two_legged_scopes_are_api_scopes_of_other_apis() {
        let with = |scopes: &str| {
            settings_from(&format!(
                "{}\ngrant_types = [\"client_credentials\"]\ntwo_legged_scopes = {scopes}",
                client_with("", r#"["client_secret_basic"]"#)
            ))
        };
        assert_eq!(
            with(r#"["operator-api:read"]"#).unwrap().clients[0].two_legged_scopes,
            ["operator-api:read"]
        );
        for (bad, why) in [
            (r#"["number-verification:verify"]"#, "3-legged only"),
            (r#"["openid"]"#, "not 2-legged API scopes"),
            (
                r#"["dpv:FraudPreventionAndDetection"]"#,
                "not 2-legged API scopes",
            ),
            (r#"["two words"]"#, "visible ASCII"),
            (r#"[""]"#, "visible ASCII"),
        ] {
            let err = with(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn the_ciba_section_bounds_the_lifetime_and_the_interval() {
        let s = settings_from("[ciba]\nexpires_in_seconds = 300\ninterval_seconds = 5").unwrap();
        assert_eq!(
            (s.ciba.expires_in_seconds, s.ciba.interval_seconds),
            (300, 5)
        );
        for (bad, key) in [
            ("expires_in_seconds = 0", "expires_in_seconds"),
            ("expires_in_seconds = 601", "expires_in_seconds"),
            ("interval_seconds = 0", "interval_seconds"),
            ("interval_seconds = 61", "interval_seconds"),
            ("expires_in_seconds = 10\ninterval_seconds = 10", "below"),
        ] {
            let err = settings_from(&format!("[ciba]\n{bad}")).unwrap_err();
            assert!(err.contains(key), "{bad}: {err}");
        }
        assert!(settings_from("[ciba]\ninterval = 5").is_err());
    }

    #[test]
    fn the_operator_token_section_is_validated_with_the_rest() {
        assert!(
            settings_from("[operator_token]\nbackend = \"simulated\"\nttl_seconds = 60").is_ok()
        );
        let err = settings_from("[operator_token]\nbackend = \"simulated\"\nttl_seconds = 301")
            .unwrap_err();
        assert!(err.contains("operator_token.ttl_seconds"), "{err}");
    }

    #[test]
    fn jwt_bearer_needs_client_keys_and_number_assertion_needs_jwt_bearer() {
        let jwt_bearer = "grant_types = [\"urn:ietf:params:oauth:grant-type:jwt-bearer\"]";
        let err = settings_from(&format!(
            "{}\n{jwt_bearer}",
            client_with("", r#"["client_secret_basic"]"#)
        ))
        .unwrap_err();
        assert!(err.contains("needs the client's keys"), "{err}");
        let err = settings_from(&format!(
            "{}\ntrusted_number_assertion = true",
            client_with(JWKS, r#"["private_key_jwt"]"#)
        ))
        .unwrap_err();
        assert!(err.contains("jwt-bearer grant only"), "{err}");
    }

    #[test]
    fn a_client_has_one_key_source_of_three() {
        let keys = |k: &str| {
            settings_from(&client_with(k, r#"["private_key_jwt"]"#))
                .unwrap()
                .clients[0]
                .keys
                .clone()
        };
        assert_eq!(
            keys(JWKS),
            Some(ClientKeySource::Jwks(serde_json::json!({"keys": []})))
        );
        assert_eq!(
            keys(JWKS_URI),
            Some(ClientKeySource::JwksUri("https://rp.example/jwks".into()))
        );
        assert_eq!(
            keys(JWKS_FILE),
            Some(ClientKeySource::JwksFile("rp.jwks.json".into()))
        );
        let secret_only = settings_from(&client_with("", r#"["client_secret_basic"]"#)).unwrap();
        assert_eq!(secret_only.clients[0].keys, None);
    }

    #[test]
    fn private_key_jwt_without_keys_or_with_two_sources_is_refused() {
        let pkjwt = r#"["private_key_jwt"]"#;
        let err = settings_from(&client_with("", pkjwt)).unwrap_err();
        assert!(
            err.contains(
                "client rp: private_key_jwt needs exactly one of jwks, jwks_uri, jwks_file"
            ),
            "{err}"
        );
        for two in [
            format!("{JWKS}\n{JWKS_URI}"),
            format!("{JWKS_URI}\n{JWKS_FILE}"),
            format!("{JWKS}\n{JWKS_FILE}"),
        ] {
            let err = settings_from(&client_with(&two, pkjwt)).unwrap_err();
            assert!(
                err.contains(
                    "client rp: private_key_jwt needs exactly one of jwks, jwks_uri, jwks_file"
                ),
                "{two}: {err}"
            );
        }
        let err = settings_from(&client_with(
            &format!("{JWKS}\n{JWKS_URI}"),
            r#"["client_secret_basic"]"#,
        ))
        .unwrap_err();
        assert!(
            err.contains("client rp: jwks, jwks_uri and jwks_file are alternatives: set one"),
            "{err}"
        );
    }

    #[test]
    fn the_resource_servers_key_is_a_file_or_a_jwks_url() {
        let key = |toml: &str| settings_from(toml).unwrap().access_token.encryption_key;
        assert_eq!(
            key(""),
            EncryptionKeySource::JwksUri("http://127.0.0.1:8081/.well-known/jwks.json".into())
        );
        assert_eq!(
            key("[access_token]\nencryption_jwks_uri = \"https://nv.example/jwks\""),
            EncryptionKeySource::JwksUri("https://nv.example/jwks".into())
        );
        // The URL has a default, so a file next to it is the usual case: the file wins.
        assert_eq!(
            key("[access_token]\nencryption_key_file = \"rs.json\""),
            EncryptionKeySource::File("rs.json".into())
        );
        assert_eq!(
            key("[access_token]\nencryption_key_file = \"rs.json\"\n\
                 encryption_jwks_uri = \"https://nv.example/jwks\""),
            EncryptionKeySource::File("rs.json".into())
        );
        let neither = RawAccessTokenSettings {
            encryption_key_file: None,
            encryption_jwks_uri: None,
            ..Default::default()
        };
        let err = AccessTokenSettings::try_from(neither).unwrap_err();
        assert!(
            err.contains(
                "set access_token.encryption_key_file or access_token.encryption_jwks_uri"
            ),
            "{err}"
        );
    }

    #[test]
    fn radius_is_on_in_dev_with_the_test_client_and_off_in_production_unless_configured() {
        let dev = RadiusSettings::default().effective(Mode::Dev).unwrap();
        assert_eq!(dev.addr.to_string(), DEV_RADIUS_LISTEN);
        assert!(dev.dev_default);
        assert_eq!(dev.clients.len(), 1);
        assert_eq!(dev.clients[0].secret.expose(), DEV_RADIUS_SECRET);
        let off = RadiusSettings {
            enabled: Some(false),
            ..Default::default()
        };
        assert!(off.effective(Mode::Dev).is_none());
        assert!(RadiusSettings::default()
            .effective(Mode::Production)
            .is_none());
        assert!(RadiusSettings::default().validate(Mode::Production).is_ok());
    }

    #[test]
    fn production_radius_needs_a_listener_and_clients_with_real_secrets() {
        let client = |net: &str, secret: &str| NasClient {
            network: parse_ip_or_net(net).unwrap(),
            secret: Secret::new(secret),
        };
        let err = |r: &RadiusSettings, mode| r.validate(mode).unwrap_err().to_string();
        let mut r = RadiusSettings {
            enabled: Some(true),
            ..Default::default()
        };
        assert!(err(&r, Mode::Production).contains("radius.listen"));
        r.listen = Some("0.0.0.0:1813".parse().unwrap());
        assert!(err(&r, Mode::Production).contains("radius.clients is empty"));
        r.clients = vec![client("10.0.0.0/24", DEV_RADIUS_SECRET)];
        assert!(err(&r, Mode::Production).contains("test secret"));
        assert!(r.validate(Mode::Dev).is_ok());
        r.clients = vec![client("10.0.0.0/24", "a-long-random-nas-secret")];
        r.enabled = None;
        assert!(r.validate(Mode::Production).is_ok());
        let on = r.effective(Mode::Production).unwrap();
        assert!(!on.dev_default);
        assert_eq!(on.clients.len(), 1);
        for bad in [
            vec![client("10.0.0.1", "")],
            vec![client("::ffff:10.0.0.1", "s")],
            vec![client("10.0.0.1", "s"), client("10.0.0.1/32", "t")],
        ] {
            r.clients = bad;
            assert!(r.validate(Mode::Dev).is_err());
        }
        r.clients = vec![client("10.0.0.1", "s")];
        r.session_timeout_seconds = 59;
        assert!(err(&r, Mode::Dev).contains("session_timeout_seconds"));
        r.session_timeout_seconds = 1800;
        r.max_in_flight = 0;
        assert!(err(&r, Mode::Dev).contains("max_in_flight"));
    }

    #[test]
    fn ipfix_is_on_in_dev_for_loopback_and_off_in_production_unless_configured() {
        let dev = IpfixSettings::default().effective(Mode::Dev).unwrap();
        assert_eq!(dev.addr.to_string(), DEV_IPFIX_LISTEN);
        assert!(dev.dev_default);
        assert_eq!(
            dev.exporters,
            vec!["127.0.0.1/32".parse::<IpNet>().unwrap()]
        );
        assert!(IpfixSettings::default()
            .effective(Mode::Production)
            .is_none());
        let c = CgnatSettings::default();
        assert!(c.validate(Mode::Production).is_ok());
        let err = |c: &CgnatSettings| c.validate(Mode::Production).unwrap_err().to_string();
        let mut c = CgnatSettings::default();
        c.ipfix.enabled = Some(true);
        assert!(err(&c).contains("cgnat.ipfix.listen"));
        c.ipfix.listen = Some("0.0.0.0:4739".parse().unwrap());
        assert!(err(&c).contains("exporters is empty"));
        c.ipfix.exporters = vec!["10.0.1.0/24".parse().unwrap()];
        assert!(c.validate(Mode::Production).is_ok());
        c.allocation_timeout_seconds = 10;
        assert!(err(&c).contains("allocation_timeout_seconds"));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
