//! `authorization-server [--config FILE]` runs the server;
//! `authorization-server generate-key --alg RS256|PS256|ES256 --out FILE` writes a private
//! signing JWK (what production mode needs before its first start). Anything else is a usage
//! error: a misspelt `--config` must not start a server with the dev defaults.

use std::path::PathBuf;
use std::process::ExitCode;

use authorization_server::{keys, telemetry, Application, Settings};
use clap::{Parser, Subcommand};
use nv_token::SigningAlg;

/// mimalloc instead of glibc's malloc: per-thread free lists suit many short-lived request
/// allocations on few threads (docs/performance.md measures the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The OpenID Connect authorization server. Settings: built-in defaults, then the TOML file,
/// then AS_* environment variables (AS_SERVER__PORT=9000, AS_MODE=production, ...); see
/// docs/configuration.md.
#[derive(Parser)]
#[command(name = "authorization-server", version)]
struct Cli {
    /// The TOML configuration file.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new private signing JWK (production mode never generates keys).
    GenerateKey {
        /// RS256, PS256 or ES256.
        #[arg(long, default_value = "RS256", value_parser = parse_alg)]
        alg: SigningAlg,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

fn parse_alg(s: &str) -> Result<SigningAlg, String> {
    s.parse().map_err(|e| format!("{e}"))
}

#[actix_web::main]
async fn main() -> ExitCode {
    // Usage errors exit 2 with the usage text, before anything starts.
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authorization-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Some(Command::GenerateKey { alg, out }) = cli.command {
        let jwk = keys::generate_key_file(&out, alg).map_err(|e| e.to_string())?;
        println!(
            "wrote {} (kid {})",
            out.display(),
            jwk.key_id().unwrap_or("")
        );
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    telemetry::init(settings.log.format)?;
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
