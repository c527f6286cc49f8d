//! Building and running the server: `Application::build` binds (port 0 works) and reports the
//! address; [`configure`] is the one route table used by `main` and by the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App};
use nv_token::dispatch::CryptoRunner;
use nv_token::{EncryptionKey, SigningAlg};
pub use server_kit::startup::Dependencies;
use server_kit::startup::{BindError, Listener};
use tracing_actix_web::TracingLogger;

use crate::clients::ClientRegistry;
use crate::config::{
    AuthMethod, ClientKeySource, ClientSettings, CompatProfile, EncryptionKeySource, Mode,
    Settings, StaticEntry, TokenRedirectUri,
};
use crate::endpoints;
use crate::keys::{self, read_jwks_file, KeyFileError};
use crate::network::cgnat::{ipfix::IpfixCollector, CgnatCounters, CgnatResolver};
use crate::network::radius::{FeedCounters, RadiusFeed};
use crate::network::{
    ChainResolver, Identification, IdentityResolver, Playground, SessionResolver, StaticTable,
};
use crate::operator_token::OperatorTokens;
use crate::protocol::GrantType;
use crate::recipient::RecipientKey;
use crate::state::{AccessTokenPolicy, AppState, ClientJwtPolicy};

/// The demo client registered in dev mode (docs/configuration.md, "Dev defaults").
pub const DEMO_CLIENT_ID: &str = "demo-app";
/// Its private key for `private_key_jwt`, written to `keys/` for the demo relying party.
pub const DEMO_CLIENT_KEY_FILE: &str = "demo-app.jwk";
/// A second dev client, trusted to assert numbers in JWT-bearer assertions (`sub = tel:+…`);
/// it signs with the demo client's key.
pub const DEMO_TRUSTED_CLIENT_ID: &str = "demo-trusted-backend";
pub const DEMO_PURPOSES: &[&str] = &[
    "dpv:FraudPreventionAndDetection",
    "dpv:IdentityVerification",
    "dpv:RequestedServiceProvision",
];

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("key material: {0}")]
    Keys(#[from] KeyFileError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("shared store: {0}")]
    Store(#[from] nv_store::StoreError),
    #[error("{0}")]
    Other(String),
}

impl From<BindError> for StartupError {
    fn from(e: BindError) -> Self {
        StartupError::Bind {
            addr: e.addr.to_string(),
            source: e.source,
        }
    }
}

/// In-flight requests get this long to finish when the server stops.
const SHUTDOWN_SECONDS: u64 = 5;

pub struct Application {
    local_addr: SocketAddr,
    issuer: String,
    crypto: nv_token::CryptoDispatch,
    server: Server,
    /// The admin listener, when `admin.listen` gives it one.
    admin: Option<(SocketAddr, Server)>,
    /// The RADIUS accounting listener, when `radius` runs one.
    radius: Option<RadiusFeed>,
    /// The IPFIX collector, when `cgnat.ipfix` runs one.
    ipfix: Option<IpfixCollector>,
    cgnat_counters: Arc<CgnatCounters>,
}

impl Application {
    /// Build from configuration alone.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let deps = Dependencies::from_settings(&settings.store).await?;
        Self::build_with(settings, deps).await
    }

    pub async fn build_with(
        mut settings: Settings,
        deps: Dependencies,
    ) -> Result<Self, StartupError> {
        settings.validate()?;
        let listener = Listener::on(&settings.server)?;
        let local_addr = listener.local_addr();
        let issuer = settings
            .server
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{local_addr}"))
            .trim_end_matches('/')
            .to_owned();

        if settings.mode == Mode::Dev {
            apply_dev_defaults(&mut settings, &issuer)?;
        }
        let signing = keys::load_signing_keys(&settings)?;
        let pairwise_salt = keys::pairwise_salt(&settings)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let clients =
            ClientRegistry::from_settings(&settings, &settings.clients, &http, &deps.clock)?;
        let recipient = match &settings.access_token.encryption_key {
            EncryptionKeySource::File(file) => {
                let path = settings.key_path(file);
                let jwks = read_jwks_file(&path)?;
                let key = jwks
                    .iter()
                    .find_map(|j| {
                        // `dir` uses the shared secret itself; otherwise only the public half.
                        let public = if j.key_type() == "oct" {
                            j.clone()
                        } else {
                            nv_token::keys::public_jwk(j).ok()?
                        };
                        EncryptionKey::from_jwk(&public, settings.access_token.key_management).ok()
                    })
                    .ok_or_else(|| KeyFileError::Unreadable {
                        path: path.display().to_string(),
                        reason: "no usable encryption key".into(),
                    })?;
                RecipientKey::Static(Arc::new(key))
            }
            EncryptionKeySource::JwksUri(uri) => RecipientKey::remote(
                uri.clone(),
                settings.access_token.key_management,
                http.clone(),
                deps.clock.clone(),
            ),
        };
        // The static table first (no I/O), then the sessions the packet core reported (RADIUS
        // accounting, network::radius, or the admin API), then CGNAT port blocks joined with
        // those sessions (network::cgnat, fed by IPFIX or the admin API).
        let radius = RadiusFeed::start(&settings, deps.store.clone(), deps.clock.clone())?;
        let sessions = SessionResolver::new(deps.store.clone());
        let cgnat_counters = Arc::new(CgnatCounters::default());
        let ipfix = IpfixCollector::start(
            &settings,
            deps.store.clone(),
            deps.clock.clone(),
            cgnat_counters.clone(),
        )?;
        let resolvers: Vec<Box<dyn IdentityResolver>> = vec![
            Box::new(StaticTable::new(settings.network.static_table.clone())),
            match &radius {
                Some(feed) => Box::new(feed.count_lookups(sessions)),
                None => Box::new(sessions),
            },
            // Behind CGNAT: public address and port → private address → its session.
            Box::new(CgnatResolver::new(
                deps.store.clone(),
                SessionResolver::new(deps.store.clone()),
                cgnat_counters.clone(),
            )),
        ];

        let operator_tokens = OperatorTokens::from_settings(
            &settings.operator_token,
            deps.store.clone(),
            deps.clock.clone(),
        )
        .map_err(|e| StartupError::Other(format!("operator_token: {e}")))?;

        let workers = settings.server.workers();
        let identity = Identification::new(
            settings.server.trusted_proxies.clone(),
            ChainResolver(resolvers),
            Playground {
                enabled: settings.playground(),
                numbers: settings
                    .network
                    .playground_numbers
                    .iter()
                    .cloned()
                    .collect(),
                store: deps.store.clone(),
            },
        );
        let state = web::Data::new(AppState {
            issuer: issuer.clone(),
            signing,
            recipient,
            clients,
            identity,
            store: deps.store,
            clock: deps.clock,
            pairwise_salt,
            crypto: CryptoRunner::new(settings.server.crypto, workers),
            documents: Default::default(),
            max_body_bytes: settings.server.max_body_bytes,
            code_ttl_seconds: settings.code.ttl_seconds,
            client_jwt: ClientJwtPolicy {
                leeway_seconds: settings.client_assertion.leeway_seconds,
            },
            access_token: AccessTokenPolicy {
                audience: settings.access_token.audience.clone(),
                ttl_seconds: settings.access_token.ttl_seconds,
                content_encryption: settings.access_token.content_encryption,
            },
            admin_token: settings.admin.token.clone(),
            demo_callback: settings.mode == Mode::Dev,
            cgnat_allocation_timeout_seconds: settings.cgnat.allocation_timeout_seconds as i64,
            operator_tokens,
            ciba: settings.ciba,
            discovery_fast_flow: settings.compat.fast_flow_csp_auth_endpoint(settings.mode),
        });
        let playground = state.identity.playground().enabled;
        if playground && settings.mode == Mode::Production {
            tracing::warn!(
                "network.playground is on in production mode: a +990… login_hint (or an admin-added \
                 number) is taken as the identity without any network check"
            );
        }
        let crypto = state.crypto.dispatch();
        tracing::info_span!(
            "authorization server",
            server.issuer = %issuer,
            server.playground = playground,
            operator_token.backend = state.operator_tokens.backend(),
            keys.signing_kid = state.signing.current().kid(),
        )
        .in_scope(|| {
            server_kit::startup::ready("authorization server", local_addr, settings.mode, crypto)
        });
        let admin = match settings.admin.listen {
            None => None,
            Some(addr) => {
                let listener = Listener::bind(addr)?;
                let bound = listener.local_addr();
                let state = state.clone();
                let server = listener.serve(1, SHUTDOWN_SECONDS, move || {
                    App::new()
                        .wrap(TracingLogger::<crate::telemetry::RootSpan>::new())
                        .app_data(state.clone())
                        .configure(endpoints::configure_admin)
                })?;
                tracing::info!(admin.address = %bound, "admin API on its own listener");
                Some((bound, server))
            }
        };
        let with_admin = admin.is_none();
        let aliases = settings.compat.aliases(settings.mode);
        for alias in &aliases {
            tracing::info!(alias.path = %alias.path, alias.endpoint = ?alias.endpoint, "serving an endpoint under another path");
        }
        let server = listener.serve(workers, SHUTDOWN_SECONDS, move || {
            App::new()
                .wrap(TracingLogger::<crate::telemetry::RootSpan>::new())
                .app_data(state.clone())
                .configure(|cfg| endpoints::configure(cfg, with_admin, &aliases))
        })?;
        Ok(Self {
            local_addr,
            issuer,
            crypto,
            server,
            admin,
            radius,
            ipfix,
            cgnat_counters,
        })
    }

    /// Where this server runs its crypto (`server.crypto`, as the running state has it).
    pub fn crypto(&self) -> nv_token::CryptoDispatch {
        self.crypto
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where the admin API listens when `admin.listen` gives it a listener of its own.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(addr, _)| *addr)
    }

    /// Where the RADIUS accounting listener listens, when it runs.
    pub fn radius_addr(&self) -> Option<SocketAddr> {
        self.radius.as_ref().map(RadiusFeed::local_addr)
    }

    /// The RADIUS feed's counters, when the listener runs.
    pub fn radius_counters(&self) -> Option<Arc<FeedCounters>> {
        self.radius.as_ref().map(RadiusFeed::counters)
    }

    /// Where the IPFIX collector listens, when it runs.
    pub fn ipfix_addr(&self) -> Option<SocketAddr> {
        self.ipfix.as_ref().map(IpfixCollector::local_addr)
    }

    /// The CGNAT feed's counters (IPFIX messages and events, lookups through port blocks).
    pub fn cgnat_counters(&self) -> Arc<CgnatCounters> {
        self.cgnat_counters.clone()
    }

    /// Runs until the public listener stops; the admin, RADIUS and IPFIX listeners stop with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _radius = self.radius;
        let _ipfix = self.ipfix;
        let admin = self.admin.map(|(_, server)| server);
        server_kit::startup::run_until_stopped(self.server, admin.into_iter().collect()).await
    }
}

/// Dev mode: a demo client, the loopback addresses mapped to a test number. Never in production.
fn apply_dev_defaults(settings: &mut Settings, issuer: &str) -> Result<(), StartupError> {
    if settings.clients.is_empty() && settings.dev.demo_client {
        let key_path = settings.key_path(DEMO_CLIENT_KEY_FILE.as_ref());
        if !key_path.exists() {
            keys::generate_key_file(&key_path, SigningAlg::RS256)?;
            tracing::warn!(key.path = %key_path.display(), "dev mode: generated the demo client's private_key_jwt key");
        }
        let mut public: Vec<serde_json::Value> = read_jwks_file(&key_path)?
            .iter()
            .filter_map(|j| nv_token::keys::public_jwk(j).ok())
            .map(|j| serde_json::Value::Object(j.as_ref().clone()))
            .collect();
        // The same key once more without `kid`: Vonage's application JWTs name none, and a JWS
        // without `kid` is verified with keys registered without one
        // (`compat.application_jwt`).
        let anonymous: Vec<serde_json::Value> = public
            .iter()
            .filter_map(|k| k.as_object().cloned())
            .map(|mut k| {
                k.remove("kid");
                serde_json::Value::Object(k)
            })
            .collect();
        public.extend(anonymous);
        let demo = ClientSettings {
            id: DEMO_CLIENT_ID.into(),
            redirect_uris: vec![format!("{issuer}/demo/callback")],
            auth_methods: vec![
                AuthMethod::PrivateKeyJwt,
                AuthMethod::ClientSecretBasic,
                AuthMethod::ClientSecretPost,
            ],
            secret: Some(settings.dev.demo_client_secret.clone()),
            keys: Some(ClientKeySource::Jwks(serde_json::json!({ "keys": public }))),
            scopes: nv_token::ApiScope::ALL
                .map(|s| s.name().to_owned())
                .to_vec(),
            purposes: DEMO_PURPOSES.iter().map(|s| s.to_string()).collect(),
            sector_identifier: None,
            id_token_signed_response_alg: None,
            // Every grant, so the local stack demonstrates each flow; not trusted to assert
            // numbers (a JWT-bearer `sub` must be an operator token).
            grant_types: GrantType::ALL.to_vec(),
            trusted_number_assertion: false,
            two_legged_scopes: Vec::new(),
            // The local stack shows every CIBA hint.
            ipport_hints: true,
            // The local stack serves the operator SDKs unmodified (docs/compatibility.md).
            compat: CompatProfile {
                default_purpose: Some(
                    DEMO_PURPOSES[0]
                        .parse()
                        .expect("the demo purposes are dpv names"),
                ),
                token_redirect_uri: TokenRedirectUri::Ignored,
                purpose_parameter: true,
                json_token_request: true,
                // The demo key is RS256: Vonage's SDK signs its application JWT with it.
                application_jwt: true,
            },
        };
        // The JWT-bearer path of a relying party the operator trusts to assert numbers
        // (`sub = tel:+…`), signing with the demo key; its tokens carry `amr: rp_asserted`.
        let trusted = ClientSettings {
            id: DEMO_TRUSTED_CLIENT_ID.into(),
            auth_methods: vec![AuthMethod::PrivateKeyJwt],
            secret: None,
            grant_types: vec![GrantType::JwtBearer],
            trusted_number_assertion: true,
            compat: CompatProfile::default(),
            ..demo.clone()
        };
        settings.clients.extend([demo, trusted]);
    }
    if settings.network.static_table.is_empty() {
        for net in ["127.0.0.1/32", "::1/128"] {
            settings.network.static_table.push(StaticEntry {
                network: net.parse().expect("valid"),
                ports: None,
                msisdn: settings.dev.loopback_msisdn.clone(),
            });
        }
    }
    Ok(())
}

/// The route table of the public listener, the admin API included (no `admin.listen`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    endpoints::configure(cfg, true, &[]);
}
