//! The crypto bound: how many of each operation one core does per second, with the same library
//! (nv-token over josekit/OpenSSL), the same algorithms and the same key sizes as the running
//! servers, and the ceiling that sets for each endpoint on this machine's cores.
//!
//! The profile is read from a real flow, not from configuration: the JWE header of an issued
//! access token (key management, content encryption, recipient `kid`), the ID token's header
//! (the authorization server's signing algorithm; the access token is signed by the same current
//! key) and the client's own key. Key sizes come from the published JWKS.
//!
//! Each operation is timed on one thread with the other cores idle, and on one thread per core
//! at once, each the best of three short trials interleaved across the operations (so a passing
//! disturbance cannot lower a rate); loadgen measures again after the load and keeps the better
//! rate of each (`Bound::best_of`). The **ceiling** comes from the all-cores rates: what the
//! cryptography alone gets out of this machine when every core is busy, which is the condition
//! the servers run in at full load. A lone busy core runs faster than one of several busy ones,
//! so that is below cores × the one-core rate (by how much, per operation: docs/performance.md);
//! the **perfect-scaling bound**, cores × the one-core rate, is reported beside it as a stricter
//! reference (decision 0008).
//!
//! Per request the servers do what `nv_token::operations` lists (the list nv-token's criterion
//! benchmarks measure), and nothing cheaper is assumed:
//! - `/token`: verify the client assertion + seal (sign + encrypt) + sign the ID token;
//! - `/verify`: open (decrypt + verify + claim checks);
//! - `/authorize`: no public-key crypto (random code, one SHA-256): not part of the bound.
//!
//! Sign, verify, encrypt and decrypt alone are measured too, to show what seal and open are made
//! of; they are not added to the cost.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::{self, JweEncrypter, JweHeader};
use josekit::jwk::{Jwk, P_256};
use nv_token::operations::{Algorithms, Operation, TOKEN_ENDPOINT, VERIFY_ENDPOINT};
use nv_token::seal::decrypt;
use nv_token::{
    open, seal, AccessTokenClaims, Amr, Audience, ContentEncryption, DecryptionKeys, EncryptionAlg,
    EncryptionKey, OpenPolicy, SigningAlg, SigningKey, SigningKeys, VerificationKeys,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::options::Mode;
use crate::relying_party::{header_of, RelyingParty, Tokens};

/// Time spent measuring each operation (after a short warm-up).
const MEASURE: Duration = Duration::from_millis(200);

/// Algorithms and key sizes the servers use, as observed.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub signing: String,
    pub signing_bits: Option<u32>,
    pub key_management: String,
    pub encryption_bits: Option<u32>,
    pub content: String,
    pub client: String,
    pub client_bits: Option<u32>,
}

impl Profile {
    pub fn describe(&self) -> String {
        let bits = |b: Option<u32>| b.map(|b| format!("-{b}")).unwrap_or_default();
        format!(
            "signing {}{}, encryption {}{}+{}, client assertion {}{}",
            self.signing,
            bits(self.signing_bits),
            self.key_management,
            bits(self.encryption_bits),
            self.content,
            self.client,
            bits(self.client_bits)
        )
    }

    /// Read it from one issued token pair, the published JWKS and the client key.
    pub async fn observe(rp: &RelyingParty, tokens: &Tokens) -> Result<Self, String> {
        let jwe = header_of(&tokens.access_token).ok_or("the access token is not a JWE")?;
        let key_management = jwe["alg"].as_str().unwrap_or("").to_owned();
        let content = jwe["enc"].as_str().unwrap_or("").to_owned();
        let as_jwks = rp.get_json(&rp.jwks_uri).await?;
        let (signing, sig_kid) = match tokens.id_token.as_deref().and_then(header_of) {
            Some(h) => (
                h["alg"].as_str().unwrap_or("").to_owned(),
                h["kid"].as_str().map(str::to_owned),
            ),
            None => {
                let first = &as_jwks["keys"][0];
                (
                    first["alg"].as_str().unwrap_or("RS256").to_owned(),
                    first["kid"].as_str().map(str::to_owned),
                )
            }
        };
        let signing_bits = find_key(&as_jwks, sig_kid.as_deref()).and_then(rsa_bits);
        let encryption_bits = if key_management == "dir" {
            None
        } else {
            let rs_jwks = rp.get_json(&rp.rs_jwks_url).await?;
            find_key(&rs_jwks, jwe["kid"].as_str()).and_then(rsa_bits)
        };
        let client_json = Value::Object(rp.client_jwk.as_ref().clone());
        let client = match rp.client_jwk.algorithm() {
            Some(a) => a.to_owned(),
            None if rp.client_jwk.key_type() == "EC" => "ES256".into(),
            None => "RS256".into(),
        };
        Ok(Self {
            signing,
            signing_bits,
            key_management,
            encryption_bits,
            content,
            client,
            client_bits: rsa_bits(&client_json),
        })
    }
}

fn find_key<'a>(jwks: &'a Value, kid: Option<&str>) -> Option<&'a Value> {
    let keys = jwks["keys"].as_array()?;
    match kid {
        Some(kid) => keys.iter().find(|k| k["kid"].as_str() == Some(kid)),
        None => keys.first(),
    }
}

fn rsa_bits(jwk: &Value) -> Option<u32> {
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str()?).ok()?;
    let leading_zeros = n.iter().take_while(|b| **b == 0).count();
    Some(((n.len() - leading_zeros) * 8) as u32)
}

/// One measured operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    pub name: String,
    /// Operations per second on one core.
    pub per_core: f64,
    /// Operations per second with one thread per core, all at once (what the machine really
    /// does: shared caches, turbo and the hypervisor make it less than cores × per_core).
    pub all_cores: f64,
    /// Which operation of the flow this is; `None` for the parts of seal and open.
    #[serde(skip)]
    pub operation: Option<Operation>,
}

/// Measured rates and the derived ceilings.
#[derive(Debug, Clone, Serialize)]
pub struct Bound {
    pub profile: Profile,
    pub cores: usize,
    /// Every operation of the flow (`Operation::ALL`), then the parts of seal and open.
    pub ops: Vec<Op>,
}

impl Bound {
    /// Core-seconds of crypto per unit of `mode`, each operation of its endpoints costing
    /// `seconds(op)`.
    fn cost_with(&self, mode: Mode, seconds: impl Fn(&Op) -> f64) -> f64 {
        let cost = |endpoint: &[Operation]| -> f64 {
            endpoint
                .iter()
                .map(|o| {
                    let op = self.ops.iter().find(|op| op.operation == Some(*o));
                    seconds(op.expect("`measure` times every operation of the flow"))
                })
                .sum()
        };
        match mode {
            Mode::Flow => cost(&TOKEN_ENDPOINT) + cost(&VERIFY_ENDPOINT),
            Mode::Token => cost(&TOKEN_ENDPOINT),
            Mode::Verify => cost(&VERIFY_ENDPOINT),
        }
    }

    /// Each rate the better of two measurements (before and after a load), so that
    /// a slow moment during either cannot lower the ceiling and flatter the ratio.
    pub fn best_of(self, other: Bound) -> Bound {
        let ops = self
            .ops
            .into_iter()
            .zip(other.ops)
            .map(|(a, b)| Op {
                name: a.name,
                per_core: a.per_core.max(b.per_core),
                all_cores: a.all_cores.max(b.all_cores),
                operation: a.operation,
            })
            .collect();
        Bound { ops, ..self }
    }

    /// Core-seconds of crypto per unit of `mode` (one request, or one flow), one-core rates.
    pub fn cost(&self, mode: Mode) -> f64 {
        self.cost_with(mode, |op| 1.0 / op.per_core)
    }

    /// Core-seconds of crypto per unit of `mode` when every core is busy (cores / the all-cores
    /// rate): what a unit really costs the servers at full load.
    pub fn loaded_cost(&self, mode: Mode) -> f64 {
        let n = self.cores as f64;
        self.cost_with(mode, |op| n / op.all_cores)
    }

    /// The ceiling: requests (or flows) per second the crypto allows with every core busy with
    /// nothing else, from the rates measured that way.
    pub fn ceiling(&self, mode: Mode) -> f64 {
        self.ceiling_on(mode, self.cores as f64)
    }

    /// The ceiling when only `cores` cores are left to the servers.
    pub fn ceiling_on(&self, mode: Mode, cores: f64) -> f64 {
        cores / self.loaded_cost(mode)
    }

    /// cores × the one-core rate: the ceiling if the machine scaled perfectly, which it does
    /// not (see the module comment). Always at least `ceiling`, up to measurement noise.
    pub fn perfect_scaling(&self, mode: Mode) -> f64 {
        self.cores as f64 / self.cost(mode)
    }
}

/// A row of the measurement: its label, the flow's operation it is (if one), the work.
type Timed<'a> = (String, Option<Operation>, &'a (dyn Fn() + Sync));

/// Operations per second of `op` on `threads` threads at once.
fn rate(threads: usize, op: &(dyn Fn() + Sync)) -> f64 {
    std::thread::scope(|s| {
        let counts: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let warm = Instant::now();
                    while warm.elapsed() < Duration::from_millis(30) {
                        op();
                    }
                    let t = Instant::now();
                    let mut n = 0u64;
                    while t.elapsed() < MEASURE {
                        op();
                        n += 1;
                    }
                    n as f64 / t.elapsed().as_secs_f64()
                })
            })
            .collect();
        counts
            .into_iter()
            .map(|h| h.join().expect("a measuring thread panicked"))
            .sum()
    })
}

fn private_signing_jwk(alg: SigningAlg, bits: Option<u32>) -> Result<Jwk, String> {
    let mut jwk = match alg {
        SigningAlg::RS256 | SigningAlg::PS256 => Jwk::generate_rsa_key(bits.unwrap_or(2048)),
        SigningAlg::ES256 => Jwk::generate_ec_key(P_256),
    }
    .map_err(|e| e.to_string())?;
    jwk.set_algorithm(alg.name());
    jwk.set_key_use("sig");
    jwk.set_key_id(format!("bound-{}", alg.name()));
    Ok(jwk)
}

fn signing_pair(
    alg: SigningAlg,
    bits: Option<u32>,
) -> Result<(SigningKey, VerificationKeys), String> {
    let jwk = private_signing_jwk(alg, bits)?;
    let key = SigningKey::from_jwk(&jwk, Some(alg)).map_err(|e| e.to_string())?;
    let again = SigningKey::from_jwk(&jwk, Some(alg)).map_err(|e| e.to_string())?;
    let published = SigningKeys::new(vec![again])
        .map_err(|e| e.to_string())?
        .verification_keys();
    Ok((key, published))
}

fn encryption_pair(
    alg: EncryptionAlg,
    bits: Option<u32>,
    content: ContentEncryption,
) -> Result<(DecryptionKeys, EncryptionKey, Box<dyn JweEncrypter>), String> {
    let mut jwk = match alg {
        EncryptionAlg::RsaOaep256 => Jwk::generate_rsa_key(bits.unwrap_or(2048)),
        EncryptionAlg::EcdhEsA256kw => Jwk::generate_ec_key(P_256),
        EncryptionAlg::Dir => Jwk::generate_oct_key(match content {
            ContentEncryption::A256GCM => 32,
            ContentEncryption::A128GCM => 16,
        }),
    }
    .map_err(|e| e.to_string())?;
    jwk.set_algorithm(alg.name());
    jwk.set_key_use("enc");
    jwk.set_key_id("bound-enc");
    let decryption =
        DecryptionKeys::from_jwks(std::slice::from_ref(&jwk)).map_err(|e| e.to_string())?;
    let mut public = match alg {
        EncryptionAlg::Dir => jwk.clone(),
        _ => jwk.to_public_key().map_err(|e| e.to_string())?,
    };
    // josekit drops `kid` when taking the public half.
    public.set_key_id("bound-enc");
    let recipient = EncryptionKey::from_jwk(&public, Some(alg)).map_err(|e| e.to_string())?;
    let raw: Box<dyn JweEncrypter> = match alg {
        EncryptionAlg::RsaOaep256 => Box::new(
            jwe::RSA_OAEP_256
                .encrypter_from_jwk(&public)
                .map_err(|e| e.to_string())?,
        ),
        EncryptionAlg::EcdhEsA256kw => Box::new(
            jwe::ECDH_ES_A256KW
                .encrypter_from_jwk(&public)
                .map_err(|e| e.to_string())?,
        ),
        EncryptionAlg::Dir => Box::new(
            jwe::Dir
                .encrypter_from_jwk(&public)
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok((decryption, recipient, raw))
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("the servers use {what} `{s}`, which nv-token does not support"))
}

/// Measure every operation on one thread and on one thread per core (the servers are idle
/// while this runs).
pub fn measure(profile: Profile, cores: usize) -> Result<Bound, String> {
    let sig: SigningAlg = parse("signing algorithm", &profile.signing)?;
    let enc: EncryptionAlg = parse("key management", &profile.key_management)?;
    let content: ContentEncryption = parse("content encryption", &profile.content)?;
    let client: SigningAlg = parse("client assertion algorithm", &profile.client)?;

    let (signer, verification) = signing_pair(sig, profile.signing_bits)?;
    let (decryption, recipient, raw_encrypter) =
        encryption_pair(enc, profile.encryption_bits, content)?;
    let (client_key, client_keys) = signing_pair(client, profile.client_bits)?;

    const ISS: &str = "http://127.0.0.1:8080";
    const AUD: &str = "http://127.0.0.1:8081";
    let now = 1_800_000_000;
    let claims = AccessTokenClaims {
        iss: ISS.into(),
        sub: "Wm9vLXBhaXJ3aXNlLXN1YmplY3QtaWRlbnRpZmllcg".into(),
        aud: Audience::One(AUD.into()),
        client_id: "demo-app".into(),
        scope: "openid dpv:FraudPreventionAndDetection number-verification:verify".into(),
        iat: now,
        nbf: None,
        exp: now + 300,
        jti: uuid::Uuid::new_v4().to_string(),
        amr: vec![Amr::Network],
        auth_time: now,
        phone_number: "+99012345678".parse().expect("valid"),
    };
    let id_claims = json!({
        "iss": ISS, "sub": claims.sub, "aud": "demo-app", "exp": now + 300, "iat": now,
        "auth_time": now, "nonce": "loadgen-nonce", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "azp": "demo-app", "amr": ["network"],
    });
    let assertion = client_key
        .sign_json(
            Some("JWT"),
            &json!({"iss": "demo-app", "sub": "demo-app", "aud": format!("{ISS}/token"),
                    "iat": now, "exp": now + 280, "jti": uuid::Uuid::new_v4().to_string()}),
        )
        .map_err(|e| e.to_string())?;
    let (encs, sigs, contents) = ([enc], [sig], [content]);
    let policy = OpenPolicy {
        issuer: ISS,
        audience: AUD,
        key_management: &encs,
        content: &contents,
        signing: &sigs,
        now: now + 1,
        leeway: 30,
    };
    let jws = signer
        .sign_json(Some("at+jwt"), &claims)
        .map_err(|e| e.to_string())?;
    let token = seal(&claims, &signer, &recipient, content).map_err(|e| e.to_string())?;
    let mut jwe_header = JweHeader::new();
    jwe_header.set_content_encryption(content.name());
    jwe_header.set_content_type("JWT");
    jwe_header.set_key_id("bound-enc");

    let sign_op = || {
        signer.sign_json(Some("JWT"), &id_claims).expect("sign");
    };
    let verify_op = || {
        verification.verify(&jws, &sigs).expect("verify");
    };
    let encrypt_op = || {
        jwe::serialize_compact(jws.as_bytes(), &jwe_header, &*raw_encrypter).expect("encrypt");
    };
    let decrypt_op = || {
        decrypt(&token, &decryption, &policy).expect("decrypt");
    };
    let assertion_op = || {
        client_keys
            .verify(&assertion, &[client])
            .expect("verify assertion");
    };
    let seal_op = || {
        seal(&claims, &signer, &recipient, content).expect("seal");
    };
    let open_op = || {
        open(&token, &decryption, &verification, &policy).expect("open");
    };
    let algorithms = |a: Algorithms| match a {
        Algorithms::Signing => sig.name().to_owned(),
        Algorithms::Client => client.name().to_owned(),
        Algorithms::SigningAndKeyManagement => {
            format!("{}+{}+{}", sig.name(), enc.name(), content.name())
        }
    };
    let flow = Operation::ALL.map(|o| {
        let run: &(dyn Fn() + Sync) = match o {
            Operation::ClientAssertionVerify => &assertion_op,
            Operation::Seal => &seal_op,
            Operation::IdTokenSign => &sign_op,
            Operation::Open => &open_op,
        };
        (
            format!("{} ({})", o.name(), algorithms(o.algorithms())),
            Some(o),
            run,
        )
    });
    let parts: [Timed; 3] = [
        (
            format!("{} verify (access token)", sig.name()),
            None,
            &verify_op,
        ),
        (
            format!("{}+{} encrypt", enc.name(), content.name()),
            None,
            &encrypt_op,
        ),
        (
            format!("{}+{} decrypt", enc.name(), content.name()),
            None,
            &decrypt_op,
        ),
    ];
    let table: Vec<_> = flow.into_iter().chain(parts).collect();
    // Best of three rounds each, the rounds interleaved across the operations and between one
    // core and all cores, so a disturbance (another process, a cold core, the hypervisor) cannot
    // lower one operation's figure throughout.
    let mut per_core = vec![0.0f64; table.len()];
    let mut all_cores = vec![0.0f64; table.len()];
    for _ in 0..3 {
        for ((one, all), (_, _, op)) in per_core.iter_mut().zip(all_cores.iter_mut()).zip(&table) {
            *one = one.max(rate(1, *op));
            *all = all.max(rate(cores, *op));
        }
    }
    let ops: Vec<Op> = table
        .iter()
        .zip(per_core.iter().zip(all_cores))
        .map(|((name, operation, _), (&per_core, all_cores))| Op {
            name: name.clone(),
            per_core,
            all_cores,
            operation: *operation,
        })
        .collect();
    Ok(Bound {
        profile,
        cores,
        ops,
    })
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(operation: Option<Operation>, per_core: f64, all_cores: f64) -> Op {
        Op {
            name: operation.map_or("part", Operation::name).into(),
            per_core,
            all_cores,
            operation,
        }
    }

    fn bound(scaling: f64) -> Bound {
        // Rates per second; on 2 cores the all-cores rate is `scaling` × 2 × the one-core rate.
        let ops = [
            (Some(Operation::ClientAssertionVerify), 10000.0),
            (Some(Operation::Seal), 800.0),
            (Some(Operation::IdTokenSign), 1000.0),
            (Some(Operation::Open), 900.0),
            // The parts of seal and open: measured, not added.
            (None, 20000.0),
            (None, 20000.0),
            (None, 1000.0),
        ]
        .iter()
        .map(|(n, r)| op(*n, *r, r * 2.0 * scaling))
        .collect();
        let profile = Profile {
            signing: "RS256".into(),
            signing_bits: Some(2048),
            key_management: "RSA-OAEP-256".into(),
            encryption_bits: Some(2048),
            content: "A256GCM".into(),
            client: "RS256".into(),
            client_bits: Some(2048),
        };
        Bound {
            profile,
            cores: 2,
            ops,
        }
    }

    #[test]
    fn the_ceiling_comes_from_the_all_cores_rates_and_perfect_scaling_from_one_core() {
        let b = bound(0.9);
        // /token = assertion verify + seal + ID-token sign on one core: 0.1 + 1.25 + 1 ms.
        let token = 1.0 / 10000.0 + 1.0 / 800.0 + 1.0 / 1000.0;
        assert!((b.cost(Mode::Token) - token).abs() < 1e-12);
        assert!((b.perfect_scaling(Mode::Token) - 2.0 / token).abs() < 1e-6);
        // With every core busy each operation runs at 90 % of its lone speed.
        assert!((b.ceiling(Mode::Token) - 0.9 * 2.0 / token).abs() < 1e-6);
        assert!((b.ceiling(Mode::Verify) - 0.9 * 2.0 * 900.0).abs() < 1e-6);
        let flow = token + 1.0 / 900.0;
        assert!((b.ceiling(Mode::Flow) - 0.9 * 2.0 / flow).abs() < 1e-6);
        // On the 1.5 cores a load generator left: three quarters of it.
        assert!((b.ceiling_on(Mode::Flow, 1.5) - 0.75 * b.ceiling(Mode::Flow)).abs() < 1e-6);
    }

    #[test]
    fn the_better_of_two_measurements_counts() {
        let slow = bound(0.8);
        let fast = bound(0.95);
        let best = slow.best_of(fast);
        assert!((best.ceiling(Mode::Flow) - bound(0.95).ceiling(Mode::Flow)).abs() < 1e-6);
        assert!(
            (best.perfect_scaling(Mode::Flow) - bound(0.95).perfect_scaling(Mode::Flow)).abs()
                < 1e-6
        );
    }

    #[test]
    fn a_machine_that_scales_perfectly_has_one_bound() {
        let b = bound(1.0);
        for mode in [Mode::Flow, Mode::Token, Mode::Verify] {
            assert!((b.ceiling(mode) - b.perfect_scaling(mode)).abs() < 1e-6);
        }
    }
}
