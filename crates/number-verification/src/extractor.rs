//! `VerifiedAccessToken<Op>`: the one extractor that authenticates a Number Verification call.
//!
//! In order (each failure ends the request):
//! 1. `Authorization: Bearer <token>` — the scheme is case-insensitive (RFC 9110 §11.1; clients
//!    echo `token_type` verbatim, and some send `bearer`) → else 401 `UNAUTHENTICATED`;
//! 2. JWE decrypted with one of this server's keys, only with the configured `alg`/`enc`;
//! 3. inner JWS verified with the authorization server's keys (refetched on an unknown `kid`),
//!    `typ: at+jwt`, `iss`, `aud`, `exp`/`nbf`/`iat` with the leeway, a `jti` → else 401
//!    (2 and 3 are `nv_token::opener::Opener::open`);
//! 4. a scope granting the operation's right, in any API version's name (`Op::SCOPE`,
//!    [`ApiScope::grants`]) → else 403 `PERMISSION_DENIED`;
//! 5. `amr` is network- or SIM-based (CAMARA NV: "This must be done via mobile network
//!    authentication") → else 403 `NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK`.
//!
//! Single use (docs/decisions/0003) is the last step and is taken by the handler through
//! [`VerifiedAccessToken::consume`], right before it answers: a request whose body is invalid
//! gets its 400 without burning the token, while every answer that reveals anything about the
//! subscriber has marked the `jti` used first. The phone number is only reachable through
//! `consume`, so a handler cannot answer without it. A genuine token that names no phone number
//! passes the extractor and fails in `consume` with the version's "token context" error, so a
//! malformed body is still reported as such (CAMARA scenario `C02.01`).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use nv_store::Store;
use nv_token::{ApiScope, Opened, PhoneNumber};

use crate::error::{ApiError, ApiVersion, TokenRejection};
use crate::state::AppState;

/// Longest bearer token considered (ours are ≈ 1.5 KB); anything longer is refused unread.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// One protected operation: its API family and the scope it requires.
pub trait Operation: 'static {
    const API: ApiVersion;
    /// The scope of this API version, named in a 403. A token with any scope that grants the
    /// same right passes ([`ApiScope::grants`]: SDKs ask for one version's name and call
    /// another version's path).
    const SCOPE: ApiScope;
}

/// A token that passed every check but single use. See the module documentation.
pub struct VerifiedAccessToken<Op: Operation> {
    token: Opened,
    store: Arc<dyn Store>,
    _op: PhantomData<Op>,
}

impl<Op: Operation> std::fmt::Debug for VerifiedAccessToken<Op> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phone_number = match &self.token {
            Opened::Complete(claims, _) => Some(&claims.phone_number),
            Opened::WithoutPhoneNumber(_) => None,
        };
        f.debug_struct("VerifiedAccessToken")
            .field("client_id", &self.token.client_id())
            .field("phone_number", &phone_number)
            .finish_non_exhaustive()
    }
}

/// The subscriber a consumed token speaks for.
#[derive(Debug)]
pub struct Subscriber {
    pub phone_number: PhoneNumber,
    pub client_id: String,
}

impl<Op: Operation> VerifiedAccessToken<Op> {
    /// Mark the token used (`at-used:{jti}` set-if-absent for as long as it could still be
    /// accepted: its replay mark) and hand out the subscriber. A second use is 401; a store
    /// failure is 503, never an acceptance. A token that names no phone number is refused here
    /// (version-specific "token context" error), without being marked: it can never answer
    /// anything.
    pub async fn consume(self) -> Result<Subscriber, ApiError> {
        let Opened::Complete(claims, mark) = self.token else {
            return Err(ApiError::InvalidTokenContext(Op::API));
        };
        let key = nv_token::spent_token_key(mark.jti());
        match self.store.put_if_absent(&key, b"1", mark.ttl()).await {
            Ok(true) => {
                tracing::info!(
                    client_id = %claims.client_id,
                    subscriber = %claims.phone_number.masked(),
                    "access token consumed"
                );
                Ok(Subscriber {
                    phone_number: claims.phone_number,
                    client_id: claims.client_id,
                })
            }
            Ok(false) => Err(ApiError::Unauthenticated(TokenRejection::AlreadyUsed)),
            Err(e) => Err(ApiError::Unavailable(e.to_string())),
        }
    }
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 §2.1).
pub fn bearer_token(req: &HttpRequest) -> Result<String, TokenRejection> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next().ok_or(TokenRejection::Missing)?;
    if values.next().is_some() {
        return Err(TokenRejection::NotBearer);
    }
    // Bytes, not `HeaderValue::to_str`: that walks the whole ~1.5 kB token byte by byte before
    // the b64token check below, which admits visible ASCII only anyway. (A token with obs-text
    // or DEL in it is therefore `invalid_token`, as any other malformed token, rather than "not
    // a Bearer header".)
    let value = value.as_bytes().trim_ascii();
    let space = value
        .iter()
        .position(|b| *b == b' ')
        .ok_or(TokenRejection::NotBearer)?;
    let (scheme, token) = (&value[..space], &value[space + 1..]);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(TokenRejection::NotBearer);
    }
    let start = token.iter().position(|b| *b != b' ').unwrap_or(token.len());
    let token = &token[start..];
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || !is_b64token(token) {
        return Err(TokenRejection::Invalid(nv_token::OpenError::Malformed));
    }
    // ASCII by the check above, so this cannot fail (and `from_utf8` is a fast block scan).
    let token = std::str::from_utf8(token)
        .map_err(|_| TokenRejection::Invalid(nv_token::OpenError::Malformed))?;
    Ok(token.to_owned())
}

/// b64token (RFC 6750 §2.1); a compact JWE uses base64url and dots only. Every byte is tested
/// without branching and the verdicts are and-ed per 64-byte block, so the loop vectorises: it
/// runs over every token on every call.
fn is_b64token(bytes: &[u8]) -> bool {
    let allowed = |b: u8| {
        (b.wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'A') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b == b'-')
            | (b == b'.')
            | (b == b'_')
            | (b == b'~')
            | (b == b'+')
            | (b == b'/')
            | (b == b'=')
    };
    bytes
        .chunks(64)
        .all(|block| block.iter().fold(true, |ok, &b| ok & allowed(b)))
}

impl<Op: Operation> FromRequest for VerifiedAccessToken<Op> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("AppState not registered".into()))?;
            let token = token.map_err(ApiError::Unauthenticated)?;
            let token = state.verifier.open(token).await?;
            if !token.grants(Op::SCOPE) {
                return Err(ApiError::PermissionDenied {
                    required: Op::SCOPE.name(),
                });
            }
            if !token.has_amr(&state.verifier.accepted_amr) {
                return Err(ApiError::NotAuthenticatedByMobileNetwork {
                    amr: token.amr().to_vec(),
                });
            }
            Ok(VerifiedAccessToken {
                token,
                store: state.store.clone(),
                _op: PhantomData,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn parse(value: &str) -> Result<String, TokenRejection> {
        bearer_token(
            &TestRequest::default()
                .insert_header((header::AUTHORIZATION, value))
                .to_http_request(),
        )
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in ["Bearer a.b.c.d.e", "bearer a.b.c.d.e", "BEARER  a.b.c.d.e"] {
            assert_eq!(parse(v).unwrap(), "a.b.c.d.e", "{v}");
        }
    }

    #[test]
    fn other_schemes_and_junk_are_refused() {
        assert_eq!(parse("Basic abc"), Err(TokenRejection::NotBearer));
        assert_eq!(parse("Bearer"), Err(TokenRejection::NotBearer));
        let malformed = Err(TokenRejection::Invalid(nv_token::OpenError::Malformed));
        assert_eq!(parse("Bearer a b"), malformed);
        assert_eq!(parse("Bearer é"), malformed);
        assert_eq!(parse("Bearer a.b\tc"), malformed);
        assert_eq!(parse("Bearer  "), Err(TokenRejection::NotBearer));
        assert_eq!(parse("Bearer\ta.b"), Err(TokenRejection::NotBearer));
        assert_eq!(parse("Bäarer a.b"), Err(TokenRejection::NotBearer));
        let longest = "a".repeat(MAX_TOKEN_LEN);
        assert_eq!(parse(&format!("Bearer {longest}")), Ok(longest.clone()));
        assert_eq!(parse(&format!("Bearer {longest}a")), malformed);
        assert_eq!(
            bearer_token(&TestRequest::default().to_http_request()),
            Err(TokenRejection::Missing)
        );
    }

    #[test]
    fn b64token_admits_exactly_the_rfc_6750_characters() {
        let allowed: Vec<u8> = (0..=255u8)
            .filter(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(b))
            .collect();
        for b in 0..=255u8 {
            // At every position of a long token, so the vectorised blocks and the tail both see it.
            for at in [0, 63, 64, 100, 127, 128, 130] {
                let mut token = vec![b'a'; 131];
                token[at] = b;
                assert_eq!(
                    is_b64token(&token),
                    allowed.contains(&b),
                    "byte {b:#04x} at {at}"
                );
            }
        }
    }
}
