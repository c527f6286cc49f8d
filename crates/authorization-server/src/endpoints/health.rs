use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Liveness: the process answers. Does not touch the store (a Redis outage must not get every
/// replica restarted).
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the shared store answers.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok", "store": "ok"})),
        Err(e) => {
            tracing::warn!(error.cause = %e, "not ready");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "unavailable", "store": "unavailable"}))
        }
    }
}
