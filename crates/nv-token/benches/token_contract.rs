//! Micro-benchmarks of the token contract, one group per operation a request pays for, from
//! the list loadgen's crypto bound adds up too (`nv_token::operations`):
//!
//! - `client_assertion_verify`: verify a `private_key_jwt` assertion (`/token`);
//! - `seal`: sign the access token, then encrypt it to the resource server (`/token`);
//! - `id_token_sign`: sign an ID token (`/token` with `openid`);
//! - `open`: decrypt, then verify it and check its claims (`/verify`);
//! - `scope_check`: the resource server's scope check on opened claims, by exact name and by
//!   the API versions' equivalence table (`ApiScope::grants`), to set beside `open`.
//!
//! `seal` and `open` run for every supported pair (RS256/PS256/ES256 × RSA-OAEP-256 /
//! ECDH-ES+A256KW / dir, all with A256GCM), the others for each signing algorithm. Measurement
//! windows are short (1 s) so the whole suite runs in about a minute: `cargo bench -p nv-token`
//! (see docs/performance.md).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nv_token::operations::{Algorithms, Operation};
use nv_token::{
    open, seal, AccessTokenClaims, Amr, ApiScope, Audience, ContentEncryption, DecryptionKeys,
    EncryptionAlg, EncryptionKey, OpenPolicy, SigningAlg, SigningKey, SigningKeys,
    VerificationKeys,
};
use serde_json::json;

const ISS: &str = "https://as.example";
const AUD: &str = "https://rs.example";
const NOW: i64 = 1_800_000_000;

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "Wm9vLXBhaXJ3aXNlLXN1YmplY3QtaWRlbnRpZmllcg".into(),
        aud: Audience::One(AUD.into()),
        client_id: "demo-app".into(),
        scope: "openid dpv:FraudPreventionAndDetection number-verification:verify".into(),
        iat: NOW,
        nbf: None,
        exp: NOW + 300,
        jti: "7b0f9c51-3c0e-4bb8-9d1e-0a3f4a7f7c11".into(),
        amr: vec![Amr::Network],
        auth_time: NOW,
        phone_number: "+99012345678".parse().expect("valid"),
    }
}

/// What the resource server holds (private) and what the authorization server encrypts to.
fn encryption_pair(enc: EncryptionAlg) -> (DecryptionKeys, EncryptionKey) {
    let private = enc.generate().expect("key generation");
    let decryption =
        DecryptionKeys::from_jwks(std::slice::from_ref(&private)).expect("decryption key");
    let recipient = match enc {
        // A shared secret is never published: the authorization server is configured with it.
        EncryptionAlg::Dir => EncryptionKey::from_jwk(&private, None),
        _ => EncryptionKey::from_jwks(&decryption.public_jwks()),
    }
    .expect("encryption key");
    (decryption, recipient)
}

fn signing_pair(sig: SigningAlg) -> (SigningKey, VerificationKeys) {
    let (key, private) = SigningKey::generate(sig).expect("key generation");
    let published = SigningKeys::new(vec![SigningKey::from_jwk(&private, None).expect("key")])
        .expect("key set")
        .verification_keys();
    (key, published)
}

fn policy<'a>(enc: &'a [EncryptionAlg], sig: &'a [SigningAlg]) -> OpenPolicy<'a> {
    OpenPolicy {
        issuer: ISS,
        audience: AUD,
        key_management: enc,
        content: &[ContentEncryption::A256GCM],
        signing: sig,
        now: NOW + 1,
        leeway: 30,
    }
}

fn pair_name(sig: SigningAlg, enc: EncryptionAlg) -> String {
    format!("{}+{}", sig.name(), enc.name())
}

/// The algorithm choices an operation is measured for, from what its cost depends on.
fn cases(op: Operation) -> Vec<(SigningAlg, Option<EncryptionAlg>)> {
    match op.algorithms() {
        Algorithms::SigningAndKeyManagement => SigningAlg::ALL
            .into_iter()
            .flat_map(|sig| EncryptionAlg::ALL.map(|enc| (sig, Some(enc))))
            .collect(),
        Algorithms::Signing | Algorithms::Client => {
            SigningAlg::ALL.into_iter().map(|sig| (sig, None)).collect()
        }
    }
}

fn operations(c: &mut Criterion) {
    let claims = claims();
    let id_claims = json!({
        "iss": ISS, "sub": "Wm9vLXBhaXJ3aXNlLXN1YmplY3QtaWRlbnRpZmllcg", "aud": "demo-app",
        "exp": NOW + 300, "iat": NOW, "auth_time": NOW, "nonce": "n-0S6_WzA2Mj",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "azp": "demo-app", "amr": ["network"],
    });
    let assertion_claims = json!({
        "iss": "demo-app", "sub": "demo-app", "aud": format!("{ISS}/token"),
        "iat": NOW, "exp": NOW + 60, "jti": "0d5e8a4e-56b8-4c2c-a3b7-6f1c3f0e9a21",
    });
    for op in Operation::ALL {
        let mut group = c.benchmark_group(op.name());
        for (sig, enc) in cases(op) {
            let id = BenchmarkId::from_parameter(match enc {
                Some(enc) => pair_name(sig, enc),
                None => sig.name().to_owned(),
            });
            let (signer, verification) = signing_pair(sig);
            // The match is exhaustive: an operation added to the list needs its benchmark here.
            match op {
                Operation::ClientAssertionVerify => {
                    let assertion = signer
                        .sign_json(Some("JWT"), &assertion_claims)
                        .expect("sign");
                    group.bench_function(id, |b| {
                        b.iter(|| {
                            verification
                                .verify(black_box(&assertion), &SigningAlg::ALL)
                                .expect("verify")
                        })
                    });
                }
                Operation::Seal => {
                    let (_, recipient) = encryption_pair(enc.expect("a pair"));
                    group.bench_function(id, |b| {
                        b.iter(|| {
                            seal(
                                black_box(&claims),
                                &signer,
                                &recipient,
                                ContentEncryption::A256GCM,
                            )
                            .expect("seal")
                        })
                    });
                }
                Operation::IdTokenSign => {
                    group.bench_function(id, |b| {
                        b.iter(|| {
                            signer
                                .sign_json(Some("JWT"), black_box(&id_claims))
                                .expect("sign")
                        })
                    });
                }
                Operation::Open => {
                    let enc = enc.expect("a pair");
                    let (decryption, recipient) = encryption_pair(enc);
                    let token = seal(&claims, &signer, &recipient, ContentEncryption::A256GCM)
                        .expect("seal");
                    let (encs, sigs) = ([enc], [sig]);
                    let policy = policy(&encs, &sigs);
                    group.bench_function(id, |b| {
                        b.iter(|| {
                            open(black_box(&token), &decryption, &verification, &policy)
                                .expect("open")
                        })
                    });
                }
            }
        }
        group.finish();
    }
}

/// The scope check after `open`: an exact name (`has_scope`) against the equivalence table
/// (`grants`), for a token whose granting scope is its last of four.
fn scope_check(c: &mut Criterion) {
    let mut claims = claims();
    claims.scope =
        "openid dpv:FraudPreventionAndDetection number-verification:device-phone-number:read \
                    number-verification-verify-read"
            .into();
    let mut group = c.benchmark_group("scope_check");
    group.bench_function("exact", |b| {
        b.iter(|| black_box(&claims).has_scope(black_box(ApiScope::V0VerifyRead)))
    });
    group.bench_function("equivalent", |b| {
        b.iter(|| black_box(&claims).grants(black_box(ApiScope::Verify)))
    });
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = short();
    targets = operations, scope_check
}
criterion_main!(benches);
