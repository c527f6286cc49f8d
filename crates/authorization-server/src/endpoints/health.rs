use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Liveness: the process answers HTTP; touches no dependency (`server_kit::startup::liveness`).
pub use server_kit::startup::liveness as healthz;

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
