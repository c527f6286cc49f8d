//! Signed authorization requests: the `request` parameter (OIDC Core §6.1, RFC 9101), which the
//! CAMARA Security and Interoperability Profile says an authorization server MUST support
//! ("Signed Authentication Requests"):
//!
//! - signed by the client with a key it registered (the one it uses for `private_key_jwt` will
//!   do), with an algorithm from [`CLIENT_JWS_ALGS`]; encrypted request objects are refused;
//! - `iss` (the client), `aud`, `iat`, `exp` and `jti` present; `aud` names this server (the
//!   authorization endpoint or the issuer); refused if `iat` is after receipt or `exp - iat`
//!   exceeds 300 s; each `jti` is accepted once (the shared store remembers it until `exp`);
//! - `scope`, `response_type`, `client_id` and `redirect_uri` are sent both as plain parameters
//!   and in the object, and must match; every other parameter is taken from the object only.

use nv_token::jwt::{AudienceRule, ClaimPolicy, Registered, ReplayMark};
use nv_token::keys::{peek_jws_header, peek_jws_payload, VerifyError};
use nv_token::Audience;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clients::{Client, ClientJwsError, CLIENT_JWS_ALGS};
use crate::protocol::{client_jwt, Params};
use crate::state::{keys, AppState};

/// The parameters that must be sent in both forms and agree (authorization requests).
const MUST_MATCH: [&str; 4] = ["client_id", "response_type", "redirect_uri", "scope"];

/// What a signed request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An authorization request at `/authorize` (OIDC Core §6.1, RFC 9101).
    Authorization,
    /// A CIBA authentication request at `/bc-authorize` (CIBA Core §7.1.1): `nbf` is required
    /// too, and outside the object only the `request` itself and the client's authentication
    /// may be sent.
    Backchannel,
}

impl Target {
    fn endpoint(self) -> &'static str {
        match self {
            Target::Authorization => "/authorize",
            Target::Backchannel => "/bc-authorize",
        }
    }
}

/// What may accompany a signed CIBA request outside it: the client's authentication.
const BACKCHANNEL_OUTER: [&str; 5] = [
    "request",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

#[derive(Debug)]
pub enum RequestObjectError {
    /// `invalid_request_object`, with a description for the client.
    Invalid(String),
    /// The replay cache could not be reached.
    Unavailable(String),
}

fn invalid(d: impl Into<String>) -> RequestObjectError {
    RequestObjectError::Invalid(d.into())
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<Audience>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    sub: Option<Value>,
    /// The authorization request parameters.
    #[serde(flatten)]
    params: Map<String, Value>,
}

/// Check the request object `jwt` sent with `outer` by `client`, and unpack it: the parameters
/// the request is to be processed with.
pub async fn unpack(
    state: &AppState,
    client: &Client,
    outer: &Params,
    jwt: &str,
    target: Target,
) -> Result<Params, RequestObjectError> {
    if jwt.split('.').count() == 5 {
        return Err(invalid(
            "encrypted request objects are not supported: send a signed JWT",
        ));
    }
    let header =
        peek_jws_header(jwt).map_err(|_| invalid("request is not a signed JWT (compact JWS)"))?;
    let alg = header.algorithm().unwrap_or("");
    if !CLIENT_JWS_ALGS.iter().any(|a| a.name() == alg) {
        return Err(invalid(format!(
            "request object alg `{alg}` is not accepted (RS256, PS256, ES256)"
        )));
    }
    // RFC 9101 §10.8 (explicit typing): if a type is given it must be a request object's.
    if let Some(typ) = header.token_type() {
        if !typ.eq_ignore_ascii_case("oauth-authz-req+jwt") && !typ.eq_ignore_ascii_case("JWT") {
            return Err(invalid(format!(
                "request object typ `{typ}` is not oauth-authz-req+jwt"
            )));
        }
    }
    // Parsed before the signature is checked only because the signature covers exactly these
    // bytes: once it verifies, this parse is the verified content.
    let claims: Claims = peek_jws_payload(jwt)
        .ok_or_else(|| invalid("request object claims are not a JSON object"))?;
    let now = state.now();
    client
        .verify_jws(jwt, &header, &CLIENT_JWS_ALGS)
        .await
        .map_err(|e| match e {
            ClientJwsError::NoKeys => {
                invalid("this client registered no keys, so its request objects cannot be verified")
            }
            ClientJwsError::KeysUnavailable(e) => RequestObjectError::Unavailable(format!(
                "the client's jwks_uri could not be fetched: {e}"
            )),
            ClientJwsError::Invalid(VerifyError::BadSignature) => {
                invalid("request object signature does not verify")
            }
            ClientJwsError::Invalid(VerifyError::UnknownKey(_)) => {
                invalid("request object is signed with a key that is not registered (kid)")
            }
            ClientJwsError::Invalid(_) => invalid("request object is malformed"),
        })?;

    // RFC 9101 §10.8 and the CAMARA note: with a `sub`, a request object could pass for a client
    // assertion (iss = sub = client_id) at the token endpoint. Refused here, and its `jti` spent
    // as an assertion's too, so the same signed bytes cannot authenticate the client there.
    let endpoint = state.endpoint(target.endpoint());
    let audiences = [endpoint.as_str(), state.issuer.as_str()];
    let mut policy = client_jwt::policy(
        &client.id,
        AudienceRule::Contains(&audiences),
        true,
        state.client_jwt.leeway_seconds,
        now,
    );
    // CIBA Core §7.1.1 lists `nbf` among the claims a signed authentication request carries.
    policy.require_nbf = target == Target::Backchannel;
    if claims.sub.is_some() {
        if let Some(jti) = claims.jti.as_deref().filter(|j| !j.is_empty()) {
            let exp = claims.exp.unwrap_or(now);
            let mark = ReplayMark::for_jwt(&client.id, jti, exp, &policy);
            state
                .first_use(&keys::assertion_jti(&mark), &mark)
                .await
                .map_err(|e| RequestObjectError::Unavailable(e.to_string()))?;
        }
        return Err(invalid("request object must not contain sub"));
    }
    let mark = check_claims(&claims, &policy, target)?;
    let params = match target {
        Target::Authorization => parameters(&claims.params, outer)?,
        Target::Backchannel => backchannel_parameters(&claims.params, outer)?,
    };

    // Each request object is used once, on every replica.
    match state
        .first_use(&keys::request_object_jti(&mark), &mark)
        .await
    {
        Ok(true) => Ok(params),
        Ok(false) => Err(invalid("request object was already used (jti replay)")),
        Err(e) => Err(RequestObjectError::Unavailable(e.to_string())),
    }
}

/// The registered claims, by the policy of client-signed JWTs; the replay mark of the object.
fn check_claims(
    c: &Claims,
    policy: &ClaimPolicy<'_>,
    target: Target,
) -> Result<ReplayMark, RequestObjectError> {
    let registered = Registered {
        iss: c.iss.as_deref(),
        aud: c.aud.as_ref(),
        exp: c.exp,
        nbf: c.nbf,
        iat: c.iat,
        jti: c.jti.as_deref(),
    };
    let audience = match target {
        Target::Authorization => {
            "request object aud must be this server's authorization endpoint or issuer"
        }
        Target::Backchannel => {
            "request object aud must be this server's backchannel authentication endpoint or \
             issuer"
        }
    };
    client_jwt::check(
        &registered,
        policy,
        "request object",
        "request object iss must be the client_id",
        audience,
    )
    .map_err(invalid)
}

/// The request's parameters: those of the object, after checking the ones that must match.
fn parameters(object: &Map<String, Value>, outer: &Params) -> Result<Params, RequestObjectError> {
    // RFC 9101 §4: a request object must not itself carry `request` or `request_uri`.
    if object.contains_key("request") || object.contains_key("request_uri") {
        return Err(invalid(
            "request object must not contain request or request_uri",
        ));
    }
    let params = object_pairs(object);
    for name in MUST_MATCH {
        let (Some(plain), Some(signed)) = (outer.get(name), params.get(name)) else {
            return Err(invalid(format!(
                "{name} must be sent both as a parameter and in the request object"
            )));
        };
        let same = if name == "scope" {
            scope_set(plain) == scope_set(signed)
        } else {
            plain == signed
        };
        if !same {
            return Err(invalid(format!(
                "{name} differs between the parameters and the request object"
            )));
        }
    }
    Ok(params)
}

/// A signed CIBA request's parameters: all of them from the object, nothing but the client's
/// authentication beside it (CIBA Core §7.1.1).
fn backchannel_parameters(
    object: &Map<String, Value>,
    outer: &Params,
) -> Result<Params, RequestObjectError> {
    if let Some(name) = outer.names().find(|n| !BACKCHANNEL_OUTER.contains(n)) {
        return Err(invalid(format!(
            "{name} must be inside the signed request, not beside it"
        )));
    }
    if object.contains_key("request") || object.contains_key("request_uri") {
        return Err(invalid(
            "request object must not contain request or request_uri",
        ));
    }
    Ok(object_pairs(object))
}

/// The object's members as request parameters: strings, and numbers as text (`max_age`,
/// `requested_expiry`); structured members (`claims`) are not supported, as in the plain form.
fn object_pairs(object: &Map<String, Value>) -> Params {
    let pairs = object.iter().filter_map(|(name, value)| match value {
        Value::String(s) => Some((name.clone(), s.clone())),
        Value::Number(n) => Some((name.clone(), n.to_string())),
        _ => None,
    });
    Params::from_pairs(pairs)
}

/// Scope values in any order (RFC 6749 §3.3: a space-delimited set).
fn scope_set(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test objects are objects"),
        }
    }

    const OUTER: &[u8] =
        b"client_id=c&response_type=code&redirect_uri=https%3A%2F%2Frp%2Fcb&scope=openid+b";

    #[test]
    fn other_parameters_come_from_the_object_only() {
        let outer = Params::parse(&[OUTER, b"&state=plain&nonce=plain"].concat());
        let p = parameters(
            &object(json!({"client_id": "c", "response_type": "code",
                "redirect_uri": "https://rp/cb", "scope": "b openid", "state": "signed",
                "max_age": 60, "claims": {"userinfo": {}}})),
            &outer,
        )
        .unwrap();
        assert_eq!(p.get("state"), Some("signed"));
        assert_eq!(p.get("nonce"), None, "not in the object: not used");
        assert_eq!(p.get("max_age"), Some("60"));
        assert_eq!(p.get("claims"), None);
    }

    #[test]
    fn the_four_must_be_in_both_forms_and_agree() {
        let outer = Params::parse(OUTER);
        let full = json!({"client_id": "c", "response_type": "code",
            "redirect_uri": "https://rp/cb", "scope": "openid b"});
        for name in MUST_MATCH {
            let mut missing = object(full.clone());
            missing.remove(name);
            assert!(parameters(&missing, &outer).is_err(), "{name} missing");
            let mut other = object(full.clone());
            other.insert(name.into(), json!("other"));
            assert!(parameters(&other, &outer).is_err(), "{name} differs");
        }
        assert!(parameters(&object(full), &outer).is_ok());
    }

    #[test]
    fn nested_request_parameters_are_refused() {
        let outer = Params::parse(OUTER);
        for name in ["request", "request_uri"] {
            let o = object(json!({"client_id": "c", "response_type": "code",
                "redirect_uri": "https://rp/cb", "scope": "openid b", name: "x"}));
            assert!(parameters(&o, &outer).is_err(), "{name}");
        }
    }
}
