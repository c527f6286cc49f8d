//! Scopes and the CAMARA purpose (`dpv:<Purpose>`). The Number Verification scopes of every API
//! version are [`nv_token::ApiScope`], shared with the resource server that requires them.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use nv_token::ApiScope;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const OPENID: &str = "openid";

/// Scopes that are understood but grant nothing here: `offline_access` (no refresh tokens for
/// Number Verification, ICM "Offline Access") is dropped from the grant rather than refused.
const IGNORED: &[&str] = &["offline_access"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope is required")]
    Missing,
    #[error("unknown scope `{0}`")]
    Unknown(String),
    #[error("exactly one purpose (dpv:<Purpose>) is required with Number Verification scopes")]
    PurposeMissing,
    #[error("only one purpose (dpv:<Purpose>) may be given")]
    PurposeDoubled,
    #[error("the purpose `{0}` is malformed")]
    PurposeMalformed(String),
    #[error("the client is not registered for `{0}`")]
    NotAllowed(String),
}

/// The purpose a client declares (ICM "Purpose as a scope"): `dpv:<dpvValue>`, a W3C DPV purpose
/// name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Purpose(String);

impl Purpose {
    /// The scope value, `dpv:` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Purpose {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, ScopeError> {
        match s.strip_prefix("dpv:") {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Ok(Self(s.to_owned()))
            }
            _ => Err(ScopeError::PurposeMalformed(s.to_owned())),
        }
    }
}

/// In configuration (`compat.default_purpose`), checked as a scope value is.
impl<'de> Deserialize<'de> for Purpose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed, checked scope request: `openid`, at most one purpose, API scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    pub openid: bool,
    pub purpose: Option<Purpose>,
    pub api: BTreeSet<String>,
}

impl ScopeSet {
    /// Parse a space-separated `scope` parameter (RFC 6749 §3.3).
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        Self::parse_with(raw, None, None)
    }

    /// [`Self::parse`], with what a client's compatibility profile adds: `also`, a purpose and
    /// an API scope named outside `scope` (Glide's `purpose` parameter), and `default`, the
    /// purpose declared when API scopes come without one (the Nokia SDK asks for
    /// `number-verification:device-phone-number:read` alone).
    pub fn parse_with(
        raw: &str,
        also: Option<(Purpose, ApiScope)>,
        default: Option<&Purpose>,
    ) -> Result<Self, ScopeError> {
        let mut set = ScopeSet::default();
        let mut any = false;
        for s in raw.split(' ').filter(|s| !s.is_empty()) {
            any = true;
            if s == OPENID {
                set.openid = true;
            } else if s.starts_with("dpv:") {
                // CAMARA 0.3.x's combined form `dpv:<Purpose>#<scope>` (the operator SDKs'
                // form): a purpose and an API scope in one value, parsed into both.
                let (purpose, api) = match s.split_once('#') {
                    Some((purpose, api)) => (purpose, Some(api)),
                    None => (s, None),
                };
                set.declare(purpose.parse()?)?;
                if let Some(api) = api {
                    if api.parse::<ApiScope>().is_err() {
                        return Err(ScopeError::Unknown(s.to_owned()));
                    }
                    set.api.insert(api.to_owned());
                }
            } else if s.parse::<ApiScope>().is_ok() {
                set.api.insert(s.to_owned());
            } else if IGNORED.contains(&s) {
                continue;
            } else {
                return Err(ScopeError::Unknown(s.to_owned()));
            }
        }
        if let Some((purpose, api)) = also {
            any = true;
            set.declare(purpose)?;
            set.api.insert(api.name().to_owned());
        }
        if !any {
            return Err(ScopeError::Missing);
        }
        if !set.api.is_empty() && set.purpose.is_none() {
            set.purpose = Some(default.ok_or(ScopeError::PurposeMissing)?.clone());
        }
        Ok(set)
    }

    /// Take `purpose` as the request's one purpose (the same one twice is one).
    fn declare(&mut self, purpose: Purpose) -> Result<(), ScopeError> {
        if self.purpose.as_ref().is_some_and(|old| *old != purpose) {
            return Err(ScopeError::PurposeDoubled);
        }
        self.purpose = Some(purpose);
        Ok(())
    }

    /// Refuse anything the client is not registered for.
    pub fn check_allowed(&self, scopes: &[String], purposes: &[String]) -> Result<(), ScopeError> {
        if let Some(s) = self.api.iter().find(|s| !scopes.contains(s)) {
            return Err(ScopeError::NotAllowed(s.clone()));
        }
        if let Some(p) = self
            .purpose
            .as_ref()
            .filter(|p| !purposes.iter().any(|allowed| allowed == p.as_str()))
        {
            return Err(ScopeError::NotAllowed(p.to_string()));
        }
        Ok(())
    }

    /// The granted scope string, in a stable order.
    pub fn to_scope_string(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        if self.openid {
            out.push(OPENID);
        }
        if let Some(p) = &self.purpose {
            out.push(p.as_str());
        }
        out.extend(self.api.iter().map(String::as_str));
        out.join(" ")
    }
}

/// Stored records keep a grant's scope as its scope string (what the token carries).
impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_scope_string())
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // A request of ignored scopes only (`offline_access`) grants the empty string.
        if s.is_empty() {
            return Ok(ScopeSet::default());
        }
        ScopeSet::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn number_verification_needs_exactly_one_purpose() {
        assert_eq!(
            ScopeSet::parse("openid number-verification:verify"),
            Err(ScopeError::PurposeMissing)
        );
        assert_eq!(
            ScopeSet::parse(
                "openid dpv:FraudPreventionAndDetection dpv:Marketing number-verification:verify"
            ),
            Err(ScopeError::PurposeDoubled)
        );
        let s =
            ScopeSet::parse("openid dpv:FraudPreventionAndDetection number-verification:verify")
                .unwrap();
        assert_eq!(
            s.to_scope_string(),
            "openid dpv:FraudPreventionAndDetection number-verification:verify"
        );
    }

    #[test]
    fn the_0_3_combined_form_is_a_purpose_and_a_scope() {
        let s = ScopeSet::parse("dpv:FraudPreventionAndDetection#number-verification-verify-read")
            .unwrap();
        assert_eq!(
            s.to_scope_string(),
            "dpv:FraudPreventionAndDetection number-verification-verify-read"
        );
        let s = ScopeSet::parse(
            "openid dpv:FraudPreventionAndDetection#number-verification-verify-read \
             dpv:FraudPreventionAndDetection#number-verification-share-read",
        )
        .unwrap();
        assert_eq!(s.api.len(), 2);
        assert_eq!(
            ScopeSet::parse(
                "dpv:Marketing#number-verification:verify dpv:FraudPreventionAndDetection"
            ),
            Err(ScopeError::PurposeDoubled)
        );
        assert_eq!(
            ScopeSet::parse("dpv:FraudPreventionAndDetection#admin"),
            Err(ScopeError::Unknown(
                "dpv:FraudPreventionAndDetection#admin".into()
            ))
        );
        assert!(matches!(
            ScopeSet::parse("dpv:#number-verification:verify"),
            Err(ScopeError::PurposeMalformed(_))
        ));
    }

    #[test]
    fn a_default_purpose_fills_in_only_a_missing_one() {
        let default: Purpose = "dpv:FraudPreventionAndDetection".parse().unwrap();
        let s = ScopeSet::parse_with("number-verification:verify", None, Some(&default)).unwrap();
        assert_eq!(s.purpose, Some(default.clone()));
        let s = ScopeSet::parse_with(
            "dpv:Marketing number-verification:verify",
            None,
            Some(&default),
        )
        .unwrap();
        assert_eq!(s.purpose.unwrap().as_str(), "dpv:Marketing");
        assert_eq!(
            ScopeSet::parse_with("number-verification:verify", None, None),
            Err(ScopeError::PurposeMissing)
        );
        assert_eq!(
            ScopeSet::parse_with("", None, Some(&default)),
            Err(ScopeError::Missing)
        );
    }

    #[test]
    fn unknown_and_malformed_scopes_are_refused() {
        assert_eq!(
            ScopeSet::parse("openid admin"),
            Err(ScopeError::Unknown("admin".into()))
        );
        assert!(matches!(
            ScopeSet::parse("openid dpv:"),
            Err(ScopeError::PurposeMalformed(_))
        ));
        assert_eq!(ScopeSet::parse("  "), Err(ScopeError::Missing));
    }

    #[test]
    fn openid_alone_needs_no_purpose_and_offline_access_grants_nothing() {
        let s = ScopeSet::parse("openid offline_access").unwrap();
        assert_eq!(s.to_scope_string(), "openid");
    }

    #[test]
    fn registration_limits_scopes_and_purposes() {
        let s =
            ScopeSet::parse("openid dpv:FraudPreventionAndDetection number-verification:verify")
                .unwrap();
        let ok_scopes = vec!["number-verification:verify".to_string()];
        let ok_purposes = vec!["dpv:FraudPreventionAndDetection".to_string()];
        assert!(s.check_allowed(&ok_scopes, &ok_purposes).is_ok());
        assert!(s.check_allowed(&[], &ok_purposes).is_err());
        assert!(s
            .check_allowed(&ok_scopes, &["dpv:Marketing".to_string()])
            .is_err());
    }

    #[test]
    fn purposes_are_dpv_names() {
        let p: Purpose = "dpv:FraudPreventionAndDetection".parse().unwrap();
        assert_eq!(p.as_str(), "dpv:FraudPreventionAndDetection");
        for bad in [
            "dpv:",
            "dpv:a-b",
            "dpv:a b",
            "FraudPreventionAndDetection",
            "DPV:x",
        ] {
            assert_eq!(
                bad.parse::<Purpose>(),
                Err(ScopeError::PurposeMalformed(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_stored_scope_set_is_its_scope_string() {
        let s =
            ScopeSet::parse("number-verification:verify openid dpv:FraudPreventionAndDetection")
                .unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#""openid dpv:FraudPreventionAndDetection number-verification:verify""#
        );
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), s);
        let nothing = ScopeSet::parse("offline_access").unwrap();
        let json = serde_json::to_string(&nothing).unwrap();
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), nothing);
        assert!(serde_json::from_str::<ScopeSet>(r#""openid admin""#).is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(raw in "[ a-z:0-9A-Z_#-]{0,80}") {
            if let Ok(s) = ScopeSet::parse(&raw) {
                prop_assert_eq!(ScopeSet::parse(&s.to_scope_string()).unwrap(), s.clone());
                let json = serde_json::to_string(&s).unwrap();
                prop_assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), s);
            }
        }
    }
}
