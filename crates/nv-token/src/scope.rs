//! The Number Verification scopes of every API version served, named once: the authorization
//! server grants them, the resource server requires them, so the two cannot drift apart.

use std::str::FromStr;

/// A Number Verification API scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiScope {
    /// CAMARA 1.0.0 / 2.x `POST /verify`; also the seed-004 (Telefónica) `POST /verify`.
    Verify,
    /// CAMARA 1.0.0 / 2.x `GET /device-phone-number`.
    DevicePhoneNumberRead,
    /// CAMARA 0.3.x `POST /verify`.
    V0VerifyRead,
    /// CAMARA 0.3.x `GET /device-phone-number`.
    V0ShareRead,
    /// The seed-004 (Telefónica) profile's `POST /share`.
    Seed004Read,
}

/// Not a Number Verification scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a Number Verification scope")]
pub struct UnknownScope(pub String);

impl ApiScope {
    pub const ALL: [ApiScope; 5] = [
        ApiScope::Verify,
        ApiScope::DevicePhoneNumberRead,
        ApiScope::V0VerifyRead,
        ApiScope::V0ShareRead,
        ApiScope::Seed004Read,
    ];

    /// The scope value, as in `scope` parameters and tokens.
    pub const fn name(self) -> &'static str {
        match self {
            ApiScope::Verify => "number-verification:verify",
            ApiScope::DevicePhoneNumberRead => "number-verification:device-phone-number:read",
            ApiScope::V0VerifyRead => "number-verification-verify-read",
            ApiScope::V0ShareRead => "number-verification-share-read",
            ApiScope::Seed004Read => "number-verification:read",
        }
    }
}

impl FromStr for ApiScope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, UnknownScope> {
        ApiScope::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

impl std::fmt::Display for ApiScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_parses_from_its_name_and_nothing_else_does() {
        for scope in ApiScope::ALL {
            assert_eq!(scope.name().parse::<ApiScope>(), Ok(scope));
        }
        for other in [
            "openid",
            "number-verification",
            "number-verification:verify ",
            "",
        ] {
            assert!(other.parse::<ApiScope>().is_err(), "{other:?}");
        }
    }
}
