//! `number-verification [--config PATH]`: load settings, start logging, serve.

use std::path::PathBuf;
use std::process::ExitCode;

use number_verification::{telemetry, Application, Settings};

const USAGE: &str = "usage: number-verification [--config PATH]

Settings: built-in defaults, then the TOML file, then NV_* environment variables
(NV_SERVER__PORT=8081, NV_MODE=production, ...). See docs/number-verification.md.";

fn config_path() -> Result<Option<PathBuf>, String> {
    let mut args = std::env::args_os().skip(1);
    let mut path = None;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--config") | Some("-c") => {
                path = Some(PathBuf::from(args.next().ok_or("--config needs a path")?));
            }
            Some(s) if s.starts_with("--config=") => {
                path = Some(PathBuf::from(&s["--config=".len()..]));
            }
            Some("--help") | Some("-h") => return Err(String::new()),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(path)
}

#[actix_web::main]
async fn main() -> ExitCode {
    let path = match config_path() {
        Ok(p) => p,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let settings = match Settings::load(path.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("number-verification: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = telemetry::init(settings.log.format) {
        eprintln!("number-verification: cannot start logging: {e}");
        return ExitCode::FAILURE;
    }
    let mode = settings.mode;
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("number-verification: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %app.local_addr(), mode = ?mode, "number-verification listening");
    println!(
        "number-verification listening on http://{}",
        app.local_addr()
    );
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            ExitCode::FAILURE
        }
    }
}
