//! `GET /.well-known/jwks.json`: this server's public encryption keys, which the authorization
//! server fetches to encrypt access tokens to it (asymmetric keys only; a `dir` secret is never
//! published — nv-token's `DecryptionKeys::public_jwks` leaves it out).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.public_jwks.clone())
}
