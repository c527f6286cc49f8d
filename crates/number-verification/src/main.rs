//! `number-verification [--config PATH]`: load settings, start logging, serve.

use std::path::PathBuf;
use std::process::ExitCode;

use number_verification::{telemetry, Application, Settings};

const USAGE: &str = "usage: number-verification [--config PATH]
       number-verification generate-key [--alg RSA-OAEP-256|ECDH-ES+A256KW|dir] --out FILE

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

/// `generate-key`: write a private decryption JWK (what production mode needs before its first
/// start); its public half is served at `/.well-known/jwks.json` once the server runs.
fn generate_key(args: &[String]) -> ExitCode {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let alg = match flag("--alg")
        .map(|a| a.parse::<nv_token::EncryptionAlg>())
        .unwrap_or(Ok(nv_token::EncryptionAlg::RsaOaep256))
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("number-verification: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(out) = flag("--out") else {
        eprintln!("number-verification: generate-key needs --out FILE\n{USAGE}");
        return ExitCode::from(2);
    };
    let path = PathBuf::from(out);
    if path.exists() {
        eprintln!(
            "number-verification: {} exists; not overwriting a key",
            path.display()
        );
        return ExitCode::FAILURE;
    }
    match number_verification::keys::generate(&path, alg) {
        Ok(jwk) => {
            println!(
                "wrote {} (kid {}, {})",
                path.display(),
                jwk.key_id().unwrap_or(""),
                alg.name()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("number-verification: {e}");
            ExitCode::FAILURE
        }
    }
}

/// mimalloc instead of glibc's malloc: per-thread free lists suit many short-lived request
/// allocations on few threads (docs/performance.md measures the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("generate-key") {
        return generate_key(&args[1..]);
    }
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
