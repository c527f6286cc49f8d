//! The access-token claims: RFC 9068 (JWT profile for OAuth 2.0 access tokens) plus what Number
//! Verification needs (`phone_number`, `amr`, `auth_time`).

use serde::{Deserialize, Serialize};

use crate::PhoneNumber;

/// Authentication-method references (`amr`) this product issues. RFC 8176 has no value for
/// "identified by the mobile network", so these are product-defined and documented in docs/api.md.
pub struct Amr;

impl Amr {
    /// The subscriber was identified from the network: source IP (+ port) of the request.
    pub const NETWORK: &'static str = "network";
    /// The subscriber was identified by a SIM-based token (GSMA TS.43 `operatortoken`).
    pub const SIM: &'static str = "sim";
    /// Playground mode: the `login_hint` number was taken as the identity (test numbers only).
    pub const PLAYGROUND: &'static str = "playground";
    /// The relying party asserted the number (a JWT-bearer `sub = tel:…` from a client the
    /// operator registered as trusted to): neither the network nor the SIM proved it.
    pub const ASSERTED: &'static str = "rp_asserted";
}

/// `aud` may be one string or an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(all) => all.iter().any(|a| a == wanted),
        }
    }
}

/// Store key of the single-use mark of the access token `jti`, in the store the resource server
/// uses: set by the resource server when a token is used, and by the authorization server when it
/// revokes one (a replayed authorization code, RFC 6749 §4.1.2), so a marked token answers no
/// further call. Shared by both servers, like the claims.
pub fn spent_token_key(jti: &str) -> String {
    format!("at-used:{jti}")
}

/// Claims of the signed access token nested inside the JWE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The pairwise subject (never the MSISDN).
    pub sub: String,
    pub aud: Audience,
    pub client_id: String,
    /// Space-separated scopes granted (RFC 9068 §2.2.3).
    pub scope: String,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub jti: String,
    pub amr: Vec<String>,
    pub auth_time: i64,
    pub phone_number: PhoneNumber,
}

impl AccessTokenClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scopes().any(|s| s == wanted)
    }

    pub fn has_amr(&self, accepted: &[&str]) -> bool {
        self.amr.iter().any(|a| accepted.contains(&a.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_accepts_a_string_or_an_array() {
        let one: Audience = serde_json::from_str("\"rs\"").unwrap();
        let many: Audience = serde_json::from_str("[\"a\",\"rs\"]").unwrap();
        assert!(one.contains("rs") && many.contains("rs") && !many.contains("x"));
    }

    #[test]
    fn scopes_are_matched_whole() {
        let c = AccessTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: Audience::One("a".into()),
            client_id: "c".into(),
            scope: "openid  number-verification:verify".into(),
            iat: 0,
            nbf: None,
            exp: 1,
            jti: "j".into(),
            amr: vec![Amr::NETWORK.into()],
            auth_time: 0,
            phone_number: "+99012345678".parse().unwrap(),
        };
        assert!(c.has_scope("number-verification:verify"));
        assert!(!c.has_scope("number-verification"));
        assert!(c.has_amr(&[Amr::NETWORK]) && !c.has_amr(&[Amr::SIM]));
    }
}
