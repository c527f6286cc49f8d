//! A harness that starts the real authorization server and the real Number Verification server
//! in-process on port 0, wired to each other with the dev defaults (demo client, loopback mapped
//! to +99012345678, playground on), in a temporary keys directory.

use std::sync::Arc;

use nv_store::{Clock, MemoryStore, Store, SystemClock};
use nv_token::EncryptionAlg;

/// The audience both servers agree on in these tests.
pub const AUDIENCE: &str = "urn:example:number-verification";
pub const LOOPBACK_NUMBER: &str = "+99012345678";

pub struct Stack {
    /// The issuer identifier (for a replica: the shared name, not necessarily its own address).
    pub issuer: String,
    /// Where this authorization server replica actually listens.
    pub as_url: String,
    pub api: String,
    pub keys_dir: tempfile::TempDir,
    /// The authorization server's RADIUS accounting listener and its counters, when it runs.
    pub radius: Option<(
        std::net::SocketAddr,
        Arc<authorization_server::network::radius::FeedCounters>,
    )>,
    /// The authorization server's IPFIX collector and the CGNAT counters, when it runs.
    pub ipfix: Option<(
        std::net::SocketAddr,
        Arc<authorization_server::network::cgnat::CgnatCounters>,
    )>,
}

/// Options for [`start`].
#[derive(Default)]
pub struct StackOptions {
    /// Shared store for the authorization server (`None`: a fresh in-memory store).
    pub as_store: Option<Arc<dyn Store>>,
    /// Shared store for the resource server.
    pub nv_store: Option<Arc<dyn Store>>,
    /// Reuse a keys directory (replicas share keys); `None` creates one.
    pub keys_dir: Option<std::path::PathBuf>,
    /// Reuse an issuer (replicas behind one name); `None` uses the bound address.
    pub issuer: Option<String>,
    /// Override the resource server's `tokens.accept_playground` (dev default: accepted).
    pub nv_accept_playground: Option<bool>,
    /// Turn the authorization server's admin API on with this token.
    pub as_admin_token: Option<String>,
    /// Run the authorization server's RADIUS accounting listener on a free loopback port (the
    /// dev NAS client: 127.0.0.1, secret testing123).
    pub as_radius: bool,
    /// Run the authorization server's IPFIX collector on a free loopback port (exporter
    /// 127.0.0.1).
    pub as_ipfix: bool,
    /// The clock of both servers (`None`: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
}

/// Write the resource server's encryption key (private, and its public JWKS) into `dir` unless
/// present, so the authorization server can be configured with the public part before either
/// server has started.
pub fn ensure_rs_key(dir: &std::path::Path) {
    let private = dir.join("rs-encryption.jwk");
    if private.exists() {
        return;
    }
    let jwk = EncryptionAlg::RsaOaep256
        .generate()
        .expect("key generation");
    std::fs::write(&private, jwk.to_string()).expect("write key");
    let keys = nv_token::DecryptionKeys::from_jwks(std::slice::from_ref(&jwk)).expect("valid key");
    std::fs::write(
        dir.join("rs-encryption.public.json"),
        keys.public_jwks().to_string(),
    )
    .expect("write key");
}

pub async fn start(options: StackOptions) -> Stack {
    let keys_dir = server_kit::testing::temp_dir();
    let dir = options
        .keys_dir
        .clone()
        .unwrap_or_else(|| keys_dir.path().to_path_buf());
    ensure_rs_key(&dir);
    let clock: Arc<dyn Clock> = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));

    let mut a = authorization_server::Settings::default();
    a.server.port = 0;
    a.server.issuer = options.issuer.clone();
    a.keys.dir = dir.clone();
    a.access_token.audience = AUDIENCE.into();
    a.access_token.encryption_key =
        authorization_server::config::EncryptionKeySource::File("rs-encryption.public.json".into());
    a.admin.token = options
        .as_admin_token
        .clone()
        .map(authorization_server::config::Secret::new);
    if options.as_radius {
        a.radius.listen = Some("127.0.0.1:0".parse().expect("valid"));
    } else {
        a.radius.enabled = Some(false);
    }
    if options.as_ipfix {
        a.cgnat.ipfix.listen = Some("127.0.0.1:0".parse().expect("valid"));
    } else {
        a.cgnat.ipfix.enabled = Some(false);
    }
    let as_store = options
        .as_store
        .clone()
        .unwrap_or_else(|| Arc::new(MemoryStore::new(clock.clone())));
    let auth = authorization_server::Application::build_with(
        a,
        authorization_server::Dependencies {
            store: as_store,
            clock: clock.clone(),
        },
    )
    .await
    .expect("the authorization server starts");
    let issuer = auth.issuer().to_owned();
    let as_url = format!("http://{}", auth.local_addr());
    let radius = auth.radius_addr().zip(auth.radius_counters());
    let ipfix = auth.ipfix_addr().map(|a| (a, auth.cgnat_counters()));

    let mut n = number_verification::config::Settings::default();
    n.server.port = 0;
    n.keys.dir = dir.clone();
    n.audience = AUDIENCE.into();
    n.authorization_server.issuer = issuer.clone();
    if options.nv_accept_playground.is_some() {
        n.tokens.accept_playground = options.nv_accept_playground;
    }
    let nv_store = options
        .nv_store
        .clone()
        .unwrap_or_else(|| Arc::new(MemoryStore::new(clock.clone())));
    let nv = number_verification::Application::build_with(
        n,
        number_verification::Dependencies {
            store: nv_store,
            clock,
        },
    )
    .await
    .expect("the resource server starts");
    let api = format!("http://{}", nv.local_addr());
    tokio::spawn(auth.run_until_stopped());
    tokio::spawn(nv.run_until_stopped());
    Stack {
        issuer,
        as_url,
        api,
        keys_dir,
        radius,
        ipfix,
    }
}

impl Stack {
    pub fn keys_path(&self) -> &std::path::Path {
        self.keys_dir.path()
    }

    /// The demo client's private key (`demo-app.jwk`, written by the authorization server in
    /// dev mode): what its assertions are signed with.
    pub fn demo_key(&self) -> nv_token::SigningKey {
        let jwk = josekit::jwk::Jwk::from_bytes(
            std::fs::read(self.keys_path().join("demo-app.jwk")).expect("the demo key"),
        )
        .expect("a JWK");
        nv_token::SigningKey::from_jwk(&jwk, None).expect("a signing key")
    }

    /// An operator token for `client_id` from the device-facing entitlement endpoint (this
    /// process is the loopback subscriber), as the hint `operatortoken:<token>`.
    pub async fn operator_token_hint(&self, client_id: &str) -> String {
        let issued: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/entitlement/operator-token", self.as_url))
            .form(&[("client_id", client_id)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        format!(
            "operatortoken:{}",
            issued["operator_token"].as_str().unwrap()
        )
    }
}

/// Unix seconds now (the servers' system clock).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

impl Stack {
    /// An access token from the real authorization server: `/authorize` as the device (this
    /// process on loopback), then `/token` with the demo client's secret.
    pub async fn token(&self, scope: &str, login_hint: Option<&str>) -> String {
        let http = server_kit::testing::http_client();
        let redirect_uri = format!("{}/demo/callback", self.issuer);
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", "demo-app"),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", scope),
            ("prompt", "none"),
        ];
        if let Some(h) = login_hint {
            query.push(("login_hint", h));
        }
        let resp = http
            .get(format!("{}/authorize", self.as_url))
            .query(&query)
            .send()
            .await
            .unwrap();
        let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code: {location}"));
        let body: serde_json::Value = http
            .post(format!("{}/token", self.as_url))
            .basic_auth("demo-app", Some("demo-secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {body}"))
            .to_owned()
    }
}
