//! Sealing and opening, including every tampering a resource server must refuse.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::{self, JweEncrypter, JweHeader};
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader};
use nv_token::keys::VerifyError;
use nv_token::seal::{decrypt, verify};
use nv_token::*;
use serde_json::json;

const ISS: &str = "https://as.example";
const AUD: &str = "https://rs.example";
const NOW: i64 = 1_800_000_000;

struct Fixture {
    signer: SigningKey,
    /// The signer's private JWK, for inner JWSs with headers `SigningKey` does not write.
    signer_jwk: Jwk,
    signing: SigningKeys,
    recipient: EncryptionKey,
    /// What `recipient` encrypts to: the public JWK, or the shared secret for `dir`.
    recipient_jwk: Jwk,
    alg: EncryptionAlg,
    decryption: DecryptionKeys,
}

fn fixture(sig: SigningAlg, enc: EncryptionAlg) -> Fixture {
    fixture_with(sig, enc, enc.generate().unwrap())
}

/// A fixture whose keys fit `content` too (a `dir` key is the content key itself).
fn fixture_for(sig: SigningAlg, enc: EncryptionAlg, content: ContentEncryption) -> Fixture {
    match enc {
        EncryptionAlg::Dir => fixture_with(sig, enc, dir_key(content)),
        _ => fixture(sig, enc),
    }
}

impl Fixture {
    /// The standard claims, sealed with this fixture's keys.
    fn token(&self, content: ContentEncryption) -> String {
        seal(&claims(), &self.signer, &self.recipient, content).unwrap()
    }
}

fn fixture_with(sig: SigningAlg, enc: EncryptionAlg, dec_private: Jwk) -> Fixture {
    let (signer, private) = SigningKey::generate(sig).unwrap();
    let signing = SigningKeys::new(vec![SigningKey::from_jwk(&private, None).unwrap()]).unwrap();
    let decryption = DecryptionKeys::from_jwks(std::slice::from_ref(&dec_private)).unwrap();
    let recipient_jwk = match enc {
        EncryptionAlg::Dir => dec_private,
        _ => Jwk::from_map(
            decryption.public_jwks()["keys"][0]
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap(),
    };
    let recipient = EncryptionKey::from_jwk(&recipient_jwk, None).unwrap();
    Fixture {
        signer,
        signer_jwk: private,
        signing,
        recipient,
        recipient_jwk,
        alg: enc,
        decryption,
    }
}

/// A `dir` key of the size `content` needs (`EncryptionAlg::Dir.generate` makes 256-bit keys).
fn dir_key(content: ContentEncryption) -> Jwk {
    let len = match content {
        ContentEncryption::A256GCM => 32,
        ContentEncryption::A128GCM => 16,
    };
    let mut jwk = Jwk::generate_oct_key(len).unwrap();
    jwk.set_algorithm("dir");
    jwk.set_key_use("enc");
    jwk
}

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "pairwise-sub".into(),
        aud: Audience::One(AUD.into()),
        client_id: "demo-app".into(),
        scope: "openid dpv:FraudPreventionAndDetection number-verification:verify".into(),
        iat: NOW,
        nbf: None,
        exp: NOW + 300,
        jti: "jti-1".into(),
        amr: vec![Amr::Network],
        auth_time: NOW,
        phone_number: "+99012345678".parse().unwrap(),
    }
}

fn policy(now: i64) -> OpenPolicy<'static> {
    OpenPolicy {
        issuer: ISS,
        audience: AUD,
        key_management: &[EncryptionAlg::RsaOaep256],
        content: &[ContentEncryption::A256GCM],
        signing: &SigningAlg::ALL,
        now,
        leeway: 30,
    }
}

/// Every key-management and content-encryption algorithm the crate supports.
fn any_algorithm(now: i64) -> OpenPolicy<'static> {
    OpenPolicy {
        key_management: &EncryptionAlg::ALL,
        content: &ContentEncryption::ALL,
        ..policy(now)
    }
}

/// The claims of a complete token (a genuine one without a phone number is an error here).
fn open_with(f: &Fixture, token: &str, p: &OpenPolicy<'_>) -> Result<AccessTokenClaims, OpenError> {
    match open(token, &f.decryption, &f.signing.verification_keys(), p)? {
        Opened::Complete(claims, _) => Ok(claims),
        Opened::WithoutPhoneNumber(_) => Err(OpenError::Claims("no phone number".into())),
    }
}

#[test]
fn every_algorithm_pair_round_trips() {
    for sig in SigningAlg::ALL {
        for enc in EncryptionAlg::ALL {
            for content in ContentEncryption::ALL {
                let f = fixture_for(sig, enc, content);
                let token = f.token(content);
                assert_eq!(
                    open_with(&f, &token, &any_algorithm(NOW)).unwrap(),
                    claims(),
                    "{sig:?} {enc:?} {content:?}"
                );
            }
        }
    }
}

#[test]
fn the_jwe_header_names_the_recipient_key_and_a_nested_jwt() {
    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let token = f.token(ContentEncryption::A256GCM);
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RSA-OAEP-256");
    assert_eq!(header["enc"], "A256GCM");
    assert_eq!(header["cty"], "JWT");
    assert_eq!(header["kid"], f.recipient.kid());
    assert!(!token.contains("99012345678"));
    let inner = decrypt(&token, &f.decryption, &policy(NOW)).unwrap();
    let inner_header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(inner.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(inner_header["typ"], "at+jwt");
    assert_eq!(inner_header["kid"], f.signer.kid());
}

#[test]
fn a_flipped_byte_in_any_jwe_part_is_refused() {
    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let token = f.token(ContentEncryption::A256GCM);
    let parts: Vec<&str> = token.split('.').collect();
    for part in 0..5 {
        let mut bytes = URL_SAFE_NO_PAD.decode(parts[part]).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        let mut tampered: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        tampered[part] = URL_SAFE_NO_PAD.encode(&bytes);
        let result = open_with(&f, &tampered.join("."), &policy(NOW));
        assert!(result.is_err(), "part {part} tampered but accepted");
    }
}

#[test]
fn a_token_encrypted_to_another_key_is_refused() {
    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let other = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let token = seal(
        &claims(),
        &f.signer,
        &other.recipient,
        ContentEncryption::A256GCM,
    )
    .unwrap();
    assert!(matches!(
        open_with(&f, &token, &policy(NOW)),
        Err(OpenError::UnknownDecryptionKey(_))
    ));
}

#[test]
fn an_inner_jws_signed_by_an_unknown_key_is_refused() {
    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let (rogue, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
    let token = seal(&claims(), &rogue, &f.recipient, ContentEncryption::A256GCM).unwrap();
    let err = open_with(&f, &token, &policy(NOW)).unwrap_err();
    assert!(err.is_unknown_signing_key(), "{err:?}");
}

#[test]
fn an_inner_jws_that_reuses_a_known_kid_with_another_key_is_refused() {
    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let mut rogue_jwk = SigningAlg::RS256.generate().unwrap();
    rogue_jwk.set_key_id(f.signer.kid());
    let rogue = SigningKey::from_jwk(&rogue_jwk, None).unwrap();
    let token = seal(&claims(), &rogue, &f.recipient, ContentEncryption::A256GCM).unwrap();
    assert!(matches!(
        open_with(&f, &token, &policy(NOW)),
        Err(OpenError::Signature(_))
    ));
}

fn encrypt_raw(f: &Fixture, inner: &str) -> String {
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_content_type("JWT");
    header.set_key_id(f.recipient.kid());
    let enc = jwe::RSA_OAEP_256
        .encrypter_from_jwk(
            &josekit::jwk::Jwk::from_map(
                f.decryption.public_jwks()["keys"][0]
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .unwrap(),
        )
        .unwrap();
    jwe::serialize_compact(inner.as_bytes(), &header, &enc).unwrap()
}

#[test]
fn an_unsigned_inner_token_is_refused() {
    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
    let token = encrypt_raw(&f, &format!("{header}.{body}."));
    assert!(matches!(
        open_with(&f, &token, &policy(NOW)),
        Err(OpenError::Signature(_))
    ));
}

#[test]
fn an_id_token_or_other_jwt_type_is_not_an_access_token() {
    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let inner = f.signer.sign_json(Some("JWT"), &claims()).unwrap();
    let token = encrypt_raw(&f, &inner);
    assert!(matches!(
        open_with(&f, &token, &policy(NOW)),
        Err(OpenError::WrongType(_))
    ));
}

#[test]
fn key_management_and_content_algorithms_outside_the_policy_are_refused() {
    // dir and A256KW when only RSA-OAEP-256 is configured.
    let f = fixture(SigningAlg::RS256, EncryptionAlg::Dir);
    let token = f.token(ContentEncryption::A256GCM);
    assert_eq!(
        open_with(&f, &token, &policy(NOW)).unwrap_err(),
        OpenError::AlgorithmNotAllowed("dir".into())
    );

    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    let inner = f.signer.sign_json(Some("at+jwt"), &claims()).unwrap();
    let oct = josekit::jwk::Jwk::generate_oct_key(16).unwrap();
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_content_type("JWT");
    let token = jwe::serialize_compact(
        inner.as_bytes(),
        &header,
        &jwe::A128KW.encrypter_from_jwk(&oct).unwrap(),
    )
    .unwrap();
    assert_eq!(
        open_with(&f, &token, &policy(NOW)).unwrap_err(),
        OpenError::AlgorithmNotAllowed("A128KW".into())
    );

    let token = f.token(ContentEncryption::A128GCM);
    assert_eq!(
        open_with(&f, &token, &policy(NOW)).unwrap_err(),
        OpenError::AlgorithmNotAllowed("A128GCM".into())
    );
}

#[test]
fn time_issuer_and_audience_are_enforced() {
    let f = fixture(SigningAlg::ES256, EncryptionAlg::RsaOaep256);
    let token = f.token(ContentEncryption::A256GCM);
    assert!(
        open_with(&f, &token, &policy(NOW + 300 + 29)).is_ok(),
        "within leeway"
    );
    assert_eq!(
        open_with(&f, &token, &policy(NOW + 300 + 30)).unwrap_err(),
        OpenError::Expired
    );
    assert_eq!(
        open_with(&f, &token, &policy(NOW - 31)).unwrap_err(),
        OpenError::NotYetValid
    );
    let p = OpenPolicy {
        issuer: "https://evil.example",
        ..policy(NOW)
    };
    assert!(matches!(
        open_with(&f, &token, &p),
        Err(OpenError::WrongIssuer(_))
    ));
    let p = OpenPolicy {
        audience: "https://other-rs.example",
        ..policy(NOW)
    };
    assert_eq!(
        open_with(&f, &token, &p).unwrap_err(),
        OpenError::WrongAudience
    );
    let p = OpenPolicy {
        signing: &[SigningAlg::RS256],
        ..policy(NOW)
    };
    assert!(matches!(
        open_with(&f, &token, &p),
        Err(OpenError::Signature(_))
    ));
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let f = fixture(SigningAlg::RS256, EncryptionAlg::RsaOaep256);
    for junk in [
        "",
        "a.b.c",
        "a.b.c.d.e",
        "....",
        "é.é.é.é.é",
        &"x".repeat(10_000),
    ] {
        assert!(open_with(&f, junk, &policy(NOW)).is_err(), "{junk}");
    }
}

// Tampering with the compact serialisation: headers the contract does not implement, segments
// whose length the algorithms fix, encodings that are not canonical.

fn encrypter(f: &Fixture) -> Box<dyn JweEncrypter> {
    let jwk = &f.recipient_jwk;
    match f.alg {
        EncryptionAlg::RsaOaep256 => Box::new(jwe::RSA_OAEP_256.encrypter_from_jwk(jwk).unwrap()),
        EncryptionAlg::EcdhEsA256kw => {
            Box::new(jwe::ECDH_ES_A256KW.encrypter_from_jwk(jwk).unwrap())
        }
        EncryptionAlg::Dir => Box::new(jwe::Dir.encrypter_from_jwk(jwk).unwrap()),
    }
}

/// A genuine token whose JWE header `edit` changes before encryption, so the tag covers it.
fn seal_with_jwe_header(
    f: &Fixture,
    content: ContentEncryption,
    edit: impl FnOnce(&mut JweHeader),
) -> String {
    let jws = f.signer.sign_json(Some("at+jwt"), &claims()).unwrap();
    let mut header = JweHeader::new();
    header.set_content_encryption(content.name());
    header.set_content_type("JWT");
    header.set_key_id(f.recipient.kid());
    edit(&mut header);
    jwe::serialize_compact(jws.as_bytes(), &header, &*encrypter(f)).unwrap()
}

/// `token` with segment `index` (0 header, 1 encrypted key, 2 IV, 3 ciphertext, 4 tag) replaced.
fn with_raw_segment(token: &str, index: usize, segment: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = segment;
    parts.join(".")
}

/// `token` with the decoded bytes of segment `index` changed by `edit`.
fn with_segment(token: &str, index: usize, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(index).unwrap())
        .unwrap();
    edit(&mut bytes);
    with_raw_segment(token, index, &URL_SAFE_NO_PAD.encode(bytes))
}

/// `token` with segment `index` cut or zero-extended to `len` bytes.
fn with_segment_len(token: &str, index: usize, len: usize) -> String {
    with_segment(token, index, |bytes| bytes.resize(len, 0))
}

fn segment_len(token: &str, index: usize) -> usize {
    URL_SAFE_NO_PAD
        .decode(token.split('.').nth(index).unwrap())
        .unwrap()
        .len()
}

/// `token` with its JWE header rewritten (the tag no longer matches, which must not matter).
fn with_jwe_header(
    token: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> String {
    with_segment(token, 0, |bytes| {
        let mut header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).unwrap();
        edit(&mut header);
        *bytes = serde_json::to_vec(&header).unwrap();
    })
}

/// One fixture per supported (`alg`, `enc`) pair, signing with ES256 (quick to generate).
fn every_pair() -> Vec<(Fixture, ContentEncryption)> {
    let mut out = Vec::new();
    for enc in EncryptionAlg::ALL {
        for content in ContentEncryption::ALL {
            out.push((fixture_for(SigningAlg::ES256, enc, content), content));
        }
    }
    out
}

#[test]
fn decrypt_refuses_a_jwe_with_a_crit_header() {
    let f = fixture(SigningAlg::ES256, EncryptionAlg::RsaOaep256);
    // Encrypted with the header, so everything else about these tokens is genuine.
    for crit in [json!(["urn:example:must-understand"]), json!([])] {
        let token = seal_with_jwe_header(&f, ContentEncryption::A256GCM, |h| {
            h.set_claim("crit", Some(crit.clone())).unwrap();
            h.set_claim("urn:example:must-understand", Some(json!(true)))
                .unwrap();
        });
        assert_eq!(
            decrypt(&token, &f.decryption, &policy(NOW)).unwrap_err(),
            OpenError::Critical("JWE"),
            "{crit}"
        );
    }
    // Not even a list of names: refused the same way, before anything else is looked at.
    let token = f.token(ContentEncryption::A256GCM);
    for crit in [
        json!("urn:example:must-understand"),
        json!({}),
        json!(null),
        json!([1]),
        json!(false),
    ] {
        let tampered = with_jwe_header(&token, |h| {
            h.insert("crit".into(), crit.clone());
        });
        assert_eq!(
            open_with(&f, &tampered, &policy(NOW)).unwrap_err(),
            OpenError::Critical("JWE"),
            "{crit}"
        );
    }
}

#[test]
fn verify_refuses_an_inner_jws_with_a_crit_header() {
    let f = fixture(SigningAlg::ES256, EncryptionAlg::RsaOaep256);
    let signer = jws::ES256.signer_from_jwk(&f.signer_jwk).unwrap();
    let payload = serde_json::to_vec(&claims()).unwrap();
    for crit in [json!(["urn:example:must-understand"]), json!([])] {
        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id(f.signer.kid());
        header.set_claim("crit", Some(crit.clone())).unwrap();
        header
            .set_claim("urn:example:must-understand", Some(json!(true)))
            .unwrap();
        let inner = jws::serialize_compact(&payload, &header, &signer).unwrap();
        assert_eq!(
            verify(&inner, &f.signing.verification_keys(), &policy(NOW)).unwrap_err(),
            OpenError::Critical("JWS"),
            "{crit}"
        );
        assert_eq!(
            open_with(&f, &encrypt_raw(&f, &inner), &policy(NOW)).unwrap_err(),
            OpenError::Critical("JWS"),
            "{crit} inside a genuine JWE"
        );
    }
    // A `crit` that is not an array of names does not even parse as a JWS header.
    let inner = f.signer.sign_json(Some("at+jwt"), &claims()).unwrap();
    let tampered = with_segment(&inner, 0, |bytes| {
        let mut header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).unwrap();
        header.insert("crit".into(), json!("urn:example:must-understand"));
        *bytes = serde_json::to_vec(&header).unwrap();
    });
    assert_eq!(
        verify(&tampered, &f.signing.verification_keys(), &policy(NOW)).unwrap_err(),
        OpenError::Signature(VerifyError::Malformed)
    );
}

#[test]
fn decrypt_refuses_an_authentication_tag_that_is_not_128_bits() {
    for (f, content) in every_pair() {
        let token = f.token(content);
        assert_eq!(segment_len(&token, 4), 16);
        // A prefix of the real tag: OpenSSL compares only what it is given.
        for len in [1, 4, 15, 17, 0, 32] {
            assert_eq!(
                open_with(&f, &with_segment_len(&token, 4, len), &any_algorithm(NOW)).unwrap_err(),
                OpenError::BadLength(JweSegment::AuthenticationTag),
                "{:?} {content:?}, a {len}-byte tag",
                f.alg
            );
        }
        assert!(open_with(&f, &token, &any_algorithm(NOW)).is_ok());
    }
}

#[test]
fn decrypt_refuses_an_initialization_vector_that_is_not_96_bits() {
    for (f, content) in every_pair() {
        let token = f.token(content);
        assert_eq!(segment_len(&token, 2), 12);
        for len in [11, 13, 1, 16, 0] {
            assert_eq!(
                open_with(&f, &with_segment_len(&token, 2, len), &any_algorithm(NOW)).unwrap_err(),
                OpenError::BadLength(JweSegment::InitializationVector),
                "{:?} {content:?}, a {len}-byte IV",
                f.alg
            );
        }
    }
}

#[test]
fn decrypt_refuses_an_ecdh_es_a256kw_encrypted_key_of_the_wrong_length_without_panicking() {
    for content in ContentEncryption::ALL {
        let f = fixture(SigningAlg::ES256, EncryptionAlg::EcdhEsA256kw);
        let token = f.token(content);
        // The wrapped content key and the 64-bit integrity check value (RFC 3394 §2.2.1).
        let wrapped = match content {
            ContentEncryption::A256GCM => 40,
            ContentEncryption::A128GCM => 24,
        };
        assert_eq!(segment_len(&token, 1), wrapped);
        for len in [1, wrapped - 1, wrapped + 1, 0, 7, 8, 9, wrapped + 8] {
            assert_eq!(
                open_with(&f, &with_segment_len(&token, 1, len), &any_algorithm(NOW)).unwrap_err(),
                OpenError::BadLength(JweSegment::EncryptedKey),
                "{content:?}, a {len}-byte encrypted key"
            );
        }
    }
}

#[test]
fn decrypt_refuses_a_dir_jwe_with_an_encrypted_key() {
    for content in ContentEncryption::ALL {
        let f = fixture_for(SigningAlg::ES256, EncryptionAlg::Dir, content);
        let token = f.token(content);
        assert_eq!(segment_len(&token, 1), 0);
        for len in [1, 16, 32, 40] {
            assert_eq!(
                open_with(&f, &with_segment_len(&token, 1, len), &any_algorithm(NOW)).unwrap_err(),
                OpenError::BadLength(JweSegment::EncryptedKey),
                "{content:?}, a {len}-byte encrypted key"
            );
        }
    }
}

#[test]
fn decrypt_refuses_an_rsa_oaep_encrypted_key_that_is_not_the_modulus_length() {
    let f = fixture(SigningAlg::ES256, EncryptionAlg::RsaOaep256);
    let token = f.token(ContentEncryption::A256GCM);
    assert_eq!(segment_len(&token, 1), 256);
    for len in [1, 255, 257, 0, 384, 512] {
        assert_eq!(
            open_with(&f, &with_segment_len(&token, 1, len), &policy(NOW)).unwrap_err(),
            OpenError::BadLength(JweSegment::EncryptedKey),
            "a {len}-byte encrypted key"
        );
    }
    // The length comes from the key, not from an assumed 2048-bit modulus.
    let mut big = Jwk::generate_rsa_key(3072).unwrap();
    big.set_algorithm("RSA-OAEP-256");
    let f = fixture_with(SigningAlg::ES256, EncryptionAlg::RsaOaep256, big);
    let token = f.token(ContentEncryption::A256GCM);
    assert_eq!(segment_len(&token, 1), 384);
    assert_eq!(open_with(&f, &token, &policy(NOW)).unwrap(), claims());
    assert_eq!(
        open_with(&f, &with_segment_len(&token, 1, 256), &policy(NOW)).unwrap_err(),
        OpenError::BadLength(JweSegment::EncryptedKey)
    );
}

#[test]
fn an_ecdh_es_jwe_without_a_usable_epk_is_an_error_not_a_panic() {
    let f = fixture(SigningAlg::ES256, EncryptionAlg::EcdhEsA256kw);
    let token = f.token(ContentEncryption::A256GCM);
    let p = any_algorithm(NOW);
    let b64 = |bytes: &[u8]| json!(URL_SAFE_NO_PAD.encode(bytes));
    let point = |x: serde_json::Value, y: serde_json::Value| json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
    let epks = [
        json!("not a key"),
        json!(null),
        json!([]),
        json!({}),
        json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB" }),
        json!({ "kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[1; 48]) }),
        json!({ "kty": "EC", "crv": "P-256" }),
        json!({ "kty": "OKP", "crv": "X25519", "x": b64(&[9; 32]) }),
        point(json!(""), json!("")),
        point(json!("!!!!"), json!("????")),
        point(json!(7), json!(7)),
        point(b64(&[1]), b64(&[1])),
        // Right size, but not a point on P-256 (an invalid-curve attack).
        point(b64(&[1; 32]), b64(&[1; 32])),
        point(b64(&[0; 32]), b64(&[0; 32])),
        point(b64(&[0xff; 32]), b64(&[0xff; 32])),
        point(b64(&[1; 33]), b64(&[1; 31])),
        point(b64(&[1; 5000]), b64(&[1; 5000])),
    ];
    for epk in epks {
        let tampered = with_jwe_header(&token, |h| {
            h.insert("epk".into(), epk.clone());
        });
        let err = open_with(&f, &tampered, &p).unwrap_err();
        assert!(
            matches!(err, OpenError::Decrypt | OpenError::Malformed),
            "{epk}: {err:?}"
        );
    }
    let tampered = with_jwe_header(&token, |h| {
        h.remove("epk");
    });
    assert_eq!(
        open_with(&f, &tampered, &p).unwrap_err(),
        OpenError::Decrypt,
        "no epk"
    );
    assert_eq!(open_with(&f, &token, &p).unwrap(), claims());
}

#[test]
fn decrypt_refuses_non_canonical_base64url_in_any_segment() {
    let f = fixture(SigningAlg::ES256, EncryptionAlg::RsaOaep256);
    let token = f.token(ContentEncryption::A256GCM);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for index in 0..5 {
        let segment = token.split('.').nth(index).unwrap();
        let mut variants = vec![
            format!("{segment}="),
            format!("{segment}=="),
            format!("+{}", &segment[1..]),
            format!("/{}", &segment[1..]),
            format!("~{}", &segment[1..]),
        ];
        // Bits after the last whole byte must be zero (RFC 4648 §3.5).
        if segment.len() % 4 != 0 {
            let last = segment.as_bytes()[segment.len() - 1];
            let value = alphabet.iter().position(|c| *c == last).unwrap();
            let stray = alphabet[value | 1] as char;
            variants.push(format!("{}{stray}", &segment[..segment.len() - 1]));
        }
        for variant in variants {
            assert_eq!(
                open_with(&f, &with_raw_segment(&token, index, &variant), &policy(NOW))
                    .unwrap_err(),
                OpenError::Malformed,
                "segment {index}: {variant}"
            );
        }
    }
}

// A genuine token without a usable phone number, and the replay mark of a complete one.

/// `claims()` as JSON, changed by `edit`, signed and sealed with the fixture's keys.
fn sealed_json(
    f: &Fixture,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> String {
    let mut claims = match serde_json::to_value(claims()).unwrap() {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("claims are an object"),
    };
    edit(&mut claims);
    encrypt_raw(f, &f.signer.sign_json(Some("at+jwt"), &claims).unwrap())
}

#[test]
fn a_complete_token_carries_its_replay_mark() {
    let f = fixture(SigningAlg::ES256, EncryptionAlg::RsaOaep256);
    let token = f.token(ContentEncryption::A256GCM);
    let opened = open(
        &token,
        &f.decryption,
        &f.signing.verification_keys(),
        &policy(NOW + 100),
    )
    .unwrap();
    let Opened::Complete(_, mark) = opened else {
        panic!("a complete token: {opened:?}")
    };
    assert_eq!((mark.issuer(), mark.jti()), (ISS, "jti-1"));
    assert_eq!(
        mark.ttl(),
        std::time::Duration::from_secs(200 + 30),
        "until exp + leeway"
    );
}

#[test]
fn a_genuine_token_without_a_usable_phone_number_is_told_apart() {
    let f = fixture(SigningAlg::ES256, EncryptionAlg::RsaOaep256);
    let keys = f.signing.verification_keys();
    for phone in [
        None,
        Some(json!("12345")),
        Some(json!(12345)),
        Some(json!(null)),
    ] {
        let token = sealed_json(&f, |c| {
            c.remove("iat");
            match &phone {
                Some(p) => c.insert("phone_number".into(), p.clone()),
                None => c.remove("phone_number"),
            };
        });
        match open(&token, &f.decryption, &keys, &policy(NOW)).unwrap() {
            Opened::WithoutPhoneNumber(context) => {
                assert_eq!(
                    (context.client_id.as_str(), context.jti.as_str()),
                    ("demo-app", "jti-1")
                );
                assert_eq!(context.amr, [Amr::Network]);
            }
            other => panic!("{phone:?}: {other:?}"),
        }
    }
    // Every other check still applies to it.
    let expired = sealed_json(&f, |c| {
        c.remove("phone_number");
    });
    assert_eq!(
        open(&expired, &f.decryption, &keys, &policy(NOW + 330)).unwrap_err(),
        OpenError::Expired
    );
    let no_jti = sealed_json(&f, |c| {
        c.remove("phone_number");
        c.insert("jti".into(), json!(""));
    });
    assert!(matches!(
        open(&no_jti, &f.decryption, &keys, &policy(NOW)),
        Err(OpenError::Claims(_))
    ));
    // A fine phone number and something else wrong: invalid, not "without phone number".
    let not_an_access_token = sealed_json(&f, |c| {
        c.remove("scope");
        c.insert("iat".into(), json!("soon"));
    });
    assert!(matches!(
        open(&not_an_access_token, &f.decryption, &keys, &policy(NOW)),
        Err(OpenError::Claims(_))
    ));
}
