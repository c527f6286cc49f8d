//! `number-verification [--config FILE]`: load settings, start logging, serve;
//! `number-verification generate-key [--alg …] --out FILE`: write a private decryption JWK (what
//! production mode needs before its first start; its public half is served at
//! `/.well-known/jwks.json` once the server runs). Anything else is a usage error. The parser
//! and the exit codes are the shared kit's (`server_kit::cli`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use number_verification::{Application, Settings};
use nv_token::EncryptionAlg;
use server_kit::cli::{Binary, Started};

/// mimalloc instead of glibc's malloc: per-thread free lists suit many short-lived request
/// allocations on few threads (docs/performance.md measures the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Subcommand)]
enum Command {
    /// Write a new private decryption JWK; an existing file is never overwritten.
    GenerateKey {
        /// RSA-OAEP-256, ECDH-ES+A256KW or dir.
        #[arg(long, default_value = "RSA-OAEP-256", value_parser = |s: &str| s.parse::<EncryptionAlg>().map_err(|e| e.to_string()))]
        alg: EncryptionAlg,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

struct NumberVerification;

impl Binary for NumberVerification {
    const NAME: &'static str = "number-verification";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "The CAMARA Number Verification API. Settings: built-in \
        defaults, then the TOML file, then NV_* environment variables (NV_SERVER__PORT=8081, \
        NV_MODE=production, ...); see docs/number-verification.md.";
    type Command = Command;
    type Settings = Settings;

    fn command(command: Command) -> Result<String, String> {
        let Command::GenerateKey { alg, out } = command;
        if out.exists() {
            return Err(format!("{} exists; not overwriting a key", out.display()));
        }
        let jwk = number_verification::keys::generate(&out, alg).map_err(|e| e.to_string())?;
        Ok(format!(
            "wrote {} (kid {}, {})",
            out.display(),
            jwk.key_id().unwrap_or(""),
            alg.name()
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
            "number-verification listening on http://{}",
            app.local_addr()
        );
        Ok(Started::new(listening, app.run_until_stopped()))
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    server_kit::cli::main::<NumberVerification>().await
}
