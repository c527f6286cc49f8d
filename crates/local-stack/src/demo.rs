//! The demo relying party: the whole protocol, printed like `curl -v` would show it.
//!
//! Steps: discovery; `/authorize` as the device (this machine is the subscriber in dev mode);
//! `/token` with `private_key_jwt`; the ID token decoded and its signature checked against the
//! JWKS; `/verify` with the right number (true), a wrong one (false) and the hashed form;
//! `/device-phone-number`; the refused reuse of a token (each token is single use, so every
//! call gets a fresh token); and the SIM-based flows: an operator token from the entitlement
//! endpoint, presented in a CIBA request (then the poll) and as the `sub` of a JWT-bearer
//! assertion, each token then sent to `/verify`.
//!
//! It is a tutorial and a smoke test: the end-to-end test suite runs [`run`] against real servers.

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_token::{PhoneNumber, SigningAlg, SigningKey, VerificationKeys};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub const DEMO_SCOPE: &str =
    "openid dpv:FraudPreventionAndDetection number-verification:verify number-verification:device-phone-number:read";

#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The authorization server's issuer URL.
    pub issuer: String,
    /// The Number Verification server's base URL.
    pub api: String,
    /// Where `demo-app.jwk` (the client's private key) is.
    pub keys_dir: PathBuf,
    pub client_id: String,
    /// The number this device is expected to have.
    pub phone_number: String,
    /// Print every exchange (the tests turn this off).
    pub verbose: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            api: "http://127.0.0.1:8081".into(),
            keys_dir: PathBuf::from("keys"),
            client_id: "demo-app".into(),
            phone_number: "+99012345678".into(),
            verbose: true,
        }
    }
}

/// What the demo saw, for the smoke test.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub id_token_sub: String,
    pub verified_right_number: Option<bool>,
    pub verified_wrong_number: Option<bool>,
    pub verified_hashed: Option<bool>,
    pub device_phone_number: Option<String>,
    pub reuse_status: u16,
    pub reuse_code: String,
    /// `/verify` with the token of the CIBA flow (operator token hint).
    pub ciba_verified: Option<bool>,
    /// `/verify` with the token of the JWT-bearer flow (operator token as `sub`).
    pub jwt_bearer_verified: Option<bool>,
}

struct Demo {
    config: DemoConfig,
    http: reqwest::Client,
    key: SigningKey,
    metadata: Value,
}

fn abbreviate(s: &str) -> String {
    if s.len() > 48 {
        format!("{}…({} chars)", &s[..40], s.len())
    } else {
        s.to_owned()
    }
}

fn pretty(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for key in ["access_token", "id_token", "client_assertion"] {
            if let Some(Value::String(s)) = o.get(key) {
                let short = abbreviate(s);
                o.insert(key.into(), Value::String(short));
            }
        }
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

impl Demo {
    fn say(&self, text: impl AsRef<str>) {
        if self.config.verbose {
            println!("{}", text.as_ref());
        }
    }

    fn step(&self, title: &str) {
        self.say(format!("\n=== {title} ==="));
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        self.say(format!("> GET {url}"));
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| format!("GET {url}: {e}"))?;
        self.say(format!("< {status}\n{}", pretty(&body)));
        if !status.is_success() {
            return Err(format!("GET {url} answered {status}"));
        }
        Ok(body)
    }

    fn endpoint(&self, name: &str) -> Result<String, String> {
        self.metadata[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("discovery has no {name}"))
    }

    /// /authorize as the device, then /token with private_key_jwt. Returns the token response.
    async fn tokens(&self, verbose: bool) -> Result<(Value, String), String> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = uuid::Uuid::new_v4().to_string();
        let nonce = uuid::Uuid::new_v4().to_string();
        let redirect_uri = format!("{}/demo/callback", self.config.issuer);
        let mut url = url::Url::parse(&self.endpoint("authorization_endpoint")?)
            .map_err(|e| e.to_string())?;
        url.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", &self.config.client_id),
            ("redirect_uri", &redirect_uri),
            ("scope", DEMO_SCOPE),
            ("state", &state),
            ("nonce", &nonce),
            ("prompt", "none"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let say = |s: String| {
            if verbose {
                self.say(s)
            }
        };
        say(format!("> GET {url}\n  (sent from this device: the server identifies the subscriber by its network address)"));
        let resp = self
            .http
            .get(url.as_str())
            .send()
            .await
            .map_err(|e| format!("authorize: {e}"))?;
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_owned();
        say(format!("< {}\n< Location: {location}", resp.status()));
        let back = url::Url::parse(&location)
            .map_err(|_| format!("authorize answered {} without a redirect", resp.status()))?;
        let param = |n: &str| {
            back.query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = param("error") {
            return Err(format!(
                "authorize refused: {error}: {}",
                param("error_description").unwrap_or_default()
            ));
        }
        if param("state").as_deref() != Some(state.as_str()) {
            return Err("the state came back changed".into());
        }
        if param("iss").as_deref() != Some(self.config.issuer.as_str()) {
            return Err(
                "the iss of the authorization response is not the issuer (RFC 9207)".into(),
            );
        }
        let code = param("code").ok_or("no code in the redirect")?;

        let token_endpoint = self.endpoint("token_endpoint")?;
        let assertion = self.assertion(&token_endpoint)?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ];
        say(format!(
            "> POST {token_endpoint}  (application/x-www-form-urlencoded)"
        ));
        for (k, v) in &form {
            say(format!(">   {k}={}", abbreviate(v)));
        }
        let resp = self
            .http
            .post(&token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("token: {e}"))?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| format!("token: {e}"))?;
        say(format!("< {status}\n{}", pretty(&body)));
        if !status.is_success() {
            return Err(format!("token refused: {body}"));
        }
        Ok((body, nonce))
    }

    /// A `private_key_jwt` client assertion for `audience` (RFC 7523 §3).
    fn assertion(&self, audience: &str) -> Result<String, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs() as i64;
        self.key
            .sign_json(
                Some("JWT"),
                &json!({
                    "iss": self.config.client_id, "sub": self.config.client_id, "aud": audience,
                    "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
                }),
            )
            .map_err(|e| e.to_string())
    }

    /// POST `form` to `url`, printed; the status and the JSON answer.
    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<(u16, Value), String> {
        self.say(format!("> POST {url}  (application/x-www-form-urlencoded)"));
        for (k, v) in form {
            self.say(format!(">   {k}={}", abbreviate(v)));
        }
        let resp = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.map_err(|e| format!("POST {url}: {e}"))?;
        self.say(format!("< {status}\n{}", pretty(&body)));
        Ok((status, body))
    }

    /// The device's app obtains an operator token from the entitlement service, which
    /// identifies it from the network: `operatortoken:<token>`.
    async fn operator_token(&self) -> Result<String, String> {
        let entitlement = format!("{}/entitlement/operator-token", self.config.issuer);
        self.say("  (from the device: the entitlement service identifies it from the network)");
        let (status, body) = self
            .post_form(&entitlement, &[("client_id", &self.config.client_id)])
            .await?;
        let token = body["operator_token"]
            .as_str()
            .ok_or_else(|| format!("no operator token ({status}): {body}"))?;
        Ok(format!("operatortoken:{token}"))
    }

    /// The SIM-based flow over JWT-bearer: the backend signs an assertion whose `sub` is the
    /// operator token and whose `scope` claim says what it asks for; the assertion is also its
    /// client authentication.
    async fn jwt_bearer_token(&self) -> Result<String, String> {
        let sub = self.operator_token().await?;
        let token_endpoint = self.endpoint("token_endpoint")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs() as i64;
        let claims = json!({
            "iss": self.config.client_id, "sub": sub, "aud": token_endpoint,
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
            "scope": DEMO_SCOPE,
        });
        self.say(format!(
            "  (from the relying party's backend) assertion claims {}",
            serde_json::to_string(&claims).unwrap_or_default()
        ));
        let assertion = self
            .key
            .sign_json(Some("JWT"), &claims)
            .map_err(|e| e.to_string())?;
        let (status, body) = self
            .post_form(
                &token_endpoint,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &assertion),
                ],
            )
            .await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the jwt-bearer grant was refused ({status}): {body}"))
    }

    /// The SIM-based flow over CIBA: the backend sends the operator token in a CIBA request
    /// (authenticated with private_key_jwt) and polls for the tokens.
    async fn ciba_token(&self) -> Result<String, String> {
        let hint = self.operator_token().await?;
        let bc = self.endpoint("backchannel_authentication_endpoint")?;
        self.say("  (from the relying party's backend, which may be on any network)");
        let assertion = self.assertion(&bc)?;
        let (status, body) = self
            .post_form(
                &bc,
                &[
                    ("scope", DEMO_SCOPE),
                    ("login_hint", &hint),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ],
            )
            .await?;
        let auth_req_id = body["auth_req_id"]
            .as_str()
            .ok_or_else(|| format!("backchannel request refused ({status}): {body}"))?;
        let interval = body["interval"].as_u64().unwrap_or(5);
        self.say(format!("  (waiting the interval: {interval} s)"));
        tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
        let token_endpoint = self.endpoint("token_endpoint")?;
        let assertion = self.assertion(&token_endpoint)?;
        let (status, body) = self
            .post_form(
                &token_endpoint,
                &[
                    ("grant_type", "urn:openid:params:grant-type:ciba"),
                    ("auth_req_id", auth_req_id),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ],
            )
            .await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the poll was refused ({status}): {body}"))
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.config.api);
        let mut req = match method {
            "GET" => self.http.get(&url),
            _ => self.http.post(&url),
        };
        req = req
            .bearer_auth(token)
            .header("x-correlator", uuid::Uuid::new_v4().to_string());
        self.say(format!(
            "> {method} {url}\n> Authorization: Bearer {}",
            abbreviate(token)
        ));
        if let Some(b) = &body {
            self.say(format!("> {b}"));
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        self.say(format!("< {status}\n{}", pretty(&value)));
        Ok((status, value))
    }

    /// `POST /verify` with `token` and `body`: the `devicePhoneNumberVerified` answer.
    async fn verify(&self, token: &str, body: Value) -> Result<Option<bool>, String> {
        let (_, answer) = self
            .call("POST", "/number-verification/v2/verify", token, Some(body))
            .await?;
        Ok(answer["devicePhoneNumberVerified"].as_bool())
    }

    async fn fresh_token(&self) -> Result<String, String> {
        self.say("  (a fresh token: each access token is single use)");
        let (body, _) = self.tokens(false).await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no access_token".into())
    }
}

/// Run the whole demo; `Err` says which step failed.
pub async fn run(config: &DemoConfig) -> Result<DemoReport, String> {
    let key_path = config.keys_dir.join("demo-app.jwk");
    let jwk = josekit::jwk::Jwk::from_bytes(std::fs::read(&key_path).map_err(|e| {
        format!("{}: {e} (start the servers first: `cargo run --bin local-stack`; they write the demo key)", key_path.display())
    })?)
    .map_err(|e| format!("{}: {e}", key_path.display()))?;
    let key = SigningKey::from_jwk(&jwk, Some(SigningAlg::RS256)).map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut demo = Demo {
        config: config.clone(),
        http,
        key,
        metadata: Value::Null,
    };
    let mut report = DemoReport::default();

    demo.step("1. Discovery");
    demo.metadata = demo
        .get_json(&format!(
            "{}/.well-known/openid-configuration",
            config.issuer
        ))
        .await?;

    demo.step("2-3. Authorize as the device, then redeem the code with private_key_jwt");
    let (tokens, nonce) = demo.tokens(true).await?;
    let access_token = tokens["access_token"]
        .as_str()
        .ok_or("no access_token")?
        .to_owned();

    demo.step("4. The ID token");
    let id_token = tokens["id_token"].as_str().ok_or("no id_token")?;
    let jwks = demo.get_json(&demo.endpoint("jwks_uri")?).await?;
    let keys = VerificationKeys::from_jwks(&jwks).map_err(|e| e.to_string())?;
    let (header, payload) = keys
        .verify(id_token, &SigningAlg::ALL)
        .map_err(|e| format!("the ID token does not verify: {e}"))?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    demo.say(format!(
        "header {}\nclaims {}\n(signature verified with the JWKS; `sub` is pairwise: it is not the phone number)",
        serde_json::to_string(&Value::Object(header.claims_set().clone())).unwrap_or_default(),
        serde_json::to_string_pretty(&claims).unwrap_or_default()
    ));
    if claims["nonce"].as_str() != Some(nonce.as_str()) {
        return Err("the ID token's nonce is not the one sent".into());
    }
    report.id_token_sub = claims["sub"].as_str().unwrap_or_default().to_owned();

    demo.step("5. POST /verify with the device's number");
    report.verified_right_number = demo
        .verify(&access_token, json!({"phoneNumber": config.phone_number}))
        .await?;

    demo.step("6. The same token again: refused (single use)");
    let (status, body) = demo
        .call(
            "POST",
            "/number-verification/v2/verify",
            &access_token,
            Some(json!({"phoneNumber": config.phone_number})),
        )
        .await?;
    report.reuse_status = status;
    report.reuse_code = body["code"].as_str().unwrap_or_default().to_owned();

    demo.step("7. POST /verify with another number");
    let token = demo.fresh_token().await?;
    report.verified_wrong_number = demo
        .verify(&token, json!({"phoneNumber": "+99099999999"}))
        .await?;

    demo.step("8. POST /verify with the hashed number (SHA-256 hex of the E.164 string)");
    let number: PhoneNumber = config.phone_number.parse().map_err(|e| format!("{e}"))?;
    let token = demo.fresh_token().await?;
    report.verified_hashed = demo
        .verify(&token, json!({"hashedPhoneNumber": number.sha256_hex()}))
        .await?;

    demo.step("9. GET /device-phone-number");
    let token = demo.fresh_token().await?;
    let (_, body) = demo
        .call(
            "GET",
            "/number-verification/v2/device-phone-number",
            &token,
            None,
        )
        .await?;
    report.device_phone_number = body["devicePhoneNumber"].as_str().map(str::to_owned);

    demo.step("10. SIM-based: an operator token, a CIBA request with it, the poll, /verify");
    let token = demo.ciba_token().await?;
    report.ciba_verified = demo
        .verify(&token, json!({"phoneNumber": config.phone_number}))
        .await?;

    demo.step("11. SIM-based: an operator token as the sub of a JWT-bearer assertion, /verify");
    let token = demo.jwt_bearer_token().await?;
    report.jwt_bearer_verified = demo
        .verify(&token, json!({"phoneNumber": config.phone_number}))
        .await?;

    demo.say(format!(
        "\nSummary: verified={:?}, other number={:?}, hashed={:?}, device number={:?}, reuse refused with {} {}, SIM-based verified: CIBA={:?}, JWT-bearer={:?}",
        report.verified_right_number,
        report.verified_wrong_number,
        report.verified_hashed,
        report.device_phone_number,
        report.reuse_status,
        report.reuse_code,
        report.ciba_verified,
        report.jwt_bearer_verified
    ));
    Ok(report)
}
