//! `TestApp`: the real server on port 0 with a fresh `MemoryStore` and a `FakeClock`, plus a
//! stand-in authorization server.
//!
//! The stand-in (`FakeAs`) is the shared kit's `JsonServer` on port 0 serving
//! `/.well-known/openid-configuration` and a JWKS with a test signing key; tokens are minted with
//! `nv_token::seal` using that key and this server's published encryption key. It stands in for
//! the real authorization server, which is being built concurrently: tokens minted by the real
//! AS through the full authorize → token flow are exercised by the workspace `tests/` crate.

use std::sync::{Arc, Mutex, OnceLock};

use josekit::jwk::Jwk;
use number_verification::config::{Mode, Settings};
use number_verification::Application;
use nv_store::{Clock, FakeClock, MemoryStore, Store};
use nv_token::{
    seal, AccessTokenClaims, Amr, Audience, ContentEncryption, EncryptionAlg, EncryptionKey,
    SigningAlg, SigningKey,
};
use serde_json::{json, Value};
use server_kit::testing::{http_client, Fakes, JsonServer};
pub use server_kit::testing::{temp_dir, TempDir};

pub const AUDIENCE: &str = "https://nv.test";
pub const PHONE: &str = "+99012345678";
pub const OTHER_PHONE: &str = "+99012345679";
pub const ALL_SCOPES: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify \
     number-verification:device-phone-number:read number-verification:read \
     number-verification-verify-read number-verification-share-read";

/// One RSA decryption key for every test that does not test key generation (RSA generation is
/// the slowest thing a test would do).
fn shared_rs_key() -> &'static Jwk {
    static KEY: OnceLock<Jwk> = OnceLock::new();
    KEY.get_or_init(|| EncryptionAlg::RsaOaep256.generate().expect("RSA key"))
}

/// The stand-in authorization server.
pub struct FakeAs {
    pub issuer: String,
    signer: Mutex<Arc<SigningKey>>,
    /// The signer's private JWK, for inner JWSs with headers `SigningKey` does not write.
    signer_jwk: Mutex<Jwk>,
    server: JsonServer,
}

impl FakeAs {
    pub async fn start() -> FakeAs {
        let (signer, private) = SigningKey::generate(SigningAlg::ES256).expect("signing key");
        let server = JsonServer::issuer(json!({ "keys": [signer.public_jwk().as_ref()] })).await;
        FakeAs {
            issuer: server.base.clone(),
            signer: Mutex::new(Arc::new(signer)),
            signer_jwk: Mutex::new(private),
            server,
        }
    }

    pub fn signer(&self) -> Arc<SigningKey> {
        self.signer.lock().unwrap().clone()
    }

    /// The current signing key as a private JWK (ES256).
    pub fn signer_jwk(&self) -> Jwk {
        self.signer_jwk.lock().unwrap().clone()
    }

    pub fn jwks(&self) -> Value {
        self.server.doc()
    }

    /// Key rotation: a new signing key, published alone.
    pub fn rotate(&self) -> String {
        let (signer, private) = SigningKey::generate(SigningAlg::ES256).expect("signing key");
        self.server
            .set(json!({ "keys": [signer.public_jwk().as_ref()] }));
        let kid = signer.kid().to_owned();
        *self.signer.lock().unwrap() = Arc::new(signer);
        *self.signer_jwk.lock().unwrap() = private;
        kid
    }

    pub fn fetches(&self) -> usize {
        self.server.hits()
    }
}

pub struct TestAppBuilder {
    settings: Settings,
    store: Option<Arc<dyn Store>>,
    with_key: bool,
    keys_dir: Option<TempDir>,
}

impl TestAppBuilder {
    pub fn settings(mut self, edit: impl FnOnce(&mut Settings)) -> Self {
        edit(&mut self.settings);
        self
    }

    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Start with an empty key directory (dev mode then generates the key).
    pub fn without_key_file(mut self) -> Self {
        self.with_key = false;
        self
    }

    /// Use this key directory (kept by the caller).
    pub fn keys_dir(mut self, dir: TempDir) -> Self {
        self.keys_dir = Some(dir);
        self
    }

    pub async fn try_spawn(self) -> Result<TestApp, number_verification::StartupError> {
        let auth = FakeAs::start().await;
        self.try_spawn_with(auth).await
    }

    pub async fn try_spawn_with(
        self,
        auth: FakeAs,
    ) -> Result<TestApp, number_verification::StartupError> {
        let keys_dir = self.keys_dir.unwrap_or_else(temp_dir);
        let mut settings = self.settings;
        settings.keys.dir = keys_dir.path().to_owned();
        if settings.authorization_server.issuer.is_empty() {
            settings.authorization_server.issuer = auth.issuer.clone();
        }
        if self.with_key {
            let name = &settings.keys.decryption[0];
            let path = keys_dir.path().join(name);
            if !path.exists() {
                std::fs::write(&path, serde_json::to_vec(shared_rs_key().as_ref()).unwrap())
                    .unwrap();
            }
        }
        let fakes = Fakes::default();
        let deps = match self.store {
            Some(store) => fakes.dependencies_with(store),
            None => fakes.dependencies(),
        };
        let app = Application::build_with(settings, deps).await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        let crypto = app.crypto();
        tokio::spawn(app.run_until_stopped());
        let client = http_client();
        let public_jwks: Value = client
            .get(format!("{address}/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks json");
        let recipient = EncryptionKey::from_jwks(&public_jwks).expect("RS encryption key");
        Ok(TestApp {
            address,
            client,
            clock: fakes.clock,
            memory: fakes.memory,
            auth,
            recipient,
            public_jwks,
            keys_dir,
            crypto,
        })
    }

    pub async fn spawn(self) -> TestApp {
        self.try_spawn().await.expect("the app starts")
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: FakeClock,
    /// The app's store, unless the test passed its own.
    pub memory: Arc<MemoryStore>,
    pub auth: FakeAs,
    pub recipient: EncryptionKey,
    pub public_jwks: Value,
    pub keys_dir: TempDir,
    /// `server.crypto` as the running server has it.
    pub crypto: nv_token::CryptoDispatch,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        let mut settings = Settings {
            mode: Mode::Dev,
            audience: AUDIENCE.into(),
            ..Settings::default()
        };
        settings.server.port = 0;
        settings.server.workers = 2;
        // Filled with the fake AS's address unless a test sets it.
        settings.authorization_server.issuer = String::new();
        TestAppBuilder {
            settings,
            store: None,
            with_key: true,
            keys_dir: None,
        }
    }

    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Valid claims for the fake AS, this server, now: every scope, network authentication.
    pub fn claims(&self) -> AccessTokenClaims {
        let now = self.clock.now();
        AccessTokenClaims {
            iss: self.auth.issuer.clone(),
            sub: "pairwise-subject".into(),
            aud: Audience::One(AUDIENCE.into()),
            client_id: "demo-app".into(),
            scope: ALL_SCOPES.into(),
            iat: now,
            nbf: None,
            exp: now + 300,
            jti: uuid::Uuid::new_v4().to_string(),
            amr: vec![Amr::Network],
            auth_time: now,
            phone_number: PHONE.parse().unwrap(),
        }
    }

    pub fn mint(&self, claims: &AccessTokenClaims) -> String {
        seal(
            claims,
            &self.auth.signer(),
            &self.recipient,
            ContentEncryption::A256GCM,
        )
        .expect("seal")
    }

    /// A valid token with every scope.
    pub fn token(&self) -> String {
        self.mint(&self.claims())
    }

    pub fn token_with(&self, edit: impl FnOnce(&mut AccessTokenClaims)) -> String {
        let mut claims = self.claims();
        edit(&mut claims);
        self.mint(&claims)
    }

    /// Sign arbitrary JSON claims as an access token and encrypt it to this server.
    pub fn mint_raw(&self, claims: &Value) -> String {
        let jws = self
            .auth
            .signer()
            .sign_json(Some("at+jwt"), claims)
            .expect("sign");
        self.encrypt_raw(&jws)
    }

    /// Encrypt any payload to this server's key as a nested JWT (RSA-OAEP-256 + A256GCM).
    pub fn encrypt_raw(&self, inner: &str) -> String {
        self.encrypt_raw_with(inner, |_| {})
    }

    /// [`Self::encrypt_raw`] with a JWE header that `edit` may change before encryption.
    pub fn encrypt_raw_with(
        &self,
        inner: &str,
        edit: impl FnOnce(&mut josekit::jwe::JweHeader),
    ) -> String {
        let jwk = Jwk::from_map(
            self.public_jwks["keys"][0]
                .as_object()
                .expect("a public key")
                .clone(),
        )
        .unwrap();
        let mut header = josekit::jwe::JweHeader::new();
        header.set_content_encryption("A256GCM");
        header.set_content_type("JWT");
        header.set_key_id(self.recipient.kid());
        edit(&mut header);
        let encrypter = josekit::jwe::RSA_OAEP_256.encrypter_from_jwk(&jwk).unwrap();
        josekit::jwe::serialize_compact(inner.as_bytes(), &header, &encrypter).unwrap()
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("x-correlator", "test-correlator-1")
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .get(self.url(path))
            .header("x-correlator", "test-correlator-1")
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }
}

/// Read a CAMARA `ErrorInfo` and check status and code.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = response.json().await.expect("ErrorInfo JSON");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.len() > 10, "a user-friendly message: {body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        3,
        "exactly ErrorInfo: {body}"
    );
    body
}

pub async fn assert_unauthenticated(response: reqwest::Response) -> Value {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer "),
        "WWW-Authenticate: {challenge:?}"
    );
    assert_error(response, 401, "UNAUTHENTICATED").await
}

pub async fn json_body(response: reqwest::Response) -> Value {
    assert_eq!(response.status().as_u16(), 200, "status");
    response.json().await.expect("JSON")
}

pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}
