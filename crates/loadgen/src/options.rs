//! Command line: `loadgen MODE [OPTIONS]`. Hand-parsed (a handful of flags; no parser crate).

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage:
  loadgen flow|token|verify [OPTIONS]   drive load, print the table and the bound
  loadgen bound [OPTIONS]               only measure the crypto bound of the servers' profile
  loadgen startup --url URL [--idle SECS] [--label TEXT] [--summary FILE] -- CMD [ARGS...]
                                        start CMD, time it until URL answers 200, report idle RSS
  loadgen report FILE                   print the markdown tables of a summary file

modes:
  flow     complete flows: GET /authorize (as the device) -> POST /token (private_key_jwt)
           -> POST /number-verification/v2/verify
  token    POST /token alone (codes and client assertions minted beforehand)
  verify   POST /verify alone (access tokens minted beforehand: each is single use)

options:
  --as URL             authorization server                  [http://127.0.0.1:8080]
  --rs URL             resource server                       [http://127.0.0.1:8081]
  --client-key FILE    the demo client's private JWK          [keys/demo-app.jwk]
  --client-id ID                                             [demo-app]
  --redirect-uri URI                                         [{issuer}/demo/callback]
  --scope SCOPE        [openid dpv:FraudPreventionAndDetection number-verification:verify]
  --phone E164         the number sent to /verify             [+99012345678]
  --duration SECS      measured time                          [10]
  --warmup SECS        unmeasured time before it              [1]
  --concurrency N      requests (or flows) in flight          [32]
  --rate R             open loop: start R flows/requests per second; latency is counted
                       from the scheduled start (no coordinated omission)   [closed loop]
  --threads N          loadgen's own runtime threads          [1]
  --pool-max N         cap of pre-minted codes/tokens/assertions            [250000]
  --mint-seconds S     time budget for minting tokens (verify mode)         [25]
  --as-pid PID         account the authorization server's CPU time
  --rs-pid PID         account the resource server's CPU time
  --label TEXT         profile name for the summary                 [default]
  --summary FILE       append a JSON line with the results to FILE
  --no-bound           skip the crypto measurement (no ratios)

On a machine it shares with the servers, run the load as `chrt --batch 0 loadgen …` (bench.sh
does): an ordinary loadgen can preempt the server that answered it on every response.
";

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

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub mode: Option<Mode>,
    pub as_url: String,
    pub rs_url: String,
    pub client_key: PathBuf,
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub phone: String,
    pub duration: Duration,
    pub warmup: Duration,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub threads: usize,
    pub pool_max: usize,
    pub mint_budget: Duration,
    pub as_pid: Option<u32>,
    pub rs_pid: Option<u32>,
    pub label: String,
    pub summary: Option<PathBuf>,
    pub bound: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            mode: None,
            as_url: "http://127.0.0.1:8080".into(),
            rs_url: "http://127.0.0.1:8081".into(),
            client_key: PathBuf::from("keys/demo-app.jwk"),
            client_id: "demo-app".into(),
            redirect_uri: None,
            scope: "openid dpv:FraudPreventionAndDetection number-verification:verify".into(),
            phone: "+99012345678".into(),
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            concurrency: 32,
            rate: None,
            threads: 1,
            pool_max: 250_000,
            mint_budget: Duration::from_secs(25),
            as_pid: None,
            rs_pid: None,
            label: "default".into(),
            summary: None,
            bound: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StartupOptions {
    pub url: String,
    pub idle: Duration,
    pub label: String,
    pub summary: Option<PathBuf>,
    pub command: Vec<String>,
}

pub enum Command {
    Load(Box<LoadOptions>),
    Startup(StartupOptions),
    Report(PathBuf),
    Help,
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = v
        .parse()
        .map_err(|_| format!("{flag} wants seconds, got `{v}`"))?;
    if !(s.is_finite() && s >= 0.0) {
        return Err(format!("{flag} wants a non-negative number of seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag} wants a number, got `{v}`"))
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some(first) = args.first() else {
        return Ok(Command::Help);
    };
    let mode = match first.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help),
        "report" => {
            let file = args.get(1).ok_or("report needs a summary FILE")?;
            return Ok(Command::Report(PathBuf::from(file)));
        }
        "startup" => return parse_startup(&args[1..]).map(Command::Startup),
        "flow" => Some(Mode::Flow),
        "token" => Some(Mode::Token),
        "verify" => Some(Mode::Verify),
        "bound" => None,
        other => return Err(format!("unknown mode `{other}`")),
    };
    let mut o = LoadOptions {
        mode,
        ..LoadOptions::default()
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        if flag == "--no-bound" {
            o.bound = false;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        match flag.as_str() {
            "--as" => o.as_url = value.trim_end_matches('/').to_owned(),
            "--rs" => o.rs_url = value.trim_end_matches('/').to_owned(),
            "--client-key" => o.client_key = PathBuf::from(value),
            "--client-id" => o.client_id = value.to_owned(),
            "--redirect-uri" => o.redirect_uri = Some(value.to_owned()),
            "--scope" => o.scope = value.to_owned(),
            "--phone" => o.phone = value.to_owned(),
            "--duration" => o.duration = seconds(flag, value)?,
            "--warmup" => o.warmup = seconds(flag, value)?,
            "--concurrency" => o.concurrency = number::<usize>(flag, value)?.max(1),
            "--rate" => {
                let r: f64 = number(flag, value)?;
                if !(r.is_finite() && r > 0.0) {
                    return Err("--rate must be above 0".into());
                }
                o.rate = Some(r);
            }
            "--threads" => o.threads = number::<usize>(flag, value)?.max(1),
            "--pool-max" => o.pool_max = number(flag, value)?,
            "--mint-seconds" => o.mint_budget = seconds(flag, value)?,
            "--as-pid" => o.as_pid = Some(number(flag, value)?),
            "--rs-pid" => o.rs_pid = Some(number(flag, value)?),
            "--label" => o.label = value.to_owned(),
            "--summary" => o.summary = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if o.duration.is_zero() {
        return Err("--duration must be above 0".into());
    }
    Ok(Command::Load(Box::new(o)))
}

fn parse_startup(args: &[String]) -> Result<StartupOptions, String> {
    let mut url = None;
    let mut idle = Duration::from_secs(1);
    let mut label = "server".to_owned();
    let mut summary = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--" {
            let command: Vec<String> = it.cloned().collect();
            if command.is_empty() {
                return Err("startup needs a command after --".into());
            }
            return Ok(StartupOptions {
                url: url.ok_or("startup needs --url")?,
                idle,
                label,
                summary,
                command,
            });
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => url = Some(value.clone()),
            "--idle" => idle = seconds(flag, value)?,
            "--label" => label = value.clone(),
            "--summary" => summary = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Err("startup needs `-- CMD [ARGS...]`".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_flow_run_takes_its_options() {
        let Command::Load(o) = parse(&args(
            "flow --duration 2.5 --concurrency 8 --rate 100 --as http://a:1/",
        ))
        .unwrap() else {
            panic!("not a load command")
        };
        assert_eq!(o.mode, Some(Mode::Flow));
        assert_eq!(o.duration, Duration::from_millis(2500));
        assert_eq!(o.concurrency, 8);
        assert_eq!(o.rate, Some(100.0));
        assert_eq!(o.as_url, "http://a:1");
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse(&args("flow --duration x"))
            .err()
            .unwrap()
            .contains("--duration"));
        assert!(parse(&args("flow --bogus 1"))
            .err()
            .unwrap()
            .contains("--bogus"));
        assert!(parse(&args("startup --url http://x")).is_err());
    }

    #[test]
    fn startup_keeps_the_command_verbatim() {
        let Command::Startup(s) = parse(&args(
            "startup --url http://x/healthz -- server --config a.toml",
        ))
        .unwrap() else {
            panic!("not a startup command")
        };
        assert_eq!(s.command, args("server --config a.toml"));
    }
}
