//! Logging: `RUST_LOG`-style filter (default `info`), human-readable or JSON (`LOG_FORMAT=json`).
//! Nothing personal is logged: phone numbers appear masked, codes and tokens never.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests, the local stack starting two servers) keeps the first subscriber.
    let _ = result;
}
