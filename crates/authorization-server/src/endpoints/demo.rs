//! Dev mode only: the demo client's redirect URI, showing the code to a human following the
//! README walkthrough. In production mode it answers 404.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::config::Mode;
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

pub async fn callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if state.settings.mode != Mode::Dev {
        return HttpResponse::NotFound().json(
            serde_json::json!({"error": "not_found", "error_description": "no such endpoint"}),
        );
    }
    let p = Params::parse(req.query_string().as_bytes());
    let page = Callback {
        code: p.get("code"),
        state: p.get("state"),
        error: p.get("error"),
        error_description: p.get("error_description"),
    };
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => HttpResponse::InternalServerError().body(format!("template error: {e}")),
    }
}
