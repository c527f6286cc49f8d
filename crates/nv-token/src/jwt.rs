//! The one check of a JWT's registered claims (RFC 7519 §4.1), under a [`ClaimPolicy`] per use:
//! the access token at the resource server, and at the authorization server what clients sign
//! (client assertions, RFC 7523 §3; request objects, RFC 9101) and, next, JWT-bearer grants
//! (RFC 7523 §2.1). Signatures are not checked here; the caller verifies first.
//!
//! Time claims are bounded against the time of receipt one by one, with checked arithmetic:
//! `exp - iat` in plain `i64` wraps for `iat = -2^62, exp = 2^63 - 1000` and let a year-long JWT
//! through, with a replay-cache entry that never expired (CWE-190).
//!
//! An accepted JWT with a `jti` yields a [`ReplayMark`]: what the caller records in its store,
//! set-if-absent, so that the JWT is accepted once on every replica (RFC 7519 §4.1.7,
//! RFC 7523 §3 item 7).

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::Audience;

/// The registered claims of a JWT, as the caller parsed them (absent = `None`). An empty `jti`
/// counts as absent: it cannot tell one JWT from another.
#[derive(Debug, Clone, Copy, Default)]
pub struct Registered<'a> {
    pub iss: Option<&'a str>,
    pub aud: Option<&'a Audience>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<&'a str>,
}

/// The registered claims as a JWT's payload carries them, for a caller's claims type to take in
/// with `#[serde(flatten)]`; [`RegisteredClaims::borrowed`] is what [`check`] reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct RegisteredClaims {
    pub iss: Option<String>,
    pub aud: Option<Audience>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
}

impl RegisteredClaims {
    pub fn borrowed(&self) -> Registered<'_> {
        Registered {
            iss: self.iss.as_deref(),
            aud: self.aud.as_ref(),
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            jti: self.jti.as_deref(),
        }
    }
}

/// Which `aud` values are accepted.
#[derive(Debug, Clone, Copy)]
pub enum AudienceRule<'a> {
    /// `aud`, a string or an array (RFC 7519 §4.1.3), contains one of these.
    Contains(&'a [&'a str]),
    /// `aud` is exactly one value (a string, or an array of one), and one of these. An array
    /// that merely contains it would accept a JWT made for several servers, which any of them
    /// could replay here (the 2025 OpenID Foundation disclosure on `private_key_jwt` audiences).
    Only(&'a [&'a str]),
}

impl AudienceRule<'_> {
    fn accepts(&self, aud: &Audience) -> bool {
        match (self, aud) {
            (AudienceRule::Contains(wanted), aud) => wanted.iter().any(|w| aud.contains(w)),
            (AudienceRule::Only(wanted), Audience::One(a)) => wanted.contains(&a.as_str()),
            (AudienceRule::Only(wanted), Audience::Many(all)) => {
                matches!(all.as_slice(), [a] if wanted.contains(&a.as_str()))
            }
        }
    }
}

/// What the registered claims of one kind of JWT must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct ClaimPolicy<'a> {
    /// `iss` must be exactly this; `None`: any or none (the caller knows whom it trusts).
    pub issuer: Option<&'a str>,
    pub audience: AudienceRule<'a>,
    /// `exp` at most this many seconds after receipt, and `exp - iat` at most this; `None`:
    /// unbounded (a token whose lifetime its issuer decides).
    pub max_lifetime: Option<i64>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
    pub require_jti: bool,
    pub require_iat: bool,
    pub require_nbf: bool,
    /// The time of receipt, in seconds since the epoch.
    pub now: i64,
}

/// A registered claim a policy may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Iat,
    Exp,
    Nbf,
    Jti,
}

impl Claim {
    pub fn name(self) -> &'static str {
        match self {
            Claim::Iat => "iat",
            Claim::Exp => "exp",
            Claim::Nbf => "nbf",
            Claim::Jti => "jti",
        }
    }
}

/// Why the time claims are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    Expired,
    /// `exp` more than the policy's maximum lifetime after receipt.
    ExpiresTooLate,
    IssuedInTheFuture,
    /// `exp - iat` above the policy's maximum lifetime (or not representable).
    LifetimeTooLong,
    NotYetValid,
}

/// Why the claims are refused, in the order they are checked: issuer, audience, presence of the
/// required claims, times, `jti`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("issuer {0:?} is not the expected one")]
    WrongIssuer(Option<String>),
    #[error("the JWT is for another audience")]
    WrongAudience,
    #[error("the JWT has no {}", .0.name())]
    Missing(Claim),
    #[error("time claims refused: {0:?}")]
    Time(TimeError),
}

/// Check `claims` against `policy`. `Ok(Some(mark))` when the JWT has a `jti` (always, when the
/// policy requires one): the caller records the mark before it acts on the JWT.
pub fn check(
    claims: &Registered<'_>,
    policy: &ClaimPolicy<'_>,
) -> Result<Option<ReplayMark>, ClaimError> {
    if let Some(issuer) = policy.issuer {
        if claims.iss != Some(issuer) {
            return Err(ClaimError::WrongIssuer(claims.iss.map(str::to_owned)));
        }
    }
    if !claims.aud.is_some_and(|aud| policy.audience.accepts(aud)) {
        return Err(ClaimError::WrongAudience);
    }
    let jti = claims.jti.filter(|j| !j.is_empty());
    if policy.require_iat && claims.iat.is_none() {
        return Err(ClaimError::Missing(Claim::Iat));
    }
    let exp = claims.exp.ok_or(ClaimError::Missing(Claim::Exp))?;
    if policy.require_nbf && claims.nbf.is_none() {
        return Err(ClaimError::Missing(Claim::Nbf));
    }
    check_times(
        exp,
        claims.iat,
        claims.nbf,
        policy.now,
        policy.leeway,
        policy.max_lifetime,
    )
    .map_err(ClaimError::Time)?;
    match jti {
        Some(jti) => Ok(Some(ReplayMark::for_jwt(
            claims.iss.unwrap_or_default(),
            jti,
            exp,
            policy,
        ))),
        None if policy.require_jti => Err(ClaimError::Missing(Claim::Jti)),
        None => Ok(None),
    }
}

/// `exp` (required), `iat` and `nbf` (optional) against `now`, each allowed `leeway` of clock
/// skew; with a `max_lifetime`, `exp` at most that long after `now` and after `iat`.
pub fn check_times(
    exp: i64,
    iat: Option<i64>,
    nbf: Option<i64>,
    now: i64,
    leeway: i64,
    max_lifetime: Option<i64>,
) -> Result<(), TimeError> {
    if exp <= now.saturating_sub(leeway) {
        return Err(TimeError::Expired);
    }
    if let Some(max) = max_lifetime {
        if exp > now.saturating_add(max).saturating_add(leeway) {
            return Err(TimeError::ExpiresTooLate);
        }
    }
    if let Some(iat) = iat {
        if iat > now.saturating_add(leeway) {
            return Err(TimeError::IssuedInTheFuture);
        }
        if let Some(max) = max_lifetime {
            match exp.checked_sub(iat) {
                Some(lifetime) if lifetime <= max => {}
                _ => return Err(TimeError::LifetimeTooLong),
            }
        }
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(TimeError::NotYetValid);
    }
    Ok(())
}

/// What the caller records, set-if-absent, so that an accepted JWT is accepted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMark {
    iss: String,
    jti: String,
    ttl: Duration,
}

impl ReplayMark {
    /// The mark of the JWT `jti` from `iss` expiring at `exp`: what [`check`] returns, and what
    /// a caller builds itself to spend the `jti` of a JWT it refuses (so the same bytes cannot
    /// pass elsewhere). Kept as long as the JWT could still be accepted: until `exp` plus the
    /// leeway, capped at the policy's maximum lifetime (plus leeway) whatever `exp` says, and
    /// at least a second.
    pub fn for_jwt(iss: &str, jti: &str, exp: i64, policy: &ClaimPolicy<'_>) -> Self {
        let cap = policy
            .max_lifetime
            .map_or(i64::MAX, |max| max.saturating_add(policy.leeway));
        let remaining = exp.saturating_sub(policy.now).clamp(0, cap.max(0));
        let ttl = remaining.saturating_add(policy.leeway).max(1);
        Self {
            iss: iss.to_owned(),
            jti: jti.to_owned(),
            ttl: Duration::from_secs(ttl.unsigned_abs()),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.iss
    }

    pub fn jti(&self) -> &str {
        &self.jti
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The store key under `kind` (what was accepted: `assertion-jti`, ...), from `iss` and
    /// `jti` hashed, so that one issuer's `jti`s cannot collide with another's and a store dump
    /// reveals neither.
    pub fn key(&self, kind: &str) -> String {
        replay_key(kind, &self.iss, &self.jti)
    }
}

/// The store key of the replay mark of `jti` from `iss` under `kind` (see [`ReplayMark::key`]).
pub fn replay_key(kind: &str, iss: &str, jti: &str) -> String {
    let h = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    format!("{kind}:{}:{}", h(iss), h(jti))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;
    /// The CAMARA profile's bound on what a client signs.
    const MAX: Option<i64> = Some(300);

    fn times(
        exp: i64,
        iat: Option<i64>,
        nbf: Option<i64>,
        now: i64,
        leeway: i64,
    ) -> Result<(), TimeError> {
        check_times(exp, iat, nbf, now, leeway, MAX)
    }

    #[test]
    fn the_window_is_300_seconds_from_receipt() {
        assert_eq!(times(NOW + 60, Some(NOW), None, NOW, 5), Ok(()));
        assert_eq!(times(NOW + 305, None, None, NOW, 5), Ok(()));
        assert_eq!(
            times(NOW + 306, None, None, NOW, 5),
            Err(TimeError::ExpiresTooLate)
        );
        assert_eq!(times(NOW - 5, None, None, NOW, 5), Err(TimeError::Expired));
        assert_eq!(
            times(NOW + 60, Some(NOW + 6), None, NOW, 5),
            Err(TimeError::IssuedInTheFuture)
        );
        assert_eq!(
            times(NOW + 60, Some(NOW - 241), None, NOW, 5),
            Err(TimeError::LifetimeTooLong)
        );
        assert_eq!(
            times(NOW + 60, None, Some(NOW + 6), NOW, 5),
            Err(TimeError::NotYetValid)
        );
    }

    /// The reported overflow: `iat = -2^62, exp = 2^63 - 1000`.
    #[test]
    fn extreme_values_are_refused_not_wrapped() {
        assert_eq!(
            times(i64::MAX - 1000, Some(-(1 << 62)), None, NOW, 5),
            Err(TimeError::ExpiresTooLate)
        );
        assert_eq!(
            times(NOW + 10, Some(i64::MIN), None, NOW, 5),
            Err(TimeError::LifetimeTooLong)
        );
        assert_eq!(
            times(i64::MIN, Some(i64::MIN), Some(i64::MIN), NOW, i64::MAX),
            Err(TimeError::Expired)
        );
        assert!(times(i64::MAX, Some(i64::MAX), Some(i64::MAX), NOW, 60).is_err());
    }

    #[test]
    fn without_a_maximum_lifetime_only_the_window_of_validity_counts() {
        assert_eq!(
            check_times(NOW + 86_400, Some(NOW - 86_400), None, NOW, 30, None),
            Ok(())
        );
        assert_eq!(
            check_times(NOW - 30, Some(NOW - 300), None, NOW, 30, None),
            Err(TimeError::Expired)
        );
        assert_eq!(
            check_times(
                i64::MAX,
                Some(i64::MIN),
                Some(i64::MIN),
                NOW,
                i64::MAX,
                None
            ),
            Ok(())
        );
    }

    proptest! {
        /// Whatever the claims, an accepted JWT expires within 300 s (+ leeway) of receipt and
        /// lives at most 300 s, so its replay-cache entry is short.
        #[test]
        fn an_accepted_jwt_is_short_lived(
            exp in any::<i64>(),
            iat in proptest::option::of(any::<i64>()),
            nbf in proptest::option::of(any::<i64>()),
            leeway in 0i64..60,
        ) {
            if times(exp, iat, nbf, NOW, leeway).is_ok() {
                prop_assert!(exp > NOW - leeway && exp <= NOW + 300 + leeway);
                if let Some(iat) = iat {
                    prop_assert!(iat <= NOW + leeway && exp - iat <= 300);
                }
            }
        }

        /// The mark of an accepted JWT lives at most the lifetime plus twice the leeway.
        #[test]
        fn a_replay_mark_is_short_lived(
            exp in any::<i64>(),
            iat in proptest::option::of(any::<i64>()),
            leeway in 0i64..60,
        ) {
            let aud = Audience::One(TOKEN_ENDPOINT.into());
            let claims = Registered { iss: Some("c"), aud: Some(&aud), exp: Some(exp), iat, jti: Some("j"), ..Default::default() };
            let policy = ClaimPolicy { leeway, ..jwt_bearer(NOW) };
            if let Ok(mark) = check(&claims, &ClaimPolicy { require_iat: false, ..policy }) {
                let ttl = mark.unwrap().ttl().as_secs() as i64;
                prop_assert!(ttl >= 1 && ttl <= 300 + 2 * leeway);
            }
        }
    }

    const TOKEN_ENDPOINT: &str = "https://as.example/token";

    /// An RFC 7523 §2.1 JWT-bearer assertion as the CAMARA profile bounds it: audience the token
    /// endpoint (one value), `exp` at most 300 s after `iat`, `iat` required and not in the
    /// future, `jti` required (replay).
    fn jwt_bearer(now: i64) -> ClaimPolicy<'static> {
        ClaimPolicy {
            issuer: Some("client-1"),
            audience: AudienceRule::Only(&[TOKEN_ENDPOINT]),
            max_lifetime: Some(300),
            leeway: 5,
            require_jti: true,
            require_iat: true,
            require_nbf: false,
            now,
        }
    }

    fn bearer_claims(aud: &Audience) -> Registered<'_> {
        Registered {
            iss: Some("client-1"),
            aud: Some(aud),
            exp: Some(NOW + 120),
            nbf: None,
            iat: Some(NOW),
            jti: Some("jti-1"),
        }
    }

    #[test]
    fn a_jwt_bearer_assertion_passes_and_yields_its_replay_mark() {
        let aud = Audience::One(TOKEN_ENDPOINT.into());
        let mark = check(&bearer_claims(&aud), &jwt_bearer(NOW))
            .unwrap()
            .unwrap();
        assert_eq!((mark.issuer(), mark.jti()), ("client-1", "jti-1"));
        assert_eq!(mark.ttl(), Duration::from_secs(125), "exp + leeway");
        assert_eq!(
            mark.key("bearer-jti"),
            replay_key("bearer-jti", "client-1", "jti-1")
        );
        assert!(!mark.key("bearer-jti").contains("jti-1"), "hashed");
        let array = Audience::Many(vec![TOKEN_ENDPOINT.into()]);
        assert!(check(&bearer_claims(&array), &jwt_bearer(NOW)).is_ok());
    }

    #[test]
    fn a_jwt_bearer_assertion_for_another_audience_or_several_is_refused() {
        for aud in [
            Audience::One("https://as.example".into()),
            Audience::Many(vec![
                TOKEN_ENDPOINT.into(),
                "https://other.example/token".into(),
            ]),
            Audience::Many(vec![]),
        ] {
            assert_eq!(
                check(&bearer_claims(&aud), &jwt_bearer(NOW)),
                Err(ClaimError::WrongAudience),
                "{aud:?}"
            );
        }
        let aud = Audience::One(TOKEN_ENDPOINT.into());
        let no_aud = Registered {
            aud: None,
            ..bearer_claims(&aud)
        };
        assert_eq!(
            check(&no_aud, &jwt_bearer(NOW)),
            Err(ClaimError::WrongAudience)
        );
    }

    #[test]
    fn a_jwt_bearer_assertion_needs_iat_exp_and_jti() {
        let aud = Audience::One(TOKEN_ENDPOINT.into());
        let base = bearer_claims(&aud);
        let p = jwt_bearer(NOW);
        for (claims, missing) in [
            (Registered { iat: None, ..base }, Claim::Iat),
            (Registered { exp: None, ..base }, Claim::Exp),
            (Registered { jti: None, ..base }, Claim::Jti),
            (
                Registered {
                    jti: Some(""),
                    ..base
                },
                Claim::Jti,
            ),
        ] {
            assert_eq!(check(&claims, &p), Err(ClaimError::Missing(missing)));
        }
        let other = Registered {
            iss: Some("client-2"),
            ..base
        };
        assert_eq!(
            check(&other, &p),
            Err(ClaimError::WrongIssuer(Some("client-2".into())))
        );
    }

    #[test]
    fn a_jwt_bearer_assertion_is_short_lived_and_not_from_the_future() {
        let aud = Audience::One(TOKEN_ENDPOINT.into());
        let base = bearer_claims(&aud);
        let p = jwt_bearer(NOW);
        let refused = |claims: Registered<'_>| check(&claims, &p).unwrap_err();
        assert_eq!(
            refused(Registered {
                iat: Some(NOW - 100),
                exp: Some(NOW + 201),
                ..base
            }),
            ClaimError::Time(TimeError::LifetimeTooLong),
            "exp more than 300 s after iat"
        );
        assert_eq!(
            refused(Registered {
                iat: Some(NOW + 6),
                ..base
            }),
            ClaimError::Time(TimeError::IssuedInTheFuture)
        );
        assert_eq!(
            refused(Registered {
                exp: Some(NOW - 5),
                ..base
            }),
            ClaimError::Time(TimeError::Expired)
        );
        assert_eq!(
            refused(Registered {
                nbf: Some(NOW + 6),
                ..base
            }),
            ClaimError::Time(TimeError::NotYetValid)
        );
        assert!(check(
            &Registered {
                iat: Some(NOW - 200),
                exp: Some(NOW + 100),
                ..base
            },
            &p
        )
        .is_ok());
    }

    #[test]
    fn an_access_token_policy_has_no_lifetime_bound_and_takes_any_listed_audience() {
        let aud = Audience::Many(vec!["https://other.example".into(), "https://rs".into()]);
        let policy = ClaimPolicy {
            issuer: Some("https://as"),
            audience: AudienceRule::Contains(&["https://rs"]),
            max_lifetime: None,
            leeway: 30,
            require_jti: false,
            require_iat: false,
            require_nbf: false,
            now: NOW,
        };
        let claims = Registered {
            iss: Some("https://as"),
            aud: Some(&aud),
            exp: Some(NOW + 3600),
            ..Default::default()
        };
        assert_eq!(check(&claims, &policy), Ok(None), "no jti, no mark");
        let mark = check(
            &Registered {
                jti: Some("j"),
                ..claims
            },
            &policy,
        )
        .unwrap()
        .unwrap();
        assert_eq!(mark.ttl(), Duration::from_secs(3630));
        assert_eq!(
            check(
                &Registered {
                    iss: None,
                    ..claims
                },
                &policy
            ),
            Err(ClaimError::WrongIssuer(None))
        );
        assert_eq!(
            check(
                &claims,
                &ClaimPolicy {
                    require_nbf: true,
                    ..policy
                }
            ),
            Err(ClaimError::Missing(Claim::Nbf))
        );
        assert!(check(
            &Registered {
                iss: Some("x"),
                ..claims
            },
            &ClaimPolicy {
                issuer: None,
                ..policy
            }
        )
        .is_ok());
    }
}
