//! The relying party (and the device): the three requests of a Number Verification flow.
//!
//! Everything that does not change between requests (URLs with their query, the verify body) is
//! built once, so the load generator spends its CPU on HTTP, not on formatting.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use nv_token::SigningKey;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::options::LoadOptions;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertions are signed ahead of the run; CAMARA allows `exp - iat` up to 300 s.
const ASSERTION_LIFETIME: i64 = 280;

pub struct RelyingParty {
    http: reqwest::Client,
    pub issuer: String,
    pub jwks_uri: String,
    authorize_url: String,
    token_endpoint: String,
    verify_url: String,
    pub rs_jwks_url: String,
    redirect_uri: String,
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

/// A short description of an unexpected answer, for the error samples of the report.
async fn unexpected(resp: reqwest::Response) -> String {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(160).collect();
    format!("HTTP {status}: {body}")
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
        authorize_url
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &o.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", &o.scope)
            .append_pair("state", "loadgen")
            .append_pair("prompt", "none")
            .append_pair("nonce", "loadgen-nonce");
        Ok(Self {
            http,
            issuer: discovery.issuer,
            jwks_uri: discovery.jwks_uri,
            authorize_url: authorize_url.into(),
            token_endpoint: discovery.token_endpoint,
            verify_url: format!("{}/number-verification/v2/verify", o.rs_url),
            rs_jwks_url: format!("{}/.well-known/jwks.json", o.rs_url),
            redirect_uri,
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

    /// `GET /authorize` from this host (loopback is the dev subscriber); the code from `Location`.
    pub async fn authorize(&self) -> Result<String, String> {
        let resp = self
            .http
            .get(&self.authorize_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().as_u16() != 302 {
            return Err(unexpected(resp).await);
        }
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or("302 without Location")?;
        let location = url::Url::parse(location).map_err(|e| e.to_string())?;
        let mut error = None;
        for (k, v) in location.query_pairs() {
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
    pub async fn token(&self, code: &str, assertion: &str) -> Result<Tokens, String> {
        let resp = self
            .http
            .post(&self.token_endpoint)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().as_u16() != 200 {
            return Err(unexpected(resp).await);
        }
        resp.json().await.map_err(|e| e.to_string())
    }

    /// `POST /number-verification/v2/verify`; anything but `true` for our own number is an error.
    pub async fn verify(&self, access_token: &str) -> Result<(), String> {
        let resp = self
            .http
            .post(&self.verify_url)
            .bearer_auth(access_token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.verify_body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().as_u16() != 200 {
            return Err(unexpected(resp).await);
        }
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        if body["devicePhoneNumberVerified"] == Value::Bool(true) {
            Ok(())
        } else {
            Err(format!("verify answered {body}"))
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
