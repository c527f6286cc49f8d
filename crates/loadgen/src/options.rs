//! Command line: `loadgen MODE [OPTIONS]`, parsed by clap.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Why bench.sh runs the load as SCHED_BATCH (decision 0008), shown under every load mode's help.
const SCHEDULING: &str = "\
On a machine it shares with the servers, run the load as `chrt --batch 0 loadgen …` (bench.sh
does): an ordinary loadgen can preempt the server that answered it on every response.";

/// Drive complete Number Verification flows (or /token, /verify alone) against running servers
/// and compare the throughput with the bound the cryptography sets on this machine.
#[derive(Debug, Parser)]
#[command(name = "loadgen", after_help = SCHEDULING)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Complete flows: GET /authorize (as the device) -> POST /token (private_key_jwt) ->
    /// POST /number-verification/v2/verify
    #[command(after_help = SCHEDULING)]
    Flow(LoadOptions),
    /// POST /token alone (codes and client assertions minted beforehand)
    #[command(after_help = SCHEDULING)]
    Token(LoadOptions),
    /// POST /verify alone (access tokens minted beforehand: each is single use)
    #[command(after_help = SCHEDULING)]
    Verify(LoadOptions),
    /// Only measure the crypto bound of the servers' profile
    Bound(LoadOptions),
    /// Start CMD, time it until URL answers 200, report idle RSS
    Startup(StartupOptions),
    /// Print the markdown tables of a summary file
    Report {
        /// A summary file (`--summary` of the load modes)
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Flow,
    Token,
    Verify,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Flow => "flow",
            Mode::Token => "token",
            Mode::Verify => "verify",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct LoadOptions {
    /// Set from the subcommand; `None` for `bound`.
    #[arg(skip)]
    pub mode: Option<Mode>,
    /// Authorization server
    #[arg(long = "as", value_name = "URL", default_value = "http://127.0.0.1:8080", value_parser = origin)]
    pub as_url: String,
    /// Resource server
    #[arg(long = "rs", value_name = "URL", default_value = "http://127.0.0.1:8081", value_parser = origin)]
    pub rs_url: String,
    /// The demo client's private JWK
    #[arg(long, value_name = "FILE", default_value = "keys/demo-app.jwk")]
    pub client_key: PathBuf,
    #[arg(long, value_name = "ID", default_value = "demo-app")]
    pub client_id: String,
    /// [default: {issuer}/demo/callback]
    #[arg(long, value_name = "URI")]
    pub redirect_uri: Option<String>,
    #[arg(
        long,
        default_value = "openid dpv:FraudPreventionAndDetection number-verification:verify"
    )]
    pub scope: String,
    /// The number sent to /verify
    #[arg(long, value_name = "E164", default_value = "+99012345678")]
    pub phone: String,
    /// Measured time, seconds
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = positive_seconds)]
    pub duration: Duration,
    /// Unmeasured time before it, seconds
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = seconds)]
    pub warmup: Duration,
    /// Requests (or flows) in flight
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = at_least_one)]
    pub concurrency: usize,
    /// Open loop: start R flows/requests per second; latency is counted from the scheduled
    /// start (no coordinated omission) [default: closed loop]
    #[arg(long, value_name = "R", value_parser = rate)]
    pub rate: Option<f64>,
    /// loadgen's own runtime threads
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one)]
    pub threads: usize,
    /// Cap of pre-minted codes/tokens/assertions
    #[arg(long, value_name = "N", default_value_t = 250_000)]
    pub pool_max: usize,
    /// Time budget for minting tokens (verify mode), seconds
    #[arg(long = "mint-seconds", value_name = "S", default_value = "25", value_parser = seconds)]
    pub mint_budget: Duration,
    /// Account the authorization server's CPU time
    #[arg(long, value_name = "PID")]
    pub as_pid: Option<u32>,
    /// Account the resource server's CPU time
    #[arg(long, value_name = "PID")]
    pub rs_pid: Option<u32>,
    /// Profile name for the summary
    #[arg(long, value_name = "TEXT", default_value = "default")]
    pub label: String,
    /// Append a JSON line with the results to FILE
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Skip the crypto measurement (no ratios)
    #[arg(long = "no-bound", action = ArgAction::SetFalse)]
    pub bound: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StartupOptions {
    /// Polled until it answers 200
    #[arg(long)]
    pub url: String,
    /// Idle time before RSS is read, seconds
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = seconds)]
    pub idle: Duration,
    #[arg(long, value_name = "TEXT", default_value = "server")]
    pub label: String,
    /// Append a JSON line with the results to FILE
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// The server to start, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

pub enum Command {
    Load(Box<LoadOptions>),
    Startup(StartupOptions),
    Report(PathBuf),
}

/// Parse the process's arguments; on a mistake (or `--help`) print it and exit.
pub fn parse() -> Command {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Parse `args` (the first is the program name).
pub fn try_parse_from<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Cli::try_parse_from(args).map(command)
}

fn command(cli: Cli) -> Command {
    let load = |mode, mut o: LoadOptions| {
        o.mode = mode;
        Command::Load(Box::new(o))
    };
    match cli.command {
        Sub::Flow(o) => load(Some(Mode::Flow), o),
        Sub::Token(o) => load(Some(Mode::Token), o),
        Sub::Verify(o) => load(Some(Mode::Verify), o),
        Sub::Bound(o) => load(None, o),
        Sub::Startup(o) => Command::Startup(o),
        Sub::Report { file } => Command::Report(file),
    }
}

/// A base URL without its trailing `/`, so paths can be appended.
fn origin(v: &str) -> Result<String, String> {
    Ok(v.trim_end_matches('/').to_owned())
}

fn seconds(v: &str) -> Result<Duration, String> {
    let s: f64 = v.parse().map_err(|_| format!("not seconds: `{v}`"))?;
    if !(s.is_finite() && s >= 0.0) {
        return Err("wants a non-negative number of seconds".into());
    }
    Ok(Duration::from_secs_f64(s))
}

fn positive_seconds(v: &str) -> Result<Duration, String> {
    let d = seconds(v)?;
    if d.is_zero() {
        return Err("must be above 0".into());
    }
    Ok(d)
}

/// 0 means 1: there is always one request in flight, one thread.
fn at_least_one(v: &str) -> Result<usize, String> {
    let n: usize = v.parse().map_err(|_| format!("not a number: `{v}`"))?;
    Ok(n.max(1))
}

fn rate(v: &str) -> Result<f64, String> {
    let r: f64 = v.parse().map_err(|_| format!("not a number: `{v}`"))?;
    if !(r.is_finite() && r > 0.0) {
        return Err("must be above 0".into());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, String> {
        try_parse_from(std::iter::once("loadgen").chain(s.split_whitespace()))
            .map_err(|e| e.to_string())
    }

    fn load(s: &str) -> LoadOptions {
        match parse(s) {
            Ok(Command::Load(o)) => *o,
            Ok(_) => panic!("not a load command"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_flow_run_takes_its_options() {
        let o = load("flow --duration 2.5 --concurrency 8 --rate 100 --as http://a:1/ --no-bound");
        assert_eq!(o.mode, Some(Mode::Flow));
        assert_eq!(o.duration, Duration::from_millis(2500));
        assert_eq!(o.concurrency, 8);
        assert_eq!(o.rate, Some(100.0));
        assert_eq!(o.as_url, "http://a:1");
        assert!(!o.bound);
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let o = load("bound");
        assert_eq!(o.mode, None);
        assert_eq!(
            (o.as_url.as_str(), o.rs_url.as_str()),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8081")
        );
        assert_eq!(o.client_key, PathBuf::from("keys/demo-app.jwk"));
        assert_eq!((o.client_id.as_str(), o.redirect_uri), ("demo-app", None));
        assert_eq!(
            o.scope,
            "openid dpv:FraudPreventionAndDetection number-verification:verify"
        );
        assert_eq!(o.phone, "+99012345678");
        assert_eq!(
            (o.duration, o.warmup, o.mint_budget),
            (
                Duration::from_secs(10),
                Duration::from_secs(1),
                Duration::from_secs(25)
            )
        );
        assert_eq!((o.concurrency, o.threads, o.pool_max), (32, 1, 250_000));
        assert_eq!(
            (o.rate, o.as_pid, o.rs_pid, o.summary),
            (None, None, None, None)
        );
        assert_eq!(o.label, "default");
        assert!(o.bound);
        assert_eq!(load("verify --concurrency 0").concurrency, 1);
    }

    #[test]
    fn mistakes_are_named() {
        for (args, named) in [
            ("flow --duration x", "--duration"),
            ("flow --duration 0", "--duration"),
            ("flow --rate 0", "--rate"),
            ("flow --bogus 1", "--bogus"),
            ("token --no-bound=1", "--no-bound"),
            ("fly", "fly"),
        ] {
            let e = parse(args).err().unwrap_or_else(|| panic!("{args} parsed"));
            assert!(e.contains(named), "{args}: {e}");
        }
        assert!(parse("startup --url http://x").is_err());
        assert!(parse("startup -- server").is_err(), "--url is required");
    }

    #[test]
    fn startup_keeps_the_command_verbatim() {
        let Ok(Command::Startup(s)) =
            parse("startup --url http://x/healthz -- server --config a.toml --url y")
        else {
            panic!("not a startup command")
        };
        assert_eq!(s.url, "http://x/healthz");
        assert_eq!(s.idle, Duration::from_secs(1));
        assert_eq!(s.label, "server");
        assert_eq!(s.command, ["server", "--config", "a.toml", "--url", "y"]);
    }
}
