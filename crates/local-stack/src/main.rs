//! `local-stack` — start both servers with dev defaults (in-memory store, dev keys generated into
//! `keys/`, playground on, the loopback address mapped to +99012345678).
//! `local-stack demo` — run the demo relying party against running servers.

use std::path::PathBuf;
use std::process::ExitCode;

use local_stack::demo::{self, DemoConfig};

#[tokio::main]
async fn main() -> ExitCode {
    authorization_server::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo::run(&demo_config(&args[1..])).await.map(|_| ()),
        Some("--help") | Some("-h") | Some("help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => run_stack(&args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-stack: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage:
  local-stack [--as-config FILE] [--nv-config FILE]   start both servers (dev defaults)
  local-stack demo [--issuer URL] [--api URL] [--keys DIR] [--phone +E164]
                                                      run the demo relying party";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn demo_config(args: &[String]) -> DemoConfig {
    let mut c = DemoConfig::default();
    if let Some(v) = flag(args, "--issuer") {
        c.issuer = v;
    }
    if let Some(v) = flag(args, "--api") {
        c.api = v;
    }
    if let Some(v) = flag(args, "--keys") {
        c.keys_dir = PathBuf::from(v);
    }
    if let Some(v) = flag(args, "--phone") {
        c.phone_number = v;
    }
    c
}

async fn run_stack(args: &[String]) -> Result<(), String> {
    let as_config = flag(args, "--as-config").map(PathBuf::from);
    let nv_config = flag(args, "--nv-config").map(PathBuf::from);
    let nv_settings = number_verification::config::Settings::load(nv_config.as_deref())
        .map_err(|e| e.to_string())?;
    let as_settings =
        authorization_server::Settings::load(as_config.as_deref()).map_err(|e| e.to_string())?;
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
