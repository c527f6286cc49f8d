//! `authorization-server [--config FILE]` runs the server;
//! `authorization-server generate-key --alg RS256|PS256|ES256 --out FILE` writes a private
//! signing JWK (what production mode needs before its first start).

use std::path::PathBuf;
use std::process::ExitCode;

use authorization_server::{keys, telemetry, Application, Settings};

/// mimalloc instead of glibc's malloc: per-thread free lists suit many short-lived request
/// allocations on few threads (docs/performance.md measures the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authorization-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

async fn run(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("generate-key") {
        let alg = flag(args, "--alg")
            .unwrap_or_else(|| "RS256".into())
            .parse()
            .map_err(|e| format!("{e}"))?;
        let out = PathBuf::from(flag(args, "--out").ok_or("generate-key needs --out FILE")?);
        let jwk = keys::generate_key_file(&out, alg).map_err(|e| e.to_string())?;
        println!(
            "wrote {} (kid {})",
            out.display(),
            jwk.key_id().unwrap_or("")
        );
        return Ok(());
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: authorization-server [--config FILE]\n       authorization-server generate-key --alg RS256|PS256|ES256 --out FILE");
        return Ok(());
    }
    let config = flag(args, "--config").map(PathBuf::from);
    let settings = Settings::load(config.as_deref()).map_err(|e| e.to_string())?;
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "authorization server listening on http://{} (issuer {})",
        app.local_addr(),
        app.issuer()
    );
    app.run_until_stopped().await.map_err(|e| e.to_string())
}
