//! `number-verification [--config PATH]`: load settings, start logging, serve;
//! `number-verification generate-key [--alg …] --out FILE`: write a private decryption JWK (what
//! production mode needs before its first start; its public half is served at
//! `/.well-known/jwks.json` once the server runs). Anything else is a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use number_verification::{telemetry, Application, Settings};
use nv_token::EncryptionAlg;

/// The CAMARA Number Verification API. Settings: built-in defaults, then the TOML file, then
/// NV_* environment variables (NV_SERVER__PORT=8081, NV_MODE=production, ...); see
/// docs/number-verification.md.
#[derive(Parser)]
#[command(name = "number-verification", version)]
struct Cli {
    /// The TOML configuration file.
    #[arg(long, short, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new private decryption JWK; an existing file is never overwritten.
    GenerateKey {
        /// RSA-OAEP-256, ECDH-ES+A256KW or dir.
        #[arg(long, default_value = "RSA-OAEP-256", value_parser = parse_alg)]
        alg: EncryptionAlg,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

fn parse_alg(s: &str) -> Result<EncryptionAlg, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn generate_key(alg: EncryptionAlg, path: PathBuf) -> ExitCode {
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
    let cli = Cli::parse();
    if let Some(Command::GenerateKey { alg, out }) = cli.command {
        return generate_key(alg, out);
    }
    let path = cli.config;
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
