//! The relying party (and the device): the three requests of a Number Verification flow.
//!
//! Everything that does not change between requests (URLs with their query, the verify body) is
//! built once, so the load generator spends its CPU on HTTP, not on formatting. The measured
//! requests go through [`crate::http1`], one keep-alive connection per worker and role
//! ([`Conns`]: the device's to `/authorize`, the relying party's backend's to `/token` and to
//! the resource server); set-up requests through `reqwest`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use nv_token::SigningKey;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http1::{Conn, Response};
use crate::options::LoadOptions;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertions are signed ahead of the run; CAMARA allows `exp - iat` up to 300 s.
const ASSERTION_LIFETIME: i64 = 280;

pub struct RelyingParty {
    http: reqwest::Client,
    pub issuer: String,
    pub jwks_uri: String,
    /// Origin (`http://host:port`) and path with query of the authorization request.
    authorize_origin: String,
    authorize_path: String,
    token_endpoint: String,
    token_origin: String,
    token_path: String,
    rs_origin: String,
    verify_path: String,
    /// `grant_type`, `redirect_uri`, `client_assertion_type`, form-encoded, ending in `&`.
    token_form_prefix: String,
    pub rs_jwks_url: String,
    client_id: String,
    key: SigningKey,
    pub client_jwk: Jwk,
    verify_body: String,
}

#[derive(Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One worker's connections, one per role.
pub struct Conns {
    device: Conn,
    backend_as: Conn,
    backend_rs: Conn,
}

#[derive(Deserialize)]
struct VerifyAnswer {
    #[serde(rename = "devicePhoneNumberVerified")]
    verified: bool,
}

/// `scheme://host[:port]` and `path[?query]` of an absolute URL.
fn split_url(u: &url::Url) -> (String, String) {
    let origin = u.origin().ascii_serialization();
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    (origin, path)
}

impl RelyingParty {
    /// Read the client key, discover the authorization server's endpoints.
    pub async fn connect(o: &LoadOptions) -> Result<Self, String> {
        let bytes = std::fs::read(&o.client_key).map_err(|e| {
            format!(
                "cannot read the client key {}: {e} (the authorization server writes it in dev mode)",
                o.client_key.display()
            )
        })?;
        let client_jwk = Jwk::from_bytes(&bytes)
            .map_err(|e| format!("{}: not a JWK: {e}", o.client_key.display()))?;
        let key = SigningKey::from_jwk(&client_jwk, None)
            .map_err(|e| format!("{}: {e}", o.client_key.display()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(o.concurrency * 2)
            // Below the servers' keep-alive (actix: 5 s), so a connection the server is closing
            // is never reused (that race shows up as "error sending request" after a pause).
            .pool_idle_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let discovery_url = format!("{}/.well-known/openid-configuration", o.as_url);
        let discovery: Discovery = http
            .get(&discovery_url)
            .send()
            .await
            .map_err(|e| format!("{discovery_url}: {e} (is the authorization server running?)"))?
            .error_for_status()
            .map_err(|e| format!("{discovery_url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{discovery_url}: {e}"))?;
        let redirect_uri = o
            .redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{}/demo/callback", discovery.issuer));
        let mut authorize_url =
            url::Url::parse(&discovery.authorization_endpoint).map_err(|e| e.to_string())?;
        let token_url = url::Url::parse(&discovery.token_endpoint).map_err(|e| e.to_string())?;
        let verify_url = url::Url::parse(&format!("{}/number-verification/v2/verify", o.rs_url))
            .map_err(|e| e.to_string())?;
        authorize_url
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &o.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", &o.scope)
            .append_pair("state", "loadgen")
            .append_pair("prompt", "none")
            .append_pair("nonce", "loadgen-nonce");
        let (authorize_origin, authorize_path) = split_url(&authorize_url);
        let (token_origin, token_path) = split_url(&token_url);
        let (rs_origin, verify_path) = split_url(&verify_url);
        let token_form_prefix = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("client_assertion_type", JWT_BEARER)
            .finish()
            + "&";
        Ok(Self {
            http,
            issuer: discovery.issuer,
            jwks_uri: discovery.jwks_uri,
            authorize_origin,
            authorize_path,
            token_endpoint: discovery.token_endpoint,
            token_origin,
            token_path,
            rs_origin,
            verify_path,
            token_form_prefix,
            rs_jwks_url: format!("{}/.well-known/jwks.json", o.rs_url),
            client_id: o.client_id.clone(),
            key,
            client_jwk,
            verify_body: json!({ "phoneNumber": o.phone }).to_string(),
        })
    }

    /// A fresh `private_key_jwt` assertion (RFC 7523 §3) for the token endpoint.
    pub fn assertion(&self) -> String {
        let iat = now();
        let claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.token_endpoint,
            "iat": iat, "exp": iat + ASSERTION_LIFETIME, "jti": uuid::Uuid::new_v4().to_string(),
        });
        self.key
            .sign_json(Some("JWT"), &claims)
            .expect("the client key signs")
    }

    /// Fresh connections for one worker (opened on first use).
    pub fn conns(&self) -> Result<Conns, String> {
        Ok(Conns {
            device: Conn::new(&self.authorize_origin)?,
            backend_as: Conn::new(&self.token_origin)?,
            backend_rs: Conn::new(&self.rs_origin)?,
        })
    }

    /// `GET /authorize` from this host (loopback is the dev subscriber); the code from `Location`.
    pub async fn authorize(&self, c: &mut Conns) -> Result<String, String> {
        let resp = c.device.get(&self.authorize_path).await?;
        if resp.status != 302 {
            return Err(resp.describe());
        }
        let location = resp.location.as_deref().ok_or("302 without Location")?;
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let mut error = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "code" => return Ok(v.into_owned()),
                "error" => error = Some(v.into_owned()),
                _ => {}
            }
        }
        Err(format!(
            "redirected without a code (error {})",
            error.as_deref().unwrap_or("none")
        ))
    }

    /// `POST /token` with `private_key_jwt`.
    pub async fn token(
        &self,
        c: &mut Conns,
        code: &str,
        assertion: &str,
    ) -> Result<Tokens, String> {
        let mut body = String::with_capacity(self.token_form_prefix.len() + assertion.len() + 80);
        body.push_str(&self.token_form_prefix);
        body.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .append_pair("code", code)
                .append_pair("client_assertion", assertion)
                .finish(),
        );
        let resp = c
            .backend_as
            .post(
                &self.token_path,
                &[("Content-Type", "application/x-www-form-urlencoded")],
                body.as_bytes(),
            )
            .await?;
        if resp.status != 200 {
            return Err(resp.describe());
        }
        serde_json::from_slice(&resp.body).map_err(|e| e.to_string())
    }

    /// `POST /number-verification/v2/verify`; anything but `true` for our own number is an error.
    pub async fn verify(&self, c: &mut Conns, access_token: &str) -> Result<(), String> {
        let bearer = format!("Bearer {access_token}");
        let resp: Response = c
            .backend_rs
            .post(
                &self.verify_path,
                &[
                    ("Authorization", &bearer),
                    ("Content-Type", "application/json"),
                ],
                self.verify_body.as_bytes(),
            )
            .await?;
        if resp.status != 200 {
            return Err(resp.describe());
        }
        match serde_json::from_slice::<VerifyAnswer>(&resp.body) {
            Ok(VerifyAnswer { verified: true }) => Ok(()),
            _ => Err(format!(
                "verify answered {}",
                String::from_utf8_lossy(&resp.body)
            )),
        }
    }

    pub async fn get_json(&self, url: &str) -> Result<Value, String> {
        self.http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .error_for_status()
            .map_err(|e| format!("{url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{url}: {e}"))
    }
}

/// The protected header of a compact JWS or JWE, without verifying anything.
pub fn header_of(compact: &str) -> Option<Value> {
    let first = compact.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(first).ok()?).ok()
}
