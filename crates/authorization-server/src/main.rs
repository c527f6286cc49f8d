//! `authorization-server [--config FILE]` runs the server;
//! `authorization-server generate-key --alg RS256|PS256|ES256 --out FILE` writes a private
//! signing JWK (what production mode needs before its first start). Anything else is a usage
//! error: a misspelt `--config` must not start a server with the dev defaults. The parser and
//! the exit codes are the shared kit's (`server_kit::cli`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use authorization_server::{keys, Application, Settings};
use clap::Subcommand;
use nv_token::SigningAlg;
use server_kit::cli::{Binary, Started};

/// mimalloc instead of glibc's malloc: per-thread free lists suit many short-lived request
/// allocations on few threads (docs/performance.md measures the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Subcommand)]
enum Command {
    /// Write a new private signing JWK (production mode never generates keys).
    GenerateKey {
        /// RS256, PS256 or ES256.
        #[arg(long, default_value = "RS256", value_parser = |s: &str| s.parse::<SigningAlg>().map_err(|e| e.to_string()))]
        alg: SigningAlg,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

struct AuthorizationServer;

impl Binary for AuthorizationServer {
    const NAME: &'static str = "authorization-server";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "The OpenID Connect authorization server. Settings: built-in \
        defaults, then the TOML file, then AS_* environment variables (AS_SERVER__PORT=9000, \
        AS_MODE=production, ...); see docs/configuration.md.";
    type Command = Command;
    type Settings = Settings;

    fn command(command: Command) -> Result<String, String> {
        let Command::GenerateKey { alg, out } = command;
        let jwk = keys::generate_key_file(&out, alg).map_err(|e| e.to_string())?;
        Ok(format!(
            "wrote {} (kid {})",
            out.display(),
            jwk.key_id().unwrap_or("")
        ))
    }

    fn load(config: Option<&Path>) -> Result<Settings, String> {
        Settings::load(config).map_err(|e| e.to_string())
    }

    async fn start(settings: Settings) -> Result<Started, String> {
        let app = Application::build(settings)
            .await
            .map_err(|e| e.to_string())?;
        let listening = format!(
            "authorization server listening on http://{} (issuer {})",
            app.local_addr(),
            app.issuer()
        );
        Ok(Started::new(listening, app.run_until_stopped()))
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    server_kit::cli::main::<AuthorizationServer>().await
}
