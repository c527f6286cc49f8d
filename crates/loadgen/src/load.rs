//! The load engine: workers that run flows (or one endpoint) until the time is up, and the pools
//! of things minted before the measured window.
//!
//! What is minted beforehand is what the relying party's backend or earlier requests would have
//! produced anyway, and what would otherwise burn this machine's cores inside the measured window
//! that the servers need: client assertions (an RS256 signature each, ~1 ms of CPU), codes for
//! `token` mode, access tokens for `verify` mode (each is single use).
//!
//! Latency: closed loop (default) measures each request from its send. With `--rate` (open loop)
//! a request's latency is counted from its *scheduled* start, so a server that falls behind is
//! charged for the queueing it causes (no coordinated omission).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::options::Mode;
use crate::process::{CpuSnapshot, CpuUse};
use crate::relying_party::{Conns, RelyingParty};

pub const AUTHORIZE: usize = 0;
pub const TOKEN: usize = 1;
pub const VERIFY: usize = 2;
pub const FLOW: usize = 3;
pub const ENDPOINT_NAMES: [&str; 4] = ["GET /authorize", "POST /token", "POST /verify", "flow"];
const MAX_SAMPLES: usize = 6;

/// What was minted before the run.
#[derive(Default)]
pub struct Pools {
    assertions: Mutex<Vec<String>>,
    codes: Mutex<Vec<String>>,
    tokens: Mutex<Vec<String>>,
    /// Assertions that had to be signed inside the run because the pool ran dry.
    pub signed_during_run: AtomicU64,
}

impl Pools {
    pub fn new(assertions: Vec<String>, codes: Vec<String>, tokens: Vec<String>) -> Self {
        Self {
            assertions: Mutex::new(assertions),
            codes: Mutex::new(codes),
            tokens: Mutex::new(tokens),
            signed_during_run: AtomicU64::new(0),
        }
    }

    fn pop(v: &Mutex<Vec<String>>) -> Option<String> {
        v.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn assertion(&self, rp: &RelyingParty) -> String {
        Self::pop(&self.assertions).unwrap_or_else(|| {
            self.signed_during_run.fetch_add(1, Ordering::Relaxed);
            rp.assertion()
        })
    }
}

pub fn histogram() -> Histogram<u64> {
    // Microseconds, 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Per-endpoint latencies of successes, error counts, a few error texts.
pub struct Stats {
    pub latency: [Histogram<u64>; 4],
    pub errors: [u64; 4],
    pub samples: Vec<String>,
}

impl Stats {
    fn new() -> Self {
        Self {
            latency: [histogram(), histogram(), histogram(), histogram()],
            errors: [0; 4],
            samples: Vec::new(),
        }
    }

    fn record(
        &mut self,
        endpoint: usize,
        measured: bool,
        since: Instant,
        result: Result<(), &str>,
    ) {
        if !measured {
            return;
        }
        match result {
            Ok(()) => {
                let us = since.elapsed().as_micros().max(1) as u64;
                self.latency[endpoint].saturating_record(us);
            }
            Err(e) => {
                self.errors[endpoint] += 1;
                let sample = format!("{}: {e}", ENDPOINT_NAMES[endpoint]);
                if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&sample) {
                    self.samples.push(sample);
                }
            }
        }
    }

    fn merge(&mut self, other: Stats) {
        for i in 0..4 {
            self.latency[i].add(&other.latency[i]).expect("same bounds");
            self.errors[i] += other.errors[i];
        }
        for s in other.samples {
            if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&s) {
                self.samples.push(s);
            }
        }
    }
}

pub struct Plan {
    pub mode: Mode,
    pub warmup: Duration,
    pub duration: Duration,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub as_pid: Option<u32>,
    pub rs_pid: Option<u32>,
    pub cores: usize,
}

struct Ctx {
    rp: Arc<RelyingParty>,
    pools: Arc<Pools>,
    mode: Mode,
    rate: Option<f64>,
    start: Instant,
    measure_start: Instant,
    end: Instant,
    slot: AtomicU64,
    exhausted: AtomicBool,
    exhausted_at: Mutex<Option<Instant>>,
}

impl Ctx {
    fn pool_ran_dry(&self) {
        if !self.exhausted.swap(true, Ordering::SeqCst) {
            *self.exhausted_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
    }

    /// When the next request may start, or `None` when the run is over.
    async fn next_start(&self) -> Option<Instant> {
        if self.exhausted.load(Ordering::Relaxed) {
            return None;
        }
        match self.rate {
            None => Some(Instant::now()).filter(|now| *now < self.end),
            Some(rate) => {
                let i = self.slot.fetch_add(1, Ordering::Relaxed);
                let at = self.start + Duration::from_secs_f64(i as f64 / rate);
                if at >= self.end {
                    return None;
                }
                tokio::time::sleep_until(at.into()).await;
                Some(at)
            }
        }
    }
}

pub struct Outcome {
    pub stats: Stats,
    /// The measured window: from the end of the warm-up to the end (or until a pool ran dry).
    pub window: Duration,
    pub exhausted: bool,
    pub cpu: CpuUse,
    pub signed_during_run: u64,
    /// Requests resent on a fresh connection (see `http1::RESENT`).
    pub resent: u64,
}

async fn worker(ctx: Arc<Ctx>) -> Stats {
    let mut st = Stats::new();
    let rp = &*ctx.rp;
    // The URLs were checked when the relying party was set up.
    let mut c = rp.conns().expect("valid server URLs");
    while let Some(scheduled) = ctx.next_start().await {
        let measured = scheduled >= ctx.measure_start;
        match ctx.mode {
            Mode::Flow => {
                let t = Instant::now();
                let code = match rp.authorize(&mut c).await {
                    Ok(code) => {
                        st.record(AUTHORIZE, measured, t, Ok(()));
                        code
                    }
                    Err(e) => {
                        st.record(AUTHORIZE, measured, t, Err(&e));
                        st.record(FLOW, measured, t, Err("failed at /authorize"));
                        continue;
                    }
                };
                let assertion = ctx.pools.assertion(rp);
                let t = Instant::now();
                let tokens = match rp.token(&mut c, &code, &assertion).await {
                    Ok(tokens) => {
                        st.record(TOKEN, measured, t, Ok(()));
                        tokens
                    }
                    Err(e) => {
                        st.record(TOKEN, measured, t, Err(&e));
                        st.record(FLOW, measured, t, Err("failed at /token"));
                        continue;
                    }
                };
                let t = Instant::now();
                match rp.verify(&mut c, &tokens.access_token).await {
                    Ok(()) => {
                        st.record(VERIFY, measured, t, Ok(()));
                        st.record(FLOW, measured, scheduled, Ok(()));
                    }
                    Err(e) => {
                        st.record(VERIFY, measured, t, Err(&e));
                        st.record(FLOW, measured, t, Err("failed at /verify"));
                    }
                }
            }
            Mode::Token => {
                let Some(code) = Pools::pop(&ctx.pools.codes) else {
                    ctx.pool_ran_dry();
                    break;
                };
                let assertion = ctx.pools.assertion(rp);
                let result = rp.token(&mut c, &code, &assertion).await.map(drop);
                st.record(
                    TOKEN,
                    measured,
                    scheduled,
                    result.as_ref().map_err(String::as_str).copied(),
                );
            }
            Mode::Verify => {
                let Some(token) = Pools::pop(&ctx.pools.tokens) else {
                    ctx.pool_ran_dry();
                    break;
                };
                let result = rp.verify(&mut c, &token).await;
                st.record(
                    VERIFY,
                    measured,
                    scheduled,
                    result.as_ref().map_err(String::as_str).copied(),
                );
            }
        }
    }
    st
}

/// Run the plan against the servers; blocks for warm-up + duration (less if a pool runs dry).
pub async fn run(rp: Arc<RelyingParty>, pools: Arc<Pools>, plan: &Plan) -> Outcome {
    let start = Instant::now();
    let measure_start = start + plan.warmup;
    let end = measure_start + plan.duration;
    let ctx = Arc::new(Ctx {
        rp,
        pools: pools.clone(),
        mode: plan.mode,
        rate: plan.rate,
        start,
        measure_start,
        end,
        slot: AtomicU64::new(0),
        exhausted: AtomicBool::new(false),
        exhausted_at: Mutex::new(None),
    });
    let (as_pid, rs_pid) = (plan.as_pid, plan.rs_pid);
    let first = tokio::spawn(async move {
        tokio::time::sleep_until(measure_start.into()).await;
        CpuSnapshot::take(as_pid, rs_pid)
    });
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|_| tokio::spawn(worker(ctx.clone())))
        .collect();
    let signed_before = pools.signed_during_run.load(Ordering::Relaxed);
    let resent_before = crate::http1::RESENT.load(Ordering::Relaxed);
    let mut stats = Stats::new();
    for w in workers {
        stats.merge(w.await.expect("a worker panicked"));
    }
    let last = CpuSnapshot::take(plan.as_pid, plan.rs_pid);
    let first = if first.is_finished() {
        first.await.expect("snapshot task")
    } else {
        first.abort();
        last.clone()
    };
    let exhausted_at = *ctx.exhausted_at.lock().unwrap_or_else(|p| p.into_inner());
    let window_end = exhausted_at.map_or(end, |t| t.min(end));
    Outcome {
        stats,
        window: window_end.saturating_duration_since(measure_start),
        exhausted: exhausted_at.is_some_and(|t| t < end),
        cpu: CpuUse::between(&first, &last, plan.cores),
        signed_during_run: pools.signed_during_run.load(Ordering::Relaxed) - signed_before,
        resent: crate::http1::RESENT.load(Ordering::Relaxed) - resent_before,
    }
}

/// Sign `n` client assertions on every core (before the run: the servers are idle).
pub fn sign_assertions(rp: &RelyingParty, n: usize, threads: usize) -> Vec<String> {
    let threads = threads.max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let share = n / threads + usize::from(i < n % threads);
                s.spawn(move || (0..share).map(|_| rp.assertion()).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a signing thread panicked"))
            .collect()
    })
}

/// What one minting task produces.
type Minted = (Vec<String>, Option<String>);

/// Mint up to `n` items with `concurrency` tasks running `make`, within `budget`. Each task has
/// its own connections; `make` borrows them for one item and hands them back.
async fn mint<F, Fut>(
    rp: &RelyingParty,
    n: usize,
    concurrency: usize,
    budget: Duration,
    make: F,
) -> Result<Vec<String>, String>
where
    F: Fn(Conns) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = (Conns, Result<String, String>)> + Send,
{
    let deadline = Instant::now() + budget;
    let remaining = Arc::new(AtomicU64::new(n as u64));
    let make = Arc::new(make);
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (remaining, make) = (remaining.clone(), make.clone());
            let conns = rp.conns();
            tokio::spawn(async move {
                let mut conns = conns?;
                let mut out = Vec::new();
                let mut failures = 0u32;
                let mut last_error = None;
                while Instant::now() < deadline
                    && remaining
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                        .is_ok()
                {
                    let (back, result) = make(conns).await;
                    conns = back;
                    match result {
                        Ok(item) => out.push(item),
                        Err(e) => {
                            failures += 1;
                            last_error = Some(e);
                            if failures > 10 {
                                break;
                            }
                        }
                    }
                }
                Ok::<_, String>((out, last_error))
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    let mut error = None;
    for t in tasks {
        let (items, e): Minted = t.await.map_err(|e| e.to_string())??;
        all.extend(items);
        error = error.or(e);
    }
    match error {
        Some(e) if all.is_empty() => Err(e),
        Some(e) => {
            eprintln!("loadgen: some items could not be minted: {e}");
            Ok(all)
        }
        None => Ok(all),
    }
}

/// Authorization codes through `/authorize` (they live 60 s: mint right before the run).
pub async fn mint_codes(
    rp: Arc<RelyingParty>,
    n: usize,
    concurrency: usize,
) -> Result<Vec<String>, String> {
    let rp2 = rp.clone();
    mint(
        &rp,
        n,
        concurrency,
        Duration::from_secs(30),
        move |mut c| {
            let rp = rp2.clone();
            async move {
                let r = rp.authorize(&mut c).await;
                (c, r)
            }
        },
    )
    .await
}

/// Access tokens through complete authorize + token exchanges, with pre-signed assertions.
pub async fn mint_tokens(
    rp: Arc<RelyingParty>,
    assertions: Vec<String>,
    concurrency: usize,
    budget: Duration,
) -> Result<Vec<String>, String> {
    let n = assertions.len();
    let assertions = Arc::new(Mutex::new(assertions));
    let rp2 = rp.clone();
    mint(&rp, n, concurrency, budget, move |mut c| {
        let (rp, assertions) = (rp2.clone(), assertions.clone());
        async move {
            let r = async {
                let code = rp.authorize(&mut c).await?;
                let assertion = Pools::pop(&assertions).unwrap_or_else(|| rp.assertion());
                Ok(rp.token(&mut c, &code, &assertion).await?.access_token)
            }
            .await;
            (c, r)
        }
    })
    .await
}
