//! Dev mode only: the demo client's redirect URI, showing the code to a human following the
//! README walkthrough. In production mode it answers 404.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::NO_SUCH_ENDPOINT;
use crate::error::OAuthError;
use crate::protocol::Params;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "demo_callback.html")]
struct Callback<'a> {
    code: Option<&'a str>,
    state: Option<&'a str>,
    error: Option<&'a str>,
    error_description: Option<&'a str>,
}

pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    if !state.demo_callback {
        return Err(OAuthError::not_found(NO_SUCH_ENDPOINT));
    }
    let p = Params::parse(req.query_string().as_bytes());
    let page = Callback {
        code: p.get("code"),
        state: p.get("state"),
        error: p.get("error"),
        error_description: p.get("error_description"),
    };
    let html = page.render().map_err(OAuthError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}
