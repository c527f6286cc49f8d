//! The grant types of `/token`, by their registered names (RFC 7591 §2 `grant_types`; the IANA
//! "OAuth Extensions Error" and "OAuth URI" registries for the URNs). A client may use only the
//! grant types registered for it (`grant_types`, default `authorization_code`), so a client
//! registered for the redirect flow cannot start presenting assertions or polling CIBA requests.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 7523 §2.1: a JWT assertion as the authorization grant.
    JwtBearer,
    /// OpenID Connect CIBA Core 1.0 §10.1 (poll mode).
    Ciba,
    /// RFC 6749 §4.4: 2-legged, no subscriber.
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::JwtBearer,
        GrantType::Ciba,
        GrantType::ClientCredentials,
    ];

    /// The `grant_type` value on the wire.
    pub fn name(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::Ciba => "urn:openid:params:grant-type:ciba",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `grant_type` this server does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown grant type (supported: authorization_code, urn:ietf:params:oauth:grant-type:jwt-bearer, urn:openid:params:grant-type:ciba, client_credentials)")]
pub struct UnknownGrantType;

impl FromStr for GrantType {
    type Err = UnknownGrantType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == s)
            .ok_or(UnknownGrantType)
    }
}

impl TryFrom<String> for GrantType {
    type Error = UnknownGrantType;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_type_parses_from_its_registered_name_and_nothing_else() {
        for g in GrantType::ALL {
            assert_eq!(g.name().parse::<GrantType>(), Ok(g));
        }
        for bad in [
            "",
            "jwt-bearer",
            "urn:openid:params:grant-type:CIBA",
            "password",
            "implicit",
        ] {
            assert_eq!(bad.parse::<GrantType>(), Err(UnknownGrantType), "{bad}");
        }
    }
}
