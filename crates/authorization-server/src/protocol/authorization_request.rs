//! The authorization request (OIDC Core §3.1.2.1) as types, parsed once from the parameters it
//! is processed with — a request object's, once unpacked ([`super::request_object`]).
//!
//! Two steps, because their errors go to different places (CAMARA ICM Appendix A): first the
//! [`Requester`] — the client and a redirect URI registered for it — whose errors are never
//! redirected (an open redirector otherwise); then the rest, whose errors go back to the client.

use std::fmt;
use std::sync::Arc;

use super::login_hint::LoginHintError;
use super::{CodeChallenge, LoginHint, Params, Purpose, ScopeError, ScopeSet};
use crate::clients::{Client, ClientRegistry};
use crate::error::{ErrorCode, OAuthError};
use nv_token::ApiScope;

/// A redirect URI registered for the client, by exact string comparison (RFC 9700 §4.1.3: no
/// prefix or pattern matching).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who asks, and where the answer may go.
#[derive(Debug)]
pub struct Requester {
    pub client: Arc<Client>,
    pub redirect_uri: RedirectUri,
}

impl Requester {
    /// `client_id`, registered, and `redirect_uri`, registered for it. Errors must be shown, not
    /// redirected.
    pub fn parse(params: &Params, clients: &ClientRegistry) -> Result<Self, OAuthError> {
        let refuse = OAuthError::invalid_request;
        if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
            return Err(refuse("client_id and redirect_uri must each be given once"));
        }
        let client_id = params
            .get("client_id")
            .ok_or_else(|| refuse("client_id is missing"))?;
        let client = clients
            .get(client_id)
            .ok_or_else(|| OAuthError::invalid_client("client_id is not a registered client"))?;
        // OIDC Core §3.1.2.1 makes redirect_uri REQUIRED.
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or_else(|| refuse("redirect_uri is missing"))?;
        if !client.redirect_uri_registered(redirect_uri) {
            return Err(refuse(
                "redirect_uri is not registered for this client (exact match required)",
            ));
        }
        Ok(Self {
            redirect_uri: RedirectUri(redirect_uri.to_owned()),
            client,
        })
    }
}

/// `response_type`: the authorization code flow only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    Code,
}

/// `prompt` (OIDC Core §3.1.2.1), as far as a silent network authentication can honour it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// No `prompt`.
    Unspecified,
    /// `none`: no interaction; when nobody is identified the answer is `login_required`.
    None,
    /// `login`: a fresh authentication, which every network lookup is.
    Login,
}

impl Prompt {
    pub fn parse(prompt: Option<&str>) -> Result<Self, OAuthError> {
        let Some(prompt) = prompt else {
            return Ok(Prompt::Unspecified);
        };
        let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
        if values.contains(&"none") && values.len() > 1 {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
        for v in &values {
            match *v {
                // A silent network authentication is always fresh: login is met, none honoured.
                "none" | "login" => {}
                "consent" => {
                    return Err(OAuthError::new(
                        ErrorCode::ConsentRequired,
                        "this server cannot show a consent page",
                    ))
                }
                "select_account" => {
                    return Err(OAuthError::new(
                        ErrorCode::AccountSelectionRequired,
                        "the account is the SIM in the device; there is nothing to select",
                    ))
                }
                _ => return Err(OAuthError::invalid_request("prompt has an unknown value")),
            }
        }
        Ok(match values.first() {
            Some(&"none") => Prompt::None,
            Some(_) => Prompt::Login,
            None => Prompt::Unspecified,
        })
    }
}

/// An authorization request, checked: every field holds a valid value the client may ask for.
pub struct AuthorizationRequest {
    pub client: Arc<Client>,
    pub redirect_uri: RedirectUri,
    pub response_type: ResponseType,
    /// `openid`, the purpose (`dpv:…`) and the API scopes, all registered for the client.
    pub scope: ScopeSet,
    /// PKCE (S256); required of public clients.
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    /// Every authentication here is a fresh network lookup, so any `max_age` is met; only its
    /// syntax can be wrong.
    pub max_age: Option<u64>,
    pub login_hint: Option<LoginHint>,
    /// A `login_hint` was sent in a form this server does not support, and set aside.
    pub unsupported_login_hint: bool,
    /// The client's `state`, echoed in the answer.
    pub state: Option<String>,
    /// For the ID token.
    pub nonce: Option<String>,
}

/// Without `state` and `nonce`, which are the client's values.
impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("client", &self.client.id)
            .field("redirect_uri", &self.redirect_uri)
            .field("response_type", &self.response_type)
            .field("scope", &self.scope)
            .field("code_challenge", &self.code_challenge)
            .field("prompt", &self.prompt)
            .field("max_age", &self.max_age)
            .field("login_hint", &self.login_hint)
            .finish_non_exhaustive()
    }
}

impl AuthorizationRequest {
    /// The request `requester` sent with `params`; errors go back to the client.
    pub fn parse(requester: Requester, params: &Params) -> Result<Self, OAuthError> {
        let refuse = OAuthError::invalid_request;
        let response_type = match params.get("response_type") {
            None => return Err(refuse("response_type is missing")),
            Some("code") => ResponseType::Code,
            Some(_) => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ))
            }
        };
        if params.get("response_mode").is_some_and(|m| m != "query") {
            return Err(refuse("only response_mode=query is supported"));
        }
        let client = requester.client;
        let invalid_scope = |e: ScopeError| OAuthError::new(ErrorCode::InvalidScope, e.to_string());
        let also = match params.get("purpose") {
            Some(purpose) if client.compat.purpose_parameter => {
                Some(purpose_parameter(purpose).ok_or_else(|| {
                    OAuthError::new(
                        ErrorCode::InvalidScope,
                        "purpose must be dpv:<Purpose>:number-verification",
                    )
                })?)
            }
            _ => None,
        };
        let scope = match ScopeSet::parse_with(
            params.get("scope").unwrap_or(""),
            also,
            client.compat.default_purpose.as_ref(),
        ) {
            Ok(s) => s,
            Err(ScopeError::Missing) => return Err(refuse("scope is missing")),
            Err(e) => return Err(invalid_scope(e)),
        };
        scope
            .check_allowed(&client.scopes, &client.purposes)
            .map_err(invalid_scope)?;
        let code_challenge = CodeChallenge::from_request(
            params.get("code_challenge"),
            params.get("code_challenge_method"),
        )
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
        if code_challenge.is_none() && client.is_public() {
            // RFC 9700 §2.1.1 / ICM Appendix A: PKCE is required for public clients.
            return Err(refuse(
                "code_challenge (PKCE, S256) is required for public clients",
            ));
        }
        let prompt = Prompt::parse(params.get("prompt"))?;
        let max_age = params
            .get("max_age")
            .map(|m| {
                m.parse::<u64>()
                    .map_err(|_| refuse("max_age must be a non-negative integer"))
            })
            .transpose()?;
        // The profile ("Format of login_hint") RECOMMENDS not failing on a hint form the server
        // does not support: such a hint is set aside. A malformed hint of a supported form is
        // still an error, and so is an unsupported one where the hint is the only identity
        // (playground mode, [`AuthorizationRequest::unsupported_login_hint`]).
        let (login_hint, unsupported_login_hint) = match params.get("login_hint").map(str::parse) {
            None => (None, false),
            Some(Ok(hint)) => (Some(hint), false),
            Some(Err(LoginHintError::UnknownFormat)) => (None, true),
            Some(Err(e)) => return Err(OAuthError::invalid_request(e.to_string())),
        };
        Ok(Self {
            client,
            redirect_uri: requester.redirect_uri,
            response_type,
            scope,
            code_challenge,
            prompt,
            max_age,
            login_hint,
            unsupported_login_hint,
            state: params.get("state").map(str::to_owned),
            nonce: params.get("nonce").map(str::to_owned),
        })
    }
}

/// Glide's `purpose` parameter, `dpv:<Purpose>:<api>`: the purpose and the API scope it names.
fn purpose_parameter(value: &str) -> Option<(Purpose, ApiScope)> {
    let (purpose, api) = value.rsplit_once(':')?;
    let scope = match api {
        "number-verification" => ApiScope::Verify,
        _ => return None,
    };
    Some((purpose.parse().ok()?, scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthMethod, ClientSettings, Settings};

    const CHALLENGE: &str = "nw4Cig7sk_DT0QSX9Qn-3UKs33fmbbp8bRuv1b5-wXw";
    const SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify";

    fn registry() -> ClientRegistry {
        let client = |id: &str, methods| ClientSettings {
            id: id.into(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            auth_methods: methods,
            secret: None,
            keys: None,
            scopes: vec!["number-verification:verify".into()],
            purposes: vec!["dpv:FraudPreventionAndDetection".into()],
            sector_identifier: None,
            id_token_signed_response_alg: None,
            grant_types: vec![crate::protocol::GrantType::AuthorizationCode],
            trusted_number_assertion: false,
            two_legged_scopes: Vec::new(),
            ipport_hints: false,
            compat: Default::default(),
        };
        ClientRegistry::from_settings(
            &Settings::default(),
            &[
                client("rp", vec![AuthMethod::ClientSecretBasic]),
                client("public", vec![AuthMethod::None]),
            ],
            &reqwest::Client::new(),
            &(std::sync::Arc::new(nv_store::SystemClock) as Arc<dyn nv_store::Clock>),
        )
        .unwrap()
    }

    fn query(pairs: &[(&str, &str)]) -> Params {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(pairs);
        Params::parse(q.finish().as_bytes())
    }

    /// The standard request of `rp`, with `extra` added or replacing (an empty value removes).
    fn params(extra: &[(&str, &str)]) -> Params {
        let mut p = vec![
            ("client_id", "rp"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", SCOPE),
        ];
        for (k, v) in extra {
            p.retain(|(pk, _)| pk != k);
            p.push((k, v));
        }
        query(&p)
    }

    fn parse(extra: &[(&str, &str)]) -> Result<AuthorizationRequest, OAuthError> {
        let p = params(extra);
        AuthorizationRequest::parse(Requester::parse(&p, &registry())?, &p)
    }

    fn refused(extra: &[(&str, &str)]) -> (ErrorCode, String) {
        match parse(extra) {
            Ok(r) => panic!("accepted: {r:?}"),
            Err(e) => (e.code(), e.description().into_owned()),
        }
    }

    #[test]
    fn every_field_is_parsed() {
        let r = parse(&[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
            ("max_age", "60"),
            ("login_hint", "tel:+99000000001"),
            ("state", "st-1"),
            ("nonce", "n-1"),
            ("response_mode", "query"),
        ])
        .unwrap();
        assert_eq!(r.client.id, "rp");
        assert_eq!(r.redirect_uri.as_str(), "https://rp.example/cb");
        assert_eq!(r.response_type, ResponseType::Code);
        assert_eq!(r.scope, ScopeSet::parse(SCOPE).unwrap());
        assert_eq!(
            r.scope.purpose.as_ref().map(|p| p.as_str()),
            Some("dpv:FraudPreventionAndDetection")
        );
        assert!(r.code_challenge.is_some());
        assert_eq!(r.prompt, Prompt::None);
        assert_eq!(r.max_age, Some(60));
        assert_eq!(r.login_hint, Some("tel:+99000000001".parse().unwrap()));
        assert_eq!(r.state.as_deref(), Some("st-1"));
        assert_eq!(r.nonce.as_deref(), Some("n-1"));

        let r = parse(&[]).unwrap();
        assert_eq!(r.prompt, Prompt::Unspecified);
        assert!(r.code_challenge.is_none() && r.max_age.is_none() && r.login_hint.is_none());
        assert!(r.state.is_none() && r.nonce.is_none());
    }

    #[test]
    fn the_requester_errors_are_the_pages() {
        let reg = registry();
        let page = |p: &Params| match Requester::parse(p, &reg) {
            Ok(r) => panic!("accepted: {r:?}"),
            Err(e) => (e.code(), e.description().into_owned()),
        };
        assert_eq!(
            page(&query(&[("client_id", "rp"), ("client_id", "rp")])),
            (
                ErrorCode::InvalidRequest,
                "client_id and redirect_uri must each be given once".into()
            )
        );
        assert_eq!(
            page(&query(&[])),
            (ErrorCode::InvalidRequest, "client_id is missing".into())
        );
        assert_eq!(
            page(&query(&[("client_id", "nobody")])),
            (
                ErrorCode::InvalidClient,
                "client_id is not a registered client".into()
            )
        );
        assert_eq!(
            page(&query(&[("client_id", "rp")])),
            (ErrorCode::InvalidRequest, "redirect_uri is missing".into())
        );
        assert_eq!(
            page(&query(&[
                ("client_id", "rp"),
                ("redirect_uri", "https://rp.example/cb/")
            ])),
            (
                ErrorCode::InvalidRequest,
                "redirect_uri is not registered for this client (exact match required)".into()
            )
        );
    }

    #[test]
    fn each_field_is_refused_as_before() {
        use ErrorCode::*;
        type Case = (
            &'static [(&'static str, &'static str)],
            ErrorCode,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                &[("response_type", "")],
                InvalidRequest,
                "response_type is missing",
            ),
            (
                &[("response_type", "token")],
                UnsupportedResponseType,
                "only response_type=code is supported",
            ),
            (
                &[("response_mode", "fragment")],
                InvalidRequest,
                "only response_mode=query is supported",
            ),
            (&[("scope", "")], InvalidRequest, "scope is missing"),
            (
                &[("scope", "openid admin")],
                InvalidScope,
                "unknown scope `admin`",
            ),
            (
                &[("scope", "openid number-verification:verify")],
                InvalidScope,
                "exactly one purpose (dpv:<Purpose>) is required with Number Verification scopes",
            ),
            (
                &[("scope", "openid dpv:Marketing number-verification:verify")],
                InvalidScope,
                "the client is not registered for `dpv:Marketing`",
            ),
            (
                &[
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "plain"),
                ],
                InvalidRequest,
                "code_challenge_method must be S256 (plain is not supported)",
            ),
            (
                &[("client_id", "public")],
                InvalidRequest,
                "code_challenge (PKCE, S256) is required for public clients",
            ),
            (
                &[("prompt", "none login")],
                InvalidRequest,
                "prompt=none cannot be combined with other values",
            ),
            (
                &[("prompt", "consent")],
                ConsentRequired,
                "this server cannot show a consent page",
            ),
            (
                &[("prompt", "select_account")],
                AccountSelectionRequired,
                "the account is the SIM in the device; there is nothing to select",
            ),
            (
                &[("prompt", "bogus")],
                InvalidRequest,
                "prompt has an unknown value",
            ),
            (
                &[("max_age", "-1")],
                InvalidRequest,
                "max_age must be a non-negative integer",
            ),
            (
                &[("login_hint", "tel:alice")],
                InvalidRequest,
                "login_hint tel: must be an E.164 number such as tel:+33612345678",
            ),
        ];
        for (extra, code, description) in cases {
            assert_eq!(
                refused(extra),
                (*code, description.to_string()),
                "{extra:?}"
            );
        }
    }

    #[test]
    fn a_hint_of_an_unsupported_form_is_set_aside() {
        let r = parse(&[("login_hint", "alice@example.com")]).unwrap();
        assert!(r.login_hint.is_none() && r.unsupported_login_hint);
        let r = parse(&[("login_hint", "phone_number:+99000000001")]).unwrap();
        assert_eq!(r.login_hint, Some("tel:+99000000001".parse().unwrap()));
        assert!(!r.unsupported_login_hint);
    }

    #[test]
    fn the_purpose_parameter_names_a_purpose_and_an_api() {
        let (p, s) =
            purpose_parameter("dpv:FraudPreventionAndDetection:number-verification").unwrap();
        assert_eq!(
            (p.as_str(), s),
            ("dpv:FraudPreventionAndDetection", ApiScope::Verify)
        );
        for bad in [
            "dpv:FraudPreventionAndDetection",
            "dpv:FraudPreventionAndDetection:sim-swap",
            "FraudPreventionAndDetection:number-verification",
            "dpv::number-verification",
        ] {
            assert!(purpose_parameter(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn prompt_values() {
        assert_eq!(Prompt::parse(None).unwrap(), Prompt::Unspecified);
        assert_eq!(Prompt::parse(Some("none")).unwrap(), Prompt::None);
        assert_eq!(Prompt::parse(Some("login")).unwrap(), Prompt::Login);
        assert_eq!(
            Prompt::parse(Some(" login  login ")).unwrap(),
            Prompt::Login
        );
        assert_eq!(Prompt::parse(Some(" ")).unwrap(), Prompt::Unspecified);
    }
}
