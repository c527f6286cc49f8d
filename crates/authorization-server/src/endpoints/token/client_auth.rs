//! Client authentication at `/token`: `private_key_jwt` (RFC 7523 §3, OIDC Core §9, CAMARA ICM
//! "Client Authentication"), `client_secret_basic`, `client_secret_post`, or `none` for public
//! clients. Exactly one method per request (RFC 6749 §2.3), and only one the client is registered
//! for — a secret in the wrong place is refused, not accepted.

use std::sync::Arc;

use actix_web::http::header::AUTHORIZATION;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use josekit::jws::JwsHeader;
use nv_token::jwt::{AudienceRule, ClaimPolicy, RegisteredClaims, ReplayMark};
use nv_token::keys::{peek_jws_header, peek_jws_payload, VerifyError};
use serde::Deserialize;

use crate::clients::{Client, ClientJwsError, CLIENT_JWS_ALGS};
use crate::config::AuthMethod;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::{client_jwt, Params};
use crate::state::{keys, AppState};

pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

enum Presented<'a> {
    Basic {
        id: String,
        secret: String,
    },
    /// Vonage's application JWT in `Authorization: Bearer` (a compatibility profile), its
    /// claims read once and the client it names found.
    ApplicationJwt {
        client: Arc<Client>,
        claims: ApplicationClaims,
        jwt: String,
    },
    Post {
        id: &'a str,
        secret: &'a str,
    },
    Assertion {
        id: Option<&'a str>,
        jwt: &'a str,
    },
    None {
        id: &'a str,
    },
}

pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
) -> Result<Arc<Client>, OAuthError> {
    match presented(req, state, params)? {
        Presented::Basic { id, secret } => {
            with_secret(state, &id, &secret, AuthMethod::ClientSecretBasic)
        }
        Presented::Post { id, secret } => {
            with_secret(state, id, secret, AuthMethod::ClientSecretPost)
        }
        Presented::Assertion { id, jwt } => with_assertion(state, id, jwt).await,
        Presented::ApplicationJwt {
            client,
            claims,
            jwt,
        } => with_application_jwt(state, client, claims, params.get("client_id"), &jwt).await,
        Presented::None { id } => {
            let client = state
                .clients
                .get(id)
                .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
            if client.allows(AuthMethod::None) {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client(
                    "client authentication is required for this client",
                ))
            }
        }
    }
}

fn presented<'a>(
    req: &HttpRequest,
    state: &AppState,
    params: &'a Params,
) -> Result<Presented<'a>, OAuthError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    // A Bearer header is an application JWT only when it names a client with that profile;
    // for everyone else it stays what RFC 6749 §2.3.1 makes it: not a client authentication.
    let bearer = header.and_then(|h| application_jwt(state, h));
    let basic = match header {
        Some(_) if bearer.is_some() => None,
        Some(v) => Some(parse_basic(v)?),
        None => None,
    };
    let assertion_type = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");
    let secret = params.get("client_secret");
    let count = [
        basic.is_some() || bearer.is_some(),
        assertion.is_some() || assertion_type.is_some(),
        secret.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if count > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some((client, claims, jwt)) = bearer {
        return Ok(Presented::ApplicationJwt {
            client,
            claims,
            jwt: jwt.to_owned(),
        });
    }
    if let Some((id, secret)) = basic {
        if params.get("client_id").is_some_and(|c| c != id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the authenticated client",
            ));
        }
        return Ok(Presented::Basic { id, secret });
    }
    if assertion.is_some() || assertion_type.is_some() {
        if assertion_type != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER_ASSERTION}"
            )));
        }
        let jwt =
            assertion.ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
        return Ok(Presented::Assertion {
            id: params.get("client_id"),
            jwt,
        });
    }
    let id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::BasicRefused {
            description: "no client authentication".into(),
        })?;
    match secret {
        Some(secret) => Ok(Presented::Post { id, secret }),
        None => Ok(Presented::None { id }),
    }
}

/// The JWT of an `Authorization: Bearer <jwt>` header when it names (unverified), as
/// `application_id`, a client whose profile takes application JWTs — that client and the claims
/// with it. This only picks how the header is read; [`with_application_jwt`] verifies.
fn application_jwt<'h>(
    state: &AppState,
    header: &'h str,
) -> Option<(Arc<Client>, ApplicationClaims, &'h str)> {
    let (scheme, jwt) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let jwt = jwt.trim();
    let claims = peek_jws_payload::<ApplicationClaims>(jwt)?;
    let client = state
        .clients
        .get(&claims.application_id)
        .filter(|c| c.compat.application_jwt)?;
    Some((client, claims, jwt))
}

/// The claims of Vonage's application JWT; all but `application_id` are checked once the client
/// is known.
#[derive(Deserialize)]
struct ApplicationClaims {
    application_id: String,
    iat: Option<i64>,
    exp: Option<i64>,
    jti: Option<String>,
}

/// Vonage's application JWT (`compat.application_jwt`): RS256 with the client's registered keys
/// (registered without a `kid`, as the SDK names none), `application_id` the client, `exp` in the future and at most
/// [`APPLICATION_JWT_MAX_LIFETIME`] after `iat`, the `jti` spent on first use. It has no `aud`, so
/// it is not bound to this server (RFC 7523 §3 item 3 requires one): a JWT the client made for
/// Vonage's gateway could be replayed here within its lifetime, which is why the profile is for
/// sandboxes and the local stack (docs/compatibility.md).
async fn with_application_jwt(
    state: &AppState,
    client: Arc<Client>,
    claims: ApplicationClaims,
    body_client_id: Option<&str>,
    jwt: &str,
) -> Result<Arc<Client>, OAuthError> {
    let invalid = |d: &str| OAuthError::invalid_client(d);
    let (Some(iat), Some(exp), Some(jti)) = (claims.iat, claims.exp, claims.jti) else {
        return Err(invalid(
            "the application JWT needs application_id, iat, exp and jti",
        ));
    };
    if body_client_id.is_some_and(|id| id != claims.application_id) {
        return Err(invalid("client_id does not match the application JWT"));
    }
    let header = peek_jws_header(jwt).map_err(|_| invalid("the application JWT is not a JWS"))?;
    if header.algorithm() != Some("RS256") {
        return Err(invalid("the application JWT must be signed with RS256"));
    }
    // Vonage's SDK sends no `kid`: the client registers its application key without one.
    verify_with_client_keys(&client, jwt, &header).await?;
    let policy = client_jwt::policy(
        &client.id,
        AudienceRule::Contains(&[]),
        true,
        state.client_jwt.leeway_seconds,
        state.now(),
    );
    let policy = ClaimPolicy {
        max_lifetime: Some(APPLICATION_JWT_MAX_LIFETIME),
        ..policy
    };
    nv_token::jwt::check_times(
        exp,
        Some(iat),
        None,
        policy.now,
        policy.leeway,
        policy.max_lifetime,
    )
    .map_err(|e| invalid(&client_jwt::describe_time(e, "the application JWT")))?;
    if jti.is_empty() {
        return Err(invalid("the application JWT has no jti"));
    }
    let mark = ReplayMark::for_jwt(&client.id, &jti, exp, &policy);
    consume_assertion_jti(state, &mark).await?;
    Ok(client)
}

/// Vonage's application JWTs live 15 minutes (`exp = iat + 900`).
const APPLICATION_JWT_MAX_LIFETIME: i64 = 900;

/// The client id of an `Authorization: Basic` header, unauthenticated (to pick how to read the
/// body, never to trust it).
pub fn basic_client_id(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    parse_basic(value).ok().map(|(id, _)| id)
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
fn parse_basic(value: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::BasicRefused {
        description: "malformed Basic credentials".into(),
    };
    let (scheme, b64) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_request(
            "only the Basic scheme is accepted for client authentication",
        ));
    }
    let decoded = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Ok((dec(id).ok_or_else(bad)?, dec(secret).ok_or_else(bad)?))
}

fn with_secret(
    state: &AppState,
    id: &str,
    secret: &str,
    method: AuthMethod,
) -> Result<Arc<Client>, OAuthError> {
    // RFC 6749 §5.2: a failed Basic authentication answers 401 with a Basic challenge.
    let refused = |description: String| match method {
        AuthMethod::ClientSecretBasic => OAuthError::BasicRefused {
            description: description.into(),
        },
        _ => OAuthError::invalid_client(description),
    };
    let client = state
        .clients
        .get(id)
        .ok_or_else(|| refused("client authentication failed".into()))?;
    if !client.allows(method) {
        return Err(refused(format!(
            "this client is not registered for {}",
            method.name()
        )));
    }
    if !client.secret_matches(secret) {
        return Err(refused("client authentication failed".into()));
    }
    Ok(client)
}

#[derive(Deserialize)]
struct AssertionClaims {
    #[serde(flatten)]
    registered: RegisteredClaims,
    sub: Option<String>,
    /// Members of an authorization request: a JWT that has them is a request object, which
    /// must not pass for a client assertion even when its other claims would (RFC 9101 §10.8).
    response_type: Option<serde::de::IgnoredAny>,
    redirect_uri: Option<serde::de::IgnoredAny>,
}

async fn with_assertion(
    state: &AppState,
    body_client_id: Option<&str>,
    jwt: &str,
) -> Result<Arc<Client>, OAuthError> {
    let invalid = |d: &str| OAuthError::invalid_client(d);
    // Who claims to have signed it? Read before verifying to pick the keys; once the signature
    // over exactly these bytes verifies, the same parse is the verified claims (decoded once).
    let unverified = peek_jws_payload::<AssertionClaims>(jwt)
        .ok_or_else(|| invalid("client_assertion is not a JWT"))?;
    let claimed = unverified
        .registered
        .iss
        .clone()
        .or(unverified.sub.clone())
        .ok_or_else(|| invalid("client_assertion has no iss"))?;
    let id = body_client_id.unwrap_or(&claimed);
    if id != claimed {
        return Err(invalid("client_assertion iss does not match client_id"));
    }
    let client = state
        .clients
        .get(id)
        .ok_or_else(|| invalid("client authentication failed"))?;
    if !client.allows(AuthMethod::PrivateKeyJwt) {
        return Err(invalid("this client is not registered for private_key_jwt"));
    }
    // Algorithm allow-list before any key is touched (no `none`, no HMAC with a public key).
    let header = peek_jws_header(jwt).map_err(|_| invalid("client_assertion is not a JWS"))?;
    // Explicit typing (RFC 8725 §3.11): a JWT typed as another kind, e.g. a request object
    // (`oauth-authz-req+jwt`), is not a client assertion even when its claims would pass.
    if let Some(typ) = header.token_type() {
        let ok = [
            "JWT",
            "client-authentication+jwt",
            "application/client-authentication+jwt",
        ]
        .iter()
        .any(|t| typ.eq_ignore_ascii_case(t));
        if !ok {
            return Err(invalid("client_assertion typ is not a client assertion's"));
        }
    }
    let alg = header.algorithm().unwrap_or("");
    if !CLIENT_JWS_ALGS.iter().any(|a| a.name() == alg) {
        return Err(OAuthError::invalid_client(format!(
            "client_assertion alg `{alg}` is not accepted (RS256, PS256, ES256)"
        )));
    }
    verify_with_client_keys(&client, jwt, &header).await?;
    let claims = unverified;
    let mark = check_assertion_claims(state, &client, &claims)?;
    consume_assertion_jti(state, &mark).await?;
    Ok(client)
}

async fn verify_with_client_keys(
    client: &Client,
    jwt: &str,
    header: &JwsHeader,
) -> Result<(), OAuthError> {
    client
        .verify_jws(jwt, header, &CLIENT_JWS_ALGS)
        .await
        .map_err(|e| match e {
            ClientJwsError::NoKeys => {
                OAuthError::invalid_client("no keys are registered for this client")
            }
            ClientJwsError::KeysUnavailable(cause) => OAuthError::caused(
                ErrorCode::InvalidClient,
                "the client's jwks_uri could not be fetched",
                cause,
            ),
            ClientJwsError::Invalid(e) => OAuthError::invalid_client(describe(e)),
        })
}

fn describe(e: VerifyError) -> String {
    match e {
        VerifyError::UnknownKey(_) => {
            "client_assertion is signed with a key that is not registered (kid)".into()
        }
        VerifyError::BadSignature => "client_assertion signature does not verify".into(),
        VerifyError::AlgorithmNotAllowed(a) => {
            format!("client_assertion alg `{a}` is not accepted")
        }
        VerifyError::Malformed => "client_assertion is malformed".into(),
    }
}

/// Returns the replay mark for the replay cache.
fn check_assertion_claims(
    state: &AppState,
    client: &Client,
    c: &AssertionClaims,
) -> Result<ReplayMark, OAuthError> {
    const ISSUER: &str = "client_assertion iss and sub must both be the client_id";
    const AUDIENCE: &str = "client_assertion aud must be one value: the issuer, the token \
                            endpoint or the backchannel authentication endpoint";
    let invalid = |d: &str| OAuthError::invalid_client(d);
    if c.response_type.is_some() || c.redirect_uri.is_some() {
        return Err(invalid(
            "client_assertion carries authorization request parameters: it is a request object",
        ));
    }
    // RFC 7523 §3: iss and sub are both the client_id (`iss` is the policy's issuer).
    if c.sub.as_deref() != Some(&client.id) {
        return Err(invalid(ISSUER));
    }
    // One audience value naming this server: the issuer, the token endpoint (the CAMARA profile
    // recommends the endpoint URL) or, for CIBA, the backchannel authentication endpoint (CIBA
    // Core §7.1 makes the server accept all three): see `AudienceRule::Only`.
    let token_endpoint = state.token_endpoint();
    let backchannel_endpoint = state.endpoint("/bc-authorize");
    let audiences = [
        state.issuer.as_str(),
        token_endpoint.as_str(),
        backchannel_endpoint.as_str(),
    ];
    // ICM "Client Authentication": exp at most 300 s after receipt, exp - iat at most 300 s.
    let policy = client_jwt::policy(
        &client.id,
        AudienceRule::Only(&audiences),
        false,
        state.client_jwt.leeway_seconds,
        state.now(),
    );
    client_jwt::check(
        &c.registered.borrowed(),
        &policy,
        "client_assertion",
        ISSUER,
        AUDIENCE,
    )
    .map_err(|d| invalid(&d))
}

/// Replay cache (RFC 7523 §3 item 7): the `jti` is remembered until the assertion expires, in the
/// shared store so a replay to another replica is refused too.
async fn consume_assertion_jti(state: &AppState, mark: &ReplayMark) -> Result<(), OAuthError> {
    match state.first_use(&keys::assertion_jti(mark), mark).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(OAuthError::invalid_client(
            "client_assertion was already used (jti replay)",
        )),
        Err(e) => Err(OAuthError::unavailable(e)),
    }
}
