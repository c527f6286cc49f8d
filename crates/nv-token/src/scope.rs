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

/// What a Number Verification scope lets its holder do, whatever the API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    /// Ask whether a number is the device's (`POST …/verify`).
    Verify,
    /// Be told the device's number (`GET …/device-phone-number`).
    Share,
    /// The seed-004 profile's `POST /share`: the same answer, but a profile of its own whose
    /// clients are registered for its own scope, so it is not mixed with the CAMARA names.
    Seed004Share,
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

    /// The right this scope grants. The scope names of the API versions differ (0.3.1
    /// `number-verification-verify-read`, 1.0+ `number-verification:verify`, …) but grant the
    /// same two rights; operator SDKs ask for one version's name and call another version's
    /// path, so each operation accepts every scope of its right: this is the one equivalence
    /// table.
    pub const fn right(self) -> Right {
        match self {
            ApiScope::Verify | ApiScope::V0VerifyRead => Right::Verify,
            ApiScope::DevicePhoneNumberRead | ApiScope::V0ShareRead => Right::Share,
            ApiScope::Seed004Read => Right::Seed004Share,
        }
    }

    /// Whether a token with this scope may call an operation that requires `required`.
    pub const fn grants(self, required: ApiScope) -> bool {
        matches!(
            (self.right(), required.right()),
            (Right::Verify, Right::Verify)
                | (Right::Share, Right::Share)
                | (Right::Seed004Share, Right::Seed004Share)
        )
    }

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

    #[test]
    fn scopes_of_every_version_grant_their_right_and_only_it() {
        use ApiScope::*;
        for (a, b) in [(Verify, V0VerifyRead), (V0VerifyRead, Verify)] {
            assert!(a.grants(b), "{a} {b}");
        }
        for a in [DevicePhoneNumberRead, V0ShareRead] {
            for b in [DevicePhoneNumberRead, V0ShareRead] {
                assert!(a.grants(b), "{a} {b}");
            }
            for b in [Verify, V0VerifyRead, Seed004Read] {
                assert!(!a.grants(b) && !b.grants(a), "{a} {b}");
            }
        }
        assert!(Seed004Read.grants(Seed004Read) && !Seed004Read.grants(Verify));
    }
}
