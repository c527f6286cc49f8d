//! What the JWTs a client signs must satisfy: client assertions (RFC 7523 §3) and request objects
//! (RFC 9101). The claims are checked by the one checker of the token contract,
//! [`nv_token::jwt::check`] (checked arithmetic on the time claims), under the policy built here;
//! the error descriptions a client reads are worded here.

use nv_token::jwt::{
    self, AudienceRule, Claim, ClaimError, ClaimPolicy, Registered, ReplayMark, TimeError,
};

/// The CAMARA profile's bound on what a client signs: `exp` at most 300 s after receipt, and
/// `exp - iat` at most 300 s.
pub const MAX_LIFETIME: i64 = 300;

/// The policy of a JWT that client `client_id` signed for one of `audiences`: `iss` the client,
/// at most [`MAX_LIFETIME`], a `jti` (each is accepted once), `iat` when `require_iat`.
pub fn policy<'a>(
    client_id: &'a str,
    audience: AudienceRule<'a>,
    require_iat: bool,
    leeway: i64,
    now: i64,
) -> ClaimPolicy<'a> {
    ClaimPolicy {
        issuer: Some(client_id),
        audience,
        max_lifetime: Some(MAX_LIFETIME),
        leeway,
        require_jti: true,
        require_iat,
        require_nbf: false,
        now,
    }
}

/// The registered claims of a client-signed JWT named `what` against `policy`, a `jti` required
/// (each is accepted once): its replay mark, or the description a client reads, `issuer` and
/// `audience` wording what those must be.
pub fn check(
    registered: &Registered<'_>,
    policy: &ClaimPolicy<'_>,
    what: &str,
    issuer: &str,
    audience: &str,
) -> Result<ReplayMark, String> {
    jwt::check(registered, policy)
        .and_then(|mark| mark.ok_or(ClaimError::Missing(Claim::Jti)))
        .map_err(|e| describe(&e, what, issuer, audience))
}

/// The error description of a refused time claim, for a JWT named `what` ("client_assertion",
/// "request object").
pub fn describe_time(e: TimeError, what: &str) -> String {
    match e {
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

/// The error description of a refused claim, for a JWT named `what`; `issuer` and `audience`
/// word what the issuer and the audience must be.
pub fn describe(e: &ClaimError, what: &str, issuer: &str, audience: &str) -> String {
    match e {
        ClaimError::WrongIssuer(_) => issuer.to_owned(),
        ClaimError::WrongAudience => audience.to_owned(),
        ClaimError::Missing(claim) => format!("{what} has no {}", claim.name()),
        ClaimError::Time(t) => describe_time(*t, what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nv_token::jwt::Claim;

    #[test]
    fn descriptions_name_the_jwt_and_the_claim() {
        assert_eq!(
            describe(&ClaimError::Missing(Claim::Jti), "request object", "", ""),
            "request object has no jti"
        );
        assert_eq!(
            describe(
                &ClaimError::Time(TimeError::LifetimeTooLong),
                "client_assertion",
                "",
                ""
            ),
            "client_assertion lifetime (exp - iat) exceeds 300 s"
        );
        assert_eq!(
            describe(&ClaimError::WrongAudience, "x", "iss", "aud"),
            "aud"
        );
    }
}
