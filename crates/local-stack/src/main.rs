//! `local-stack` — start both servers with dev defaults (in-memory store, dev keys generated into
//! `keys/`, playground on, the loopback address mapped to +99012345678).
//! `local-stack demo` — run the demo relying party against running servers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use local_stack::demo::{self, DemoConfig};

/// Both servers in one process with the dev defaults, or the demo relying party against them.
/// Anything else is a usage error.
#[derive(Parser)]
#[command(name = "local-stack")]
struct Cli {
    /// The authorization server's TOML configuration (dev defaults without one).
    #[arg(long, value_name = "FILE")]
    as_config: Option<PathBuf>,
    /// The Number Verification server's TOML configuration.
    #[arg(long, value_name = "FILE")]
    nv_config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo relying party against running servers and print every exchange.
    Demo {
        /// The authorization server's issuer.
        #[arg(long)]
        issuer: Option<String>,
        /// The Number Verification API's base URL.
        #[arg(long)]
        api: Option<String>,
        /// Where the demo client's key is.
        #[arg(long, value_name = "DIR")]
        keys: Option<PathBuf>,
        /// The number to verify (E.164).
        #[arg(long, value_name = "+E164")]
        phone: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Demo {
            issuer,
            api,
            keys,
            phone,
        }) => {
            let _ = server_kit::telemetry::init(Default::default());
            let mut c = DemoConfig::default();
            c.issuer = issuer.unwrap_or(c.issuer);
            c.api = api.unwrap_or(c.api);
            c.keys_dir = keys.unwrap_or(c.keys_dir);
            c.phone_number = phone.unwrap_or(c.phone_number);
            demo::run(&c).await.map(|_| ())
        }
        None => run_stack(cli.as_config, cli.nv_config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-stack: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_stack(as_config: Option<PathBuf>, nv_config: Option<PathBuf>) -> Result<(), String> {
    let nv_settings = number_verification::config::Settings::load(nv_config.as_deref())
        .map_err(|e| e.to_string())?;
    let as_settings =
        authorization_server::Settings::load(as_config.as_deref()).map_err(|e| e.to_string())?;
    // One subscriber for both servers, as the authorization server's settings say.
    server_kit::telemetry::init(as_settings.log.format)?;
    let loopback = as_settings.dev.loopback_msisdn.as_str().to_owned();
    let secret = as_settings.dev.demo_client_secret.expose().to_owned();
    // The resource server first: in dev mode it generates its encryption key, which the
    // authorization server fetches from its JWKS when it issues the first token.
    let nv = number_verification::Application::build(nv_settings)
        .await
        .map_err(|e| e.to_string())?;
    let auth = authorization_server::Application::build(as_settings)
        .await
        .map_err(|e| e.to_string())?;
    let issuer = auth.issuer().to_owned();
    let api = format!("http://{}", nv.local_addr());
    println!(
        "
  Authorization server   {issuer}
      discovery          {issuer}/.well-known/openid-configuration
  Number Verification    {api}/number-verification/v2   (also /v1, /v0, and /number-verification/verify|share)
  Demo client            client_id demo-app, secret {secret} (client_secret_basic / client_secret_post),
                         private_key_jwt key keys/{key}
  Redirect URI           {issuer}/demo/callback
  Scopes                 openid dpv:FraudPreventionAndDetection number-verification:verify
                         number-verification:device-phone-number:read
  This machine           127.0.0.1 and ::1 are the subscriber {loopback}
                         (playground: a login_hint=tel:+990… number is taken as the identity)

  Next: in another terminal run `cargo run --bin local-stack -- demo`, or follow the README walkthrough.
  Stop with Ctrl-C.
",
        key = authorization_server::startup::DEMO_CLIENT_KEY_FILE,
    );
    let (a, b) = tokio::join!(auth.run_until_stopped(), nv.run_until_stopped());
    a.and(b).map_err(|e| e.to_string())
}
