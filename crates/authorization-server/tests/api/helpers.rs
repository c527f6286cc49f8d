use std::sync::Arc;

pub use authorization_server::config::ForwardingHeader;
use authorization_server::config::{
    AuthMethod, ClientKeySource, ClientSettings, EncryptionKeySource, Mode, Secret, StaticEntry,
    TokenRedirectUri, TrustedProxy,
};
pub use authorization_server::endpoints::backchannel::CibaSettings;
pub use authorization_server::operator_token::OperatorTokenSettings;
pub use authorization_server::protocol::GrantType;
use authorization_server::{Application, Settings};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_store::{Clock, FakeClock};
use nv_token::{
    AccessTokenClaims, ContentEncryption, DecryptionKeys, EncryptionAlg, OpenPolicy, SigningAlg,
    SigningKey, VerificationKeys,
};
use serde_json::{json, Value};
use server_kit::testing::{http_client, temp_dir, Fakes};

pub const RP_REDIRECT: &str = "https://rp.example/cb";
pub const PUBLIC_REDIRECT: &str = "https://app.example/cb";
pub const PURPOSE: &str = "dpv:FraudPreventionAndDetection";
pub const NV_SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify";
pub const LOOPBACK_NUMBER: &str = "+99012345678";
pub const AUDIENCE: &str = "https://nv.example";
pub const SECRET: &str = "s3cret-value";
pub const VERIFIER: &str = "test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const CHALLENGE: &str = "nw4Cig7sk_DT0QSX9Qn-3UKs33fmbbp8bRuv1b5-wXw";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: FakeClock,
    pub rp_key: SigningKey,
    pub rs_keys: DecryptionKeys,
    pub keys_dir: tempfile::TempDir,
    /// `server.crypto` as the running server has it.
    pub crypto: nv_token::CryptoDispatch,
    /// The server's store, to look at what it keeps.
    pub store: Arc<dyn nv_store::Store>,
    /// `http://…` of the admin listener, when it has one of its own.
    pub admin_base: Option<String>,
}

#[derive(Default)]
pub struct Builder {
    /// Trusted proxies and the header each writes.
    pub trusted_proxies: Vec<(&'static str, ForwardingHeader)>,
    pub no_loopback: bool,
    pub playground: bool,
    pub mode_production: bool,
    pub extra_signing: bool,
    pub admin_token: Option<&'static str>,
    /// Give the admin API a listener of its own (`admin.listen`, port 0).
    pub admin_listener: bool,
    /// Register `rp-remote`, a private_key_jwt client whose keys are at this jwks_uri.
    pub remote_client_jwks: Option<String>,
    /// Fetch the resource server's key from this JWKS URL instead of a file.
    pub rs_jwks_uri: Option<String>,
    /// Load an ES256 key next to the RS256 one and register `rp-es`, which asks for ES256 ID tokens.
    pub es256_client: bool,
    /// The resource server's private key (generated when `None`).
    pub rs_key: Option<josekit::jwk::Jwk>,
    /// `server.crypto` (the default when `None`).
    pub crypto: Option<nv_token::CryptoDispatch>,
    /// `[operator_token]` (the simulated backend when `None`).
    pub operator_token: Option<OperatorTokenSettings>,
    /// `[ciba]` (the defaults when `None`).
    pub ciba: Option<CibaSettings>,
}

pub fn entry(net: &str, ports: Option<&str>, msisdn: &str) -> StaticEntry {
    StaticEntry {
        network: authorization_server::config::parse_ip_or_net(net).unwrap(),
        ports: ports.map(|p| p.parse().unwrap()),
        msisdn: msisdn.parse().unwrap(),
    }
}

fn client(id: &str, redirect: &str, methods: Vec<AuthMethod>) -> ClientSettings {
    ClientSettings {
        id: id.into(),
        redirect_uris: vec![redirect.into()],
        auth_methods: methods,
        secret: None,
        keys: None,
        scopes: vec![
            "number-verification:verify".into(),
            "number-verification:device-phone-number:read".into(),
        ],
        purposes: vec![PURPOSE.into()],
        sector_identifier: None,
        id_token_signed_response_alg: None,
        grant_types: vec![GrantType::AuthorizationCode],
        trusted_number_assertion: false,
        two_legged_scopes: Vec::new(),
        ipport_hints: false,
        compat: Default::default(),
    }
}

impl Builder {
    pub fn settings(&self, keys_dir: &std::path::Path, rp_key: &SigningKey) -> Settings {
        let mut s = Settings {
            mode: if self.mode_production {
                Mode::Production
            } else {
                Mode::Dev
            },
            ..Settings::default()
        };
        s.server.port = 0;
        if let Some(crypto) = self.crypto {
            s.server.crypto = crypto;
        }
        s.server.trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|(net, header)| TrustedProxy {
                network: net.parse().unwrap(),
                header: *header,
            })
            .collect();
        s.keys.dir = keys_dir.to_path_buf();
        if self.extra_signing {
            s.keys.signing = vec!["new.jwk".into(), "old.jwk".into()];
        }
        s.access_token.audience = AUDIENCE.into();
        s.access_token.encryption_key = EncryptionKeySource::File("rs.public.json".into());
        s.subject.pairwise_salt = Some(Secret::new("test-salt"));
        s.network.playground = Some(self.playground);
        s.admin.token = self.admin_token.map(Secret::new);
        if self.admin_listener {
            s.admin.listen = Some("127.0.0.1:0".parse().unwrap());
        }
        let mut table = vec![
            entry("100.64.0.1", Some("1024-2047"), "+99011110001"),
            entry("100.64.0.1", Some("2048-4095"), "+99011110002"),
            entry("2001:db8::/32", None, "+99011110003"),
            entry("198.51.100.7", None, "+99011110004"),
        ];
        if !self.no_loopback {
            table.push(entry("127.0.0.1", None, LOOPBACK_NUMBER));
        }
        s.network.static_table = table;
        let mut jwt = client("rp-jwt", RP_REDIRECT, vec![AuthMethod::PrivateKeyJwt]);
        jwt.keys = Some(ClientKeySource::Jwks(
            json!({"keys": [Value::Object(rp_key.public_jwk().as_ref().clone())]}),
        ));
        jwt.grant_types = GrantType::ALL.to_vec();
        jwt.ipport_hints = true;
        let mut secret = client(
            "rp-secret",
            RP_REDIRECT,
            vec![AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost],
        );
        secret.secret = Some(Secret::new(SECRET));
        let mut basic_only = client(
            "rp-basic-only",
            RP_REDIRECT,
            vec![AuthMethod::ClientSecretBasic],
        );
        basic_only.secret = Some(Secret::new(SECRET));
        let public = client("rp-public", PUBLIC_REDIRECT, vec![AuthMethod::None]);
        let mut other_sector = client(
            "rp-other",
            "https://other.example/cb",
            vec![AuthMethod::ClientSecretBasic],
        );
        other_sector.secret = Some(Secret::new(SECRET));
        // A backend registered for CIBA only: no code flow.
        let mut backend = client(
            "rp-backend",
            RP_REDIRECT,
            vec![AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost],
        );
        backend.secret = Some(Secret::new(SECRET));
        backend.grant_types = vec![GrantType::Ciba];
        backend.ipport_hints = true;
        // Trusted to assert numbers in JWT-bearer assertions; and one with keys but the code
        // flow only.
        let mut trusted = client("rp-trusted", RP_REDIRECT, vec![AuthMethod::PrivateKeyJwt]);
        trusted.keys = jwt.keys.clone();
        trusted.grant_types = vec![GrantType::JwtBearer, GrantType::Ciba];
        trusted.trusted_number_assertion = true;
        let mut code_only = client("rp-code-only", RP_REDIRECT, vec![AuthMethod::PrivateKeyJwt]);
        code_only.keys = jwt.keys.clone();
        // A service client with 2-legged scopes of another operator API.
        let mut service = client(
            "rp-service",
            RP_REDIRECT,
            vec![AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost],
        );
        service.secret = Some(Secret::new(SECRET));
        service.grant_types = vec![GrantType::ClientCredentials];
        service.two_legged_scopes = vec!["operator-api:read".into(), "operator-api:write".into()];
        // Compatibility profiles (docs/compatibility.md): one client per relaxation, each
        // beside `rp-secret`, the same registration with the strict default.
        let mut one_uri = secret.clone();
        one_uri.id = "rp-compat-one-uri".into();
        one_uri.compat.token_redirect_uri = TokenRedirectUri::OptionalWhenOne;
        one_uri.compat.default_purpose = Some(PURPOSE.parse().unwrap());
        let mut any_uri = secret.clone();
        any_uri.id = "rp-compat-any-uri".into();
        any_uri.compat.token_redirect_uri = TokenRedirectUri::Ignored;
        any_uri.compat.purpose_parameter = true;
        any_uri.compat.json_token_request = true;
        s.clients = vec![
            one_uri,
            any_uri,
            service,
            jwt,
            secret,
            basic_only,
            public,
            other_sector,
            backend,
            trusted,
            code_only,
        ];
        if let Some(uri) = &self.remote_client_jwks {
            let mut remote = client("rp-remote", RP_REDIRECT, vec![AuthMethod::PrivateKeyJwt]);
            remote.keys = Some(ClientKeySource::JwksUri(uri.clone()));
            s.clients.push(remote);
        }
        if self.es256_client {
            s.keys.signing = vec!["as-signing.jwk".into(), "es.jwk".into()];
            let mut es = client("rp-es", RP_REDIRECT, vec![AuthMethod::ClientSecretBasic]);
            es.secret = Some(Secret::new(SECRET));
            es.id_token_signed_response_alg = Some(SigningAlg::ES256);
            s.clients.push(es);
        }
        if let Some(uri) = &self.rs_jwks_uri {
            s.access_token.encryption_key = EncryptionKeySource::JwksUri(uri.clone());
        }
        if let Some(o) = &self.operator_token {
            s.operator_token = o.clone();
        }
        if let Some(c) = self.ciba {
            s.ciba = c;
        }
        s
    }

    pub async fn spawn(self) -> TestApp {
        self.try_spawn().await.expect("the server starts")
    }

    pub async fn try_spawn(self) -> Result<TestApp, authorization_server::StartupError> {
        let keys_dir = temp_dir();
        let (rp_key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
        let rs_private = self
            .rs_key
            .clone()
            .unwrap_or_else(|| EncryptionAlg::RsaOaep256.generate().unwrap());
        let rs_keys = DecryptionKeys::from_jwks(std::slice::from_ref(&rs_private)).unwrap();
        std::fs::write(
            keys_dir.path().join("rs.public.json"),
            rs_keys.public_jwks().to_string(),
        )
        .unwrap();
        if self.mode_production {
            // Production refuses to generate keys: provide them like an operator would.
            let jwk = SigningAlg::RS256.generate().unwrap();
            std::fs::write(keys_dir.path().join("as-signing.jwk"), jwk.to_string()).unwrap();
        }
        if self.es256_client {
            std::fs::write(
                keys_dir.path().join("es.jwk"),
                SigningAlg::ES256.generate().unwrap().to_string(),
            )
            .unwrap();
        }
        if self.extra_signing {
            std::fs::write(
                keys_dir.path().join("old.jwk"),
                SigningAlg::RS256.generate().unwrap().to_string(),
            )
            .unwrap();
            std::fs::write(
                keys_dir.path().join("new.jwk"),
                SigningAlg::RS256.generate().unwrap().to_string(),
            )
            .unwrap();
        }
        let settings = self.settings(keys_dir.path(), &rp_key);
        let fakes = Fakes::default();
        let store: Arc<dyn nv_store::Store> = fakes.memory.clone();
        let app = Application::build_with(settings, fakes.dependencies()).await?;
        let base = format!("http://{}", app.local_addr());
        let crypto = app.crypto();
        let admin_base = app.admin_addr().map(|a| format!("http://{a}"));
        tokio::spawn(app.run_until_stopped());
        Ok(TestApp {
            base,
            http: http_client(),
            clock: fakes.clock,
            rp_key,
            rs_keys,
            keys_dir,
            crypto,
            store,
            admin_base,
        })
    }
}

/// The default app plus `rp-remote`, a private_key_jwt client whose keys are at `jwks_uri`.
pub async fn spawn_with_remote_client(jwks_uri: &str) -> TestApp {
    Builder {
        remote_client_jwks: Some(jwks_uri.to_owned()),
        ..Default::default()
    }
    .spawn()
    .await
}

pub async fn spawn() -> TestApp {
    Builder::default().spawn().await
}

/// Query pairs of a redirect's `Location`.
pub fn location_params(resp: &reqwest::Response) -> Vec<(String, String)> {
    let loc = resp
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap();
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.authorize_with(params, &[]).await
    }

    pub async fn authorize_with(
        &self,
        params: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.get(self.url("/authorize")).query(params);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// The standard request of the private_key_jwt client, with `extra` added or replacing.
    pub fn std_params<'a>(&self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut p: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", "rp-jwt"),
            ("redirect_uri", RP_REDIRECT),
            ("scope", NV_SCOPE),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("prompt", "none"),
        ];
        for (k, v) in extra {
            p.retain(|(pk, _)| pk != k);
            p.push((k, v));
        }
        p
    }

    /// Run /authorize and return the code.
    pub async fn code(&self, extra: &[(&str, &str)]) -> String {
        let resp = self.authorize(&self.std_params(extra)).await;
        assert_eq!(resp.status(), 302, "authorize failed");
        let pairs = location_params(&resp);
        param(&pairs, "code")
            .unwrap_or_else(|| panic!("no code in {pairs:?}"))
            .to_owned()
    }

    pub fn assertion_claims(&self, client_id: &str) -> Value {
        let now = self.clock.now();
        json!({
            "iss": client_id, "sub": client_id, "aud": self.url("/token"),
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    pub fn assertion(&self, claims: &Value) -> String {
        self.rp_key.sign_json(Some("JWT"), claims).unwrap()
    }

    /// An operator token for `client_id` from the device-facing entitlement endpoint (this
    /// process is the loopback subscriber), as the hint `operatortoken:<token>`.
    pub async fn operator_token_hint(&self, client_id: &str) -> String {
        let body: Value = self
            .http
            .post(self.url("/entitlement/operator-token"))
            .form(&[("client_id", client_id)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        format!("operatortoken:{}", body["operator_token"].as_str().unwrap())
    }

    pub async fn token_form(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Redeem `code` for rp-jwt with a fresh assertion.
    pub async fn redeem(&self, code: &str) -> reqwest::Response {
        let assertion = self.assertion(&self.assertion_claims("rp-jwt"));
        self.redeem_with_assertion(code, &assertion).await
    }

    /// Redeem `code` (issued for `RP_REDIRECT`) authenticating with `assertion`.
    pub async fn redeem_with_assertion(&self, code: &str, assertion: &str) -> reqwest::Response {
        self.token_form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_REDIRECT),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .await
    }

    /// GET a JSON document of the server.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Redeem `code` for a secret client with `client_secret_basic`.
    pub async fn redeem_basic(
        &self,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .basic_auth(client_id, Some(SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn jwks(&self) -> VerificationKeys {
        VerificationKeys::from_jwks(&self.get_json("/jwks").await).unwrap()
    }

    /// Open an access token as the resource server would.
    pub async fn open(&self, token: &str, audience: &str) -> AccessTokenClaims {
        let keys = self.jwks().await;
        let policy = OpenPolicy {
            issuer: &self.base,
            audience,
            key_management: &[EncryptionAlg::RsaOaep256],
            content: &[ContentEncryption::A256GCM],
            signing: &SigningAlg::ALL,
            now: self.clock.now(),
            leeway: 0,
        };
        match nv_token::open(token, &self.rs_keys, &keys, &policy).expect("the access token opens")
        {
            nv_token::Opened::Complete(claims, _) => claims,
            other => panic!("the access token has no phone number: {other:?}"),
        }
    }

    pub async fn error_of(resp: reqwest::Response) -> (u16, String, String) {
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("a JSON error body");
        (
            status,
            body["error"].as_str().unwrap_or("").to_owned(),
            body["error_description"].as_str().unwrap_or("").to_owned(),
        )
    }
}

/// A JSON document served over real HTTP on port 0 (a client's or a resource server's JWKS).
#[allow(unused_imports)] // Not every test binary that includes these helpers uses it.
pub use server_kit::testing::JsonServer;
