//! PKCE (RFC 7636) with `S256` only: `plain` offers no protection against a code intercepted on
//! the device (RFC 9700 §2.1.1), so it is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// RFC 7636 §4.1: 43..=128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeChallenge(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge_method must be S256 (plain is not supported)")]
    UnsupportedMethod,
    #[error("code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")]
    MalformedChallenge,
    #[error("code_challenge_method was given without code_challenge")]
    MethodWithoutChallenge,
    #[error("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")]
    MalformedVerifier,
}

impl CodeChallenge {
    /// From the `/authorize` parameters. `Ok(None)` when PKCE is not used.
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Self>, PkceError> {
        match (challenge, method) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(PkceError::MethodWithoutChallenge),
            // RFC 7636 §4.3: a missing method means `plain`, which is not supported.
            (Some(_), None) | (Some(_), Some("plain")) => Err(PkceError::UnsupportedMethod),
            (Some(c), Some("S256")) if is_pkce_string(c) => Ok(Some(Self(c.to_owned()))),
            (Some(_), Some("S256")) => Err(PkceError::MalformedChallenge),
            (Some(_), Some(_)) => Err(PkceError::UnsupportedMethod),
        }
    }

    /// Whether `verifier` hashes to this challenge (constant-time comparison).
    pub fn is_met_by(&self, verifier: &CodeVerifier) -> bool {
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.0.as_bytes()));
        computed.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

pub struct CodeVerifier(String);

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier(***)")
    }
}

impl CodeVerifier {
    pub fn parse(s: &str) -> Result<Self, PkceError> {
        if is_pkce_string(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(PkceError::MalformedVerifier)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_challenge_is_met_by_its_verifier_only() {
        // Pair computed independently: base64url(sha256(verifier)) with Python's hashlib.
        let c = CodeChallenge::from_request(
            Some("nw4Cig7sk_DT0QSX9Qn-3UKs33fmbbp8bRuv1b5-wXw"),
            Some("S256"),
        )
        .unwrap()
        .unwrap();
        assert!(c.is_met_by(
            &CodeVerifier::parse("test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz").unwrap()
        ));
        assert!(!c.is_met_by(
            &CodeVerifier::parse("test-verifier-0123456789-abcdefghijklmnopqrstuvwxyZ").unwrap()
        ));
    }

    #[test]
    fn plain_and_malformed_are_refused() {
        assert_eq!(
            CodeChallenge::from_request(Some(&"a".repeat(43)), Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::from_request(Some(&"a".repeat(43)), None),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::from_request(Some("short"), Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        assert_eq!(
            CodeChallenge::from_request(None, Some("S256")),
            Err(PkceError::MethodWithoutChallenge)
        );
        assert!(CodeVerifier::parse("short").is_err());
        assert!(CodeVerifier::parse(&"a b".repeat(20)).is_err());
    }
}
