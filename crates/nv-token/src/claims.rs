//! The access-token claims: RFC 9068 (JWT profile for OAuth 2.0 access tokens) plus what Number
//! Verification needs (`phone_number`, `amr`, `auth_time`).

use serde::{Deserialize, Serialize};

use crate::jwt::Registered;
use crate::{ApiScope, PhoneNumber};

/// An authentication-method reference (`amr`, RFC 8176 §1; OIDC Core §2): how the subscriber was
/// identified. RFC 8176 has no value for "identified by the mobile network", so the four this
/// product issues are product-defined and documented in docs/api.md. The authorization server
/// issues them; the resource server accepts the configured ones. Any other value a token or a
/// setting names is kept as it is ([`Amr::Other`]), so it is refused by comparison, never by a
/// parse error.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Amr {
    /// The subscriber was identified from the network: source IP (+ port) of the request.
    Network,
    /// The subscriber was identified by a SIM-based token (GSMA TS.43 `operatortoken`).
    Sim,
    /// Playground mode: the `login_hint` number was taken as the identity (test numbers only).
    Playground,
    /// The relying party asserted the number: a JWT-bearer `sub = tel:…` from a client trusted
    /// to assert numbers. Neither the network nor the SIM proved it.
    Asserted,
    /// A value this product does not issue.
    Other(String),
}

impl Amr {
    /// The names of the values this product issues, for code that keeps `amr` as strings.
    pub const NETWORK: &'static str = "network";
    pub const SIM: &'static str = "sim";
    pub const PLAYGROUND: &'static str = "playground";
    /// The relying party asserted the number (a JWT-bearer `sub = tel:…` from a client the
    /// operator registered as trusted to): neither the network nor the SIM proved it.
    pub const ASSERTED: &'static str = "rp_asserted";

    pub fn as_str(&self) -> &str {
        match self {
            Amr::Network => Amr::NETWORK,
            Amr::Sim => Amr::SIM,
            Amr::Playground => Amr::PLAYGROUND,
            Amr::Asserted => Amr::ASSERTED,
            Amr::Other(other) => other,
        }
    }
}

impl From<&str> for Amr {
    fn from(s: &str) -> Self {
        match s {
            Amr::NETWORK => Amr::Network,
            Amr::SIM => Amr::Sim,
            Amr::PLAYGROUND => Amr::Playground,
            Amr::ASSERTED => Amr::Asserted,
            other => Amr::Other(other.to_owned()),
        }
    }
}

/// As the string it is in a token, so logs read the same whatever the value.
impl std::fmt::Debug for Amr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Amr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Amr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Amr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Amr::from(&*s))
    }
}

impl PartialEq<str> for Amr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Amr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Amr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
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
    pub amr: Vec<Amr>,
    pub auth_time: i64,
    pub phone_number: PhoneNumber,
}

/// Claims of a 2-legged access token (client credentials, RFC 6749 §4.4): the client acts for
/// itself, so no subscriber is named — `sub` is the client_id (RFC 9068 §2.2) and there is no
/// `phone_number`, `amr` or `auth_time`. The resource server opens one as
/// [`crate::Opened::WithoutPhoneNumber`], which answers nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAccessTokenClaims {
    pub iss: String,
    /// The client_id.
    pub sub: String,
    pub aud: Audience,
    pub client_id: String,
    /// Space-separated scopes granted (RFC 9068 §2.2.3).
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl AccessTokenClaims {
    pub fn has_scope(&self, wanted: ApiScope) -> bool {
        has_scope(&self.scope, wanted)
    }

    /// Whether one of the scopes grants what `required` grants, in whichever API version's
    /// name ([`ApiScope::grants`]).
    pub fn grants(&self, required: ApiScope) -> bool {
        grants(&self.scope, required)
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    pub fn has_amr(&self, accepted: &[Amr]) -> bool {
        has_amr(&self.amr, accepted)
    }

    /// The registered claims, for [`crate::jwt::check`].
    pub fn registered(&self) -> Registered<'_> {
        Registered {
            iss: Some(&self.iss),
            aud: Some(&self.aud),
            exp: Some(self.exp),
            nbf: self.nbf,
            iat: Some(self.iat),
            jti: Some(&self.jti),
        }
    }
}

/// Whether the space-separated `scope` (RFC 9068 §2.2.3) grants `wanted`; values match whole.
pub(crate) fn has_scope(scope: &str, wanted: ApiScope) -> bool {
    scope_contains(scope, wanted.name())
}

pub(crate) fn grants(scope: &str, required: ApiScope) -> bool {
    scope
        .split(' ')
        .filter_map(|s| s.parse::<ApiScope>().ok())
        .any(|s| s.grants(required))
}

fn scope_contains(scope: &str, wanted: &str) -> bool {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .any(|s| s == wanted)
}

pub(crate) fn has_amr(amr: &[Amr], accepted: &[Amr]) -> bool {
    amr.iter().any(|a| accepted.contains(a))
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
            amr: vec![Amr::Network],
            auth_time: 0,
            phone_number: "+99012345678".parse().unwrap(),
        };
        assert!(scope_contains(&c.scope, "number-verification:verify"));
        assert!(!scope_contains(&c.scope, "number-verification"));
        assert!(c.has_scope(ApiScope::Verify) && !c.has_scope(ApiScope::DevicePhoneNumberRead));
        assert!(c.has_amr(&[Amr::Network]) && !c.has_amr(&[Amr::Sim]));
    }

    #[test]
    fn amr_values_are_their_strings_and_unknown_ones_are_kept() {
        for (amr, name) in [
            (Amr::Network, "network"),
            (Amr::Sim, "sim"),
            (Amr::Playground, "playground"),
            (Amr::Other("pwd".into()), "pwd"),
        ] {
            assert_eq!(serde_json::to_string(&amr).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<Amr>(&format!("\"{name}\"")).unwrap(),
                amr
            );
            assert_eq!(amr, name);
        }
        assert!(serde_json::from_str::<Amr>("1").is_err());
    }
}
