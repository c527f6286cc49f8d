//! The command line of both server binaries: one parser shape and one `main`.
//!
//! `<binary> [--config FILE]` runs the server; `<binary> <command> …` runs one of the binary's
//! own commands (`generate-key`). Anything else is a usage error, printed with the usage: a
//! misspelt `--config` must never start a server with the dev defaults.
//!
//! Exit codes: 0 done; 1 the server could not start or stopped with an error, or a command
//! failed; 2 a usage error (clap's) or settings that do not load.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::LogSettings;

/// The arguments both binaries take; `C` are the binary's own commands.
#[derive(Parser)]
pub struct Cli<C: Subcommand> {
    /// The TOML configuration file.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<C>,
}

/// What a server binary tells the shared [`main`].
pub trait Binary {
    /// The binary's name: in the usage text and in front of every error message.
    const NAME: &'static str;
    /// `--version` (the binary crate's `CARGO_PKG_VERSION`).
    const VERSION: &'static str;
    /// The first lines of `--help`: what the server is, where its settings come from.
    const ABOUT: &'static str;
    /// The binary's own commands.
    type Command: Subcommand;
    /// The settings tree; its `[log]` section configures the subscriber.
    type Settings: AsRef<LogSettings>;

    /// Runs a command; `Ok` is what it prints.
    fn command(command: Self::Command) -> Result<String, String>;
    /// Defaults, then the file, then the environment, checked.
    fn load(config: Option<&Path>) -> Result<Self::Settings, String>;
    /// Binds and builds the server (logging is running by then).
    fn start(settings: Self::Settings) -> impl Future<Output = Result<Started, String>>;
}

/// A server that is bound and built: the line to print, and the serving itself.
pub struct Started {
    listening: String,
    run: Pin<Box<dyn Future<Output = std::io::Result<()>>>>,
}

impl Started {
    /// `listening` is printed once, before `run` is awaited.
    pub fn new(
        listening: String,
        run: impl Future<Output = std::io::Result<()>> + 'static,
    ) -> Self {
        Self {
            listening,
            run: Box::pin(run),
        }
    }
}

/// Parses the process's arguments; on a usage error (or `--help`, `--version`) prints it and
/// exits (2 for an error, 0 otherwise) before anything starts.
pub fn parse<B: Binary>() -> Cli<B::Command> {
    let matches = Cli::<B::Command>::command()
        .name(B::NAME)
        .bin_name(B::NAME)
        .version(B::VERSION)
        .about(B::ABOUT)
        .get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The whole `main` of a server binary: arguments, command or settings, logging, start, serve.
pub async fn main<B: Binary>() -> ExitCode {
    let cli = parse::<B>();
    let fail = |e: &str, code: u8| {
        eprintln!("{}: {e}", B::NAME);
        ExitCode::from(code)
    };
    if let Some(command) = cli.command {
        return match B::command(command) {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e, 1),
        };
    }
    let settings = match B::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => return fail(&e, 2),
    };
    if let Err(e) = crate::telemetry::init(settings.as_ref().format) {
        return fail(&format!("cannot start logging: {e}"), 1);
    }
    let started = match B::start(settings).await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return fail(&e, 1);
        }
    };
    println!("{}", started.listening);
    match started.run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            fail(&e.to_string(), 1)
        }
    }
}
