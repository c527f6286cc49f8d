//! Checks shared by the JWTs a client signs: client assertions (RFC 7523 §3) and request objects
//! (RFC 9101). Time claims are bounded against the time of receipt one by one, with checked
//! arithmetic: `exp - iat` in plain `i64` wraps for `iat = -2^62, exp = 2^63 - 1000` and let a
//! year-long object through, with a replay-cache entry that never expired (CWE-190).

/// The CAMARA profile's bound on what a client signs: `exp` at most 300 s after receipt, and
/// `exp - iat` at most 300 s.
pub const MAX_LIFETIME: i64 = 300;

/// Why the time claims are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    Expired,
    /// `exp` more than [`MAX_LIFETIME`] after receipt.
    ExpiresTooLate,
    IssuedInTheFuture,
    /// `exp - iat` above [`MAX_LIFETIME`] (or not representable).
    LifetimeTooLong,
    NotYetValid,
}

impl TimeError {
    /// The error description, for a JWT named `what` ("client_assertion", "request object").
    pub fn describe(self, what: &str) -> String {
        match self {
            TimeError::Expired => format!("{what} has expired"),
            TimeError::ExpiresTooLate => {
                format!("{what} exp is more than {MAX_LIFETIME} s after its receipt")
            }
            TimeError::IssuedInTheFuture => format!("{what} iat is later than its receipt"),
            TimeError::LifetimeTooLong => {
                format!("{what} lifetime (exp - iat) exceeds {MAX_LIFETIME} s")
            }
            TimeError::NotYetValid => format!("{what} is not valid yet (nbf)"),
        }
    }
}

/// `exp` (required), `iat` and `nbf` (optional) against `now`, each allowed `leeway` of clock
/// skew.
pub fn check_times(
    exp: i64,
    iat: Option<i64>,
    nbf: Option<i64>,
    now: i64,
    leeway: i64,
) -> Result<(), TimeError> {
    if exp <= now.saturating_sub(leeway) {
        return Err(TimeError::Expired);
    }
    if exp > now.saturating_add(MAX_LIFETIME).saturating_add(leeway) {
        return Err(TimeError::ExpiresTooLate);
    }
    if let Some(iat) = iat {
        if iat > now.saturating_add(leeway) {
            return Err(TimeError::IssuedInTheFuture);
        }
        match exp.checked_sub(iat) {
            Some(lifetime) if lifetime <= MAX_LIFETIME => {}
            _ => return Err(TimeError::LifetimeTooLong),
        }
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(TimeError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn the_window_is_300_seconds_from_receipt() {
        assert_eq!(check_times(NOW + 60, Some(NOW), None, NOW, 5), Ok(()));
        assert_eq!(check_times(NOW + 305, None, None, NOW, 5), Ok(()));
        assert_eq!(
            check_times(NOW + 306, None, None, NOW, 5),
            Err(TimeError::ExpiresTooLate)
        );
        assert_eq!(
            check_times(NOW - 5, None, None, NOW, 5),
            Err(TimeError::Expired)
        );
        assert_eq!(
            check_times(NOW + 60, Some(NOW + 6), None, NOW, 5),
            Err(TimeError::IssuedInTheFuture)
        );
        assert_eq!(
            check_times(NOW + 60, Some(NOW - 241), None, NOW, 5),
            Err(TimeError::LifetimeTooLong)
        );
        assert_eq!(
            check_times(NOW + 60, None, Some(NOW + 6), NOW, 5),
            Err(TimeError::NotYetValid)
        );
    }

    /// The reported overflow: `iat = -2^62, exp = 2^63 - 1000`.
    #[test]
    fn extreme_values_are_refused_not_wrapped() {
        assert_eq!(
            check_times(i64::MAX - 1000, Some(-(1 << 62)), None, NOW, 5),
            Err(TimeError::ExpiresTooLate)
        );
        assert_eq!(
            check_times(NOW + 10, Some(i64::MIN), None, NOW, 5),
            Err(TimeError::LifetimeTooLong)
        );
        assert_eq!(
            check_times(i64::MIN, Some(i64::MIN), Some(i64::MIN), NOW, i64::MAX),
            Err(TimeError::Expired)
        );
        assert!(check_times(i64::MAX, Some(i64::MAX), Some(i64::MAX), NOW, 60).is_err());
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
            if check_times(exp, iat, nbf, NOW, leeway).is_ok() {
                prop_assert!(exp > NOW - leeway && exp <= NOW + MAX_LIFETIME + leeway);
                if let Some(iat) = iat {
                    prop_assert!(iat <= NOW + leeway && exp - iat <= MAX_LIFETIME);
                }
            }
        }
    }
}
