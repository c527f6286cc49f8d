//! JWK identity: RFC 7638 thumbprints (the `kid` of every key that names none) and the public
//! half of a private JWK.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{crypto, KeyError};

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members in lexicographic order.
pub fn thumbprint(jwk: &Jwk) -> Result<String, KeyError> {
    let member = |name: &str| -> Result<Value, KeyError> {
        jwk.parameter(name)
            .cloned()
            .ok_or_else(|| KeyError::Invalid(format!("JWK lacks `{name}`")))
    };
    let canonical = match jwk.key_type() {
        "RSA" => json!({"e": member("e")?, "kty": "RSA", "n": member("n")?}),
        "EC" => json!({"crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")?}),
        "oct" => json!({"k": member("k")?, "kty": "oct"}),
        other => return Err(KeyError::Invalid(format!("unsupported key type `{other}`"))),
    };
    // serde_json's Map is a BTreeMap here (no preserve_order), so keys serialize sorted.
    let bytes = serde_json::to_vec(&canonical).map_err(|e| KeyError::Invalid(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

/// The JWK's own `kid`, or its thumbprint when it has none.
pub(crate) fn kid_of(jwk: &Jwk) -> Result<String, KeyError> {
    match jwk.key_id() {
        Some(k) if !k.is_empty() => Ok(k.to_owned()),
        _ => thumbprint(jwk),
    }
}

/// The public half of a private JWK, keeping its `kid` (the thumbprint when it has none), `alg`
/// and `use` — josekit's `to_public_key` drops them, and a key without its `kid` matches nothing.
pub fn public_jwk(jwk: &Jwk) -> Result<Jwk, KeyError> {
    let kid = kid_of(jwk)?;
    let mut public = public_of(jwk, &kid)?;
    if let Some(alg) = jwk.algorithm() {
        public.set_algorithm(alg);
    }
    if let Some(u) = jwk.key_use() {
        public.set_key_use(u);
    }
    Ok(public)
}

/// The public key of `jwk`, named `kid` (and nothing else).
pub(crate) fn public_of(jwk: &Jwk, kid: &str) -> Result<Jwk, KeyError> {
    let mut public = jwk.to_public_key().map_err(crypto)?;
    public.set_key_id(kid);
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // The example key of RFC 7638 §3.1 and its published thumbprint.
        let jwk = Jwk::from_bytes(br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
