//! OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414) and the JWKS. The document
//! describes exactly what this server does, so an off-the-shelf client works from it alone.

use actix_web::http::header::{ContentType, CACHE_CONTROL};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use serde_json::json;

use crate::clients::CLIENT_JWS_ALGS;
use crate::protocol::scope::OPENID;
use crate::protocol::GrantType;
use crate::state::AppState;

pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    let doc = state
        .documents
        .discovery
        .get_or_init(|| Bytes::from(discovery_document(&state).to_string()));
    cached_json(doc)
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let doc = state
        .documents
        .jwks
        .get_or_init(|| Bytes::from(state.signing.jwks().to_string()));
    cached_json(doc)
}

fn cached_json(doc: &Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .content_type(ContentType::json())
        .body(doc.clone())
}

fn discovery_document(state: &AppState) -> serde_json::Value {
    let mut scopes: Vec<&str> = vec![OPENID];
    scopes.extend(nv_token::ApiScope::ALL.map(nv_token::ApiScope::name));
    let client_algs: Vec<&str> = CLIENT_JWS_ALGS.iter().map(|a| a.name()).collect();
    let mut id_token_algs: Vec<&str> = state.signing.all().iter().map(|k| k.alg().name()).collect();
    id_token_algs.sort();
    id_token_algs.dedup();
    let grant_types: Vec<&str> = GrantType::ALL.iter().map(|g| g.name()).collect();
    let mut doc = json!({
        "issuer": state.issuer,
        "authorization_endpoint": state.endpoint("/authorize"),
        "token_endpoint": state.token_endpoint(),
        "userinfo_endpoint": state.endpoint("/userinfo"),
        "jwks_uri": state.endpoint("/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": id_token_algs,
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post", "none"],
        "token_endpoint_auth_signing_alg_values_supported": client_algs,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": false,
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": client_algs,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        // CIBA Core §4: poll mode only (the CAMARA profile), signed requests accepted.
        "backchannel_authentication_endpoint": state.endpoint("/bc-authorize"),
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_authentication_request_signing_alg_values_supported": client_algs,
        "backchannel_user_code_parameter_supported": false,
    });
    if state.discovery_fast_flow {
        // Not a registered member: the Nokia network-as-code 10 discovery model requires it
        // and reads it as the endpoint of the silent ("fast flow") network authentication,
        // which every authorization request here is (docs/compatibility.md).
        doc["fast_flow_csp_auth_endpoint"] = json!(state.endpoint("/authorize"));
    }
    doc
}
