//! `loadgen`: drives complete Number Verification flows (or `/token`, `/verify` alone) against
//! running servers, and compares the throughput with the bound the cryptography sets on this
//! machine. `crates/loadgen/bench.sh` is the one command; docs/performance.md explains the method.

mod bound;
mod http1;
mod load;
mod options;
mod process;
mod relying_party;
mod report;
mod results;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use options::{Command, LoadOptions, Mode, StartupOptions};
use relying_party::RelyingParty;

fn main() -> ExitCode {
    let command = options::parse();
    let result = match command {
        Command::Report(path) => {
            results::read(&path).map(|lines| print!("{}", report::markdown(&lines)))
        }
        Command::Startup(o) => runtime(1).and_then(|rt| rt.block_on(startup(o))),
        Command::Load(o) => runtime(o.threads).and_then(|rt| rt.block_on(run_load(o))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A small runtime: loadgen shares the machine with the servers it measures, so by default it
/// keeps to one thread (thousands of requests per second need no more).
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    let mut b = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    b.enable_all().build().map_err(|e| e.to_string())
}

async fn startup(o: StartupOptions) -> Result<(), String> {
    let (ready, rss) = process::startup(&o.command, &o.url, o.idle).await?;
    let summary = results::StartupSummary {
        label: o.label,
        ready_ms: ready.as_secs_f64() * 1000.0,
        rss_kib: rss,
    };
    println!(
        "{}: ready after {:.0} ms, idle RSS {}",
        summary.label,
        summary.ready_ms,
        rss.map_or("unknown".into(), |k| format!(
            "{:.1} MiB",
            k as f64 / 1024.0
        ))
    );
    if let Some(path) = &o.summary {
        results::append(path, &results::Line::Startup(summary))?;
    }
    Ok(())
}

async fn run_load(o: Box<LoadOptions>) -> Result<(), String> {
    let cores = bound::cores();
    let rp = Arc::new(RelyingParty::connect(&o).await?);
    let policy = process::sched_policy().unwrap_or("unknown");
    println!(
        "loadgen: {cores} cores ({}), issuer {}, resource server {}, scheduled {policy}",
        process::cpu_model(),
        rp.issuer,
        o.rs_url
    );
    if policy == "SCHED_OTHER" && o.mode.is_some() {
        // Measured: as SCHED_OTHER, a response that wakes loadgen can preempt the server that
        // sent it (a context switch in the middle of its crypto), and loadgen wakes once per
        // response; as SCHED_BATCH it waits for the end of the slice or an idle core and then
        // handles several responses per wake-up, which gave more flows (decision 0008).
        println!(
            "note: loadgen can preempt the servers it measures on every response; \
             `chrt --batch 0 loadgen …` avoids it (bench.sh does)"
        );
    }

    // One complete flow first: it checks the set-up, warms both servers' key caches (the
    // authorization server fetches the resource server's JWKS, and vice versa), and shows which
    // algorithms the servers really use.
    let mut c = rp.conns()?;
    let code = rp
        .authorize(&mut c)
        .await
        .map_err(|e| format!("probe GET /authorize: {e}"))?;
    let tokens = rp
        .token(&mut c, &code, &rp.assertion())
        .await
        .map_err(|e| format!("probe POST /token: {e}"))?;
    rp.verify(&mut c, &tokens.access_token)
        .await
        .map_err(|e| format!("probe POST /verify: {e}"))?;

    let bound = if o.bound {
        if let Some(busy) = process::busy_cores(Duration::from_millis(300), cores) {
            if busy > 0.25 {
                println!(
                    "warning: the machine is not idle ({busy:.2} cores busy before the run): \
                     the bound and the throughput will both be low and noisy"
                );
            }
        }
        let profile = bound::Profile::observe(&rp, &tokens).await?;
        let b = bound::measure(profile, cores)?;
        report::print_bound(&b);
        Some(b)
    } else {
        None
    };
    let Some(mode) = o.mode else {
        return Ok(());
    };

    let total = (o.warmup + o.duration).as_secs_f64();
    let expected = match (o.rate, &bound) {
        (Some(r), _) => r * total * 1.05,
        (None, Some(b)) => b.perfect_scaling(mode) * total * 1.25,
        (None, None) => 4000.0 * total,
    };
    let n = (expected.ceil() as usize + o.concurrency).min(o.pool_max);
    let t = Instant::now();
    let assertions = load::sign_assertions(&rp, n, cores);
    println!(
        "minted {} client assertions in {:.1} s",
        assertions.len(),
        t.elapsed().as_secs_f64()
    );
    let pools = match mode {
        Mode::Flow => load::Pools::new(assertions, Vec::new(), Vec::new()),
        Mode::Token => {
            let t = Instant::now();
            let codes = load::mint_codes(rp.clone(), n, o.concurrency).await?;
            println!(
                "minted {} codes in {:.1} s",
                codes.len(),
                t.elapsed().as_secs_f64()
            );
            load::Pools::new(assertions, codes, Vec::new())
        }
        Mode::Verify => {
            let t = Instant::now();
            let tokens =
                load::mint_tokens(rp.clone(), assertions, o.concurrency, o.mint_budget).await?;
            println!(
                "minted {} access tokens in {:.1} s",
                tokens.len(),
                t.elapsed().as_secs_f64()
            );
            load::Pools::new(Vec::new(), Vec::new(), tokens)
        }
    };
    let plan = load::Plan {
        mode,
        warmup: o.warmup,
        duration: o.duration,
        concurrency: o.concurrency,
        rate: o.rate,
        as_pid: o.as_pid,
        rs_pid: o.rs_pid,
        cores,
    };
    let outcome = load::run(rp, Arc::new(pools), &plan).await;
    // The ceiling brackets the load in time: measured again now that the servers are idle, each
    // rate the better of the two, so a slow moment of the machine during either measurement
    // cannot lower the ceiling and flatter the ratio.
    let bound = match bound {
        Some(before) => {
            let after = bound::measure(before.profile.clone(), cores)?;
            let b = before.best_of(after);
            println!("crypto measured again after the load; each rate is the better of the two:");
            report::print_bound(&b);
            Some(b)
        }
        None => None,
    };
    let summary = results::summarize(
        &results::RunInfo {
            label: &o.label,
            mode,
            concurrency: o.concurrency,
            rate: o.rate,
        },
        &outcome,
        bound.as_ref(),
    );
    report::print_run(&summary);
    if let Some(path) = &o.summary {
        results::append(path, &results::Line::Load(Box::new(summary)))?;
    }
    Ok(())
}
