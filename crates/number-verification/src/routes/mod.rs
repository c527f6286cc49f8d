//! The route table: one [`configure`] used by `main` (through [`crate::Application`]) and tests.
//!
//! Every path is a full path (no nested scopes), so what is served is readable in one place:
//!
//! | path | method | what |
//! |---|---|---|
//! | `/number-verification/v2/verify` | POST | CAMARA 2.1.0 `phoneNumberVerify` |
//! | `/number-verification/v2/device-phone-number` | GET | CAMARA 2.1.0 `phoneNumberShare` |
//! | `/number-verification/v1/…` | | the same, CAMARA 1.0.0 |
//! | `/number-verification/v0/…` | | the same, CAMARA 0.3.1 (its scopes and codes) |
//! | `/number-verification/v{0,1,2}/openapi.yaml` | GET | the OpenAPI document of that version |
//! | `/number-verification/verify` | POST | seed-004 profile: verify |
//! | `/number-verification/share` | POST | seed-004 profile: `{"phoneNumber": …}` |
//! | `/.well-known/jwks.json` | GET | this server's public encryption keys |
//! | `/healthz`, `/readyz` | GET | liveness, readiness (store ping) |
//!
//! A known path with another method is a CAMARA 405 with `Allow`; anything else is a CAMARA 404
//! (the app's default service, see [`not_found`]). `[[aliases]]` serve one surface's operations
//! under other bases too ([`configure_alias`]; the dev layouts are `config::DEV_ALIASES`).

mod camara;
mod health;
mod jwks;
mod openapi;
mod seed004;

use actix_web::dev::Handler;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpResponse, Resource, Responder};

pub use camara::{V0Share, V0Verify, V1Share, V1Verify, V2Share, V2Verify, VerifyOperation};
pub use seed004::{Seed004Share, Seed004Verify};

use crate::config::{PathAlias, Surface};
use crate::error::{self, ApiError};

/// Register every route, plus the extractor configurations whose errors must be CAMARA errors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().error_handler(error::json_error_handler))
        .app_data(web::PathConfig::default().error_handler(error::path_error_handler))
        .app_data(web::QueryConfig::default().error_handler(error::query_error_handler));

    // CAMARA 2.1.0 (current), 1.0.0, 0.3.1, each with its OpenAPI document; the seed-004
    // profile.
    for (base, surface) in [
        ("/number-verification/v2", Surface::V2),
        ("/number-verification/v1", Surface::V1),
        ("/number-verification/v0", Surface::V0),
        ("/number-verification", Surface::Seed004),
    ] {
        surface_at(cfg, base, surface);
    }
    cfg.service(get("/number-verification/v2/openapi.yaml", openapi::v2))
        .service(get("/number-verification/v1/openapi.yaml", openapi::v1))
        .service(get("/number-verification/v0/openapi.yaml", openapi::v0));

    cfg.service(get("/.well-known/jwks.json", jwks::jwks))
        .service(get("/healthz", health::healthz))
        .service(get("/readyz", health::readyz));
}

/// One surface's operations under another base (`[[aliases]]`, docs/compatibility.md).
pub fn configure_alias(cfg: &mut web::ServiceConfig, alias: &PathAlias) {
    surface_at(cfg, &alias.base, alias.surface);
}

/// `surface`'s operations under `base`: `{base}/verify` and `{base}/device-phone-number`
/// (`{base}/share` for the seed-004 profile).
fn surface_at(cfg: &mut web::ServiceConfig, base: &str, surface: Surface) {
    let path = |op: &str| format!("{base}/{op}");
    match surface {
        Surface::V0 => cfg
            .service(post(&path("verify"), camara::verify::<V0Verify>))
            .service(get(
                &path("device-phone-number"),
                camara::device_phone_number::<V0Share>,
            )),
        Surface::V1 => cfg
            .service(post(&path("verify"), camara::verify::<V1Verify>))
            .service(get(
                &path("device-phone-number"),
                camara::device_phone_number::<V1Share>,
            )),
        Surface::V2 => cfg
            .service(post(&path("verify"), camara::verify::<V2Verify>))
            .service(get(
                &path("device-phone-number"),
                camara::device_phone_number::<V2Share>,
            )),
        Surface::Seed004 => cfg
            .service(post(&path("verify"), seed004::verify))
            .service(post(&path("share"), seed004::share)),
    };
}

/// The app's default service: a CAMARA 404 instead of actix's empty one.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

fn post<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    one_method(path, Method::POST, "POST", handler)
}

fn get<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    one_method(path, Method::GET, "GET", handler)
}

fn one_method<F, Args>(path: &str, method: Method, allow: &'static str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move || async move {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
        }))
}
