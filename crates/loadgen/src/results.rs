//! The results: the records of a run (the console shows them, the summary file keeps them as
//! JSON lines), built from a run's outcome, appended to and read back from a summary file.
//! `report` renders them.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bound::{Bound, Op};
use crate::load::{Outcome, ENDPOINT_NAMES, FLOW, TOKEN, VERIFY};
use crate::options::Mode;
use crate::process::CpuUse;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointSummary {
    pub name: String,
    pub count: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoundSummary {
    pub profile: String,
    pub cores: usize,
    pub ops: Vec<Op>,
    /// Ceiling of the mode's unit (flows or requests) per second, from the rates measured with
    /// every core busy (`Bound::ceiling`).
    pub ceiling: f64,
    /// The same, on the cores the load generator left to the servers.
    pub ceiling_without_loadgen: Option<f64>,
    pub ratio: f64,
    pub ratio_without_loadgen: Option<f64>,
    /// cores × the one-core rate, and the throughput's ratio to it (`Bound::perfect_scaling`).
    pub perfect_scaling: f64,
    pub perfect_scaling_ratio: f64,
    /// Crypto CPU (the loaded cost × throughput) over the CPU both servers used: how much of
    /// their time went into cryptography rather than HTTP, JSON, storage, scheduling.
    pub server_crypto_share: Option<f64>,
    /// Crypto CPU per unit with every core busy, microseconds.
    pub crypto_us_per_unit: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSummary {
    pub label: String,
    pub mode: String,
    pub load: String,
    pub window_s: f64,
    pub exhausted: bool,
    pub throughput: f64,
    pub endpoints: Vec<EndpointSummary>,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub cpu: CpuUse,
    /// Server CPU per unit (request or flow), microseconds.
    pub as_cpu_us_per_unit: Option<f64>,
    pub rs_cpu_us_per_unit: Option<f64>,
    pub signed_during_run: u64,
    /// Requests sent again on a fresh connection (`http1::RESENT`) during the run.
    #[serde(default)]
    pub resent: u64,
    pub bound: Option<BoundSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupSummary {
    pub label: String,
    pub ready_ms: f64,
    pub rss_kib: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Line {
    Load(Box<LoadSummary>),
    Startup(StartupSummary),
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn mode_endpoint(mode: Mode) -> usize {
    match mode {
        Mode::Flow => FLOW,
        Mode::Token => TOKEN,
        Mode::Verify => VERIFY,
    }
}

pub struct RunInfo<'a> {
    pub label: &'a str,
    pub mode: Mode,
    pub concurrency: usize,
    pub rate: Option<f64>,
}

pub fn summarize(info: &RunInfo<'_>, outcome: &Outcome, bound: Option<&Bound>) -> LoadSummary {
    let secs = outcome.window.as_secs_f64().max(1e-9);
    let endpoints: Vec<EndpointSummary> = (0..4)
        .filter(|i| outcome.stats.latency[*i].len() + outcome.stats.errors[*i] > 0)
        .map(|i| {
            let h = &outcome.stats.latency[i];
            EndpointSummary {
                name: ENDPOINT_NAMES[i].into(),
                count: h.len(),
                per_second: h.len() as f64 / secs,
                p50_ms: ms(h.value_at_quantile(0.50)),
                p90_ms: ms(h.value_at_quantile(0.90)),
                p99_ms: ms(h.value_at_quantile(0.99)),
                max_ms: ms(h.max()),
                errors: outcome.stats.errors[i],
            }
        })
        .collect();
    let main = mode_endpoint(info.mode);
    let throughput = outcome.stats.latency[main].len() as f64 / secs;
    // Errors of the unit the mode counts (a failed flow is counted once, at its endpoint too).
    let errors = outcome.stats.errors[main];
    let per_unit = |cores: Option<f64>| {
        cores
            .filter(|_| throughput > 0.0)
            .map(|c| c / throughput * 1e6)
    };
    let as_cpu_us_per_unit = per_unit(outcome.cpu.auth_server);
    let rs_cpu_us_per_unit = per_unit(outcome.cpu.resource_server);
    let server_cores = match (outcome.cpu.auth_server, outcome.cpu.resource_server) {
        (None, None) => None,
        (a, r) => Some(a.unwrap_or(0.0) + r.unwrap_or(0.0)),
    };
    let bound = bound.map(|b| {
        let ceiling = b.ceiling(info.mode);
        let left = outcome.cpu.loadgen.map(|l| (b.cores as f64 - l).max(0.01));
        let ceiling_without_loadgen = left.map(|c| b.ceiling_on(info.mode, c));
        let cost = b.loaded_cost(info.mode);
        let perfect_scaling = b.perfect_scaling(info.mode);
        BoundSummary {
            profile: b.profile.describe(),
            cores: b.cores,
            ops: b.ops.clone(),
            ceiling,
            ceiling_without_loadgen,
            ratio: throughput / ceiling,
            ratio_without_loadgen: ceiling_without_loadgen.map(|c| throughput / c),
            perfect_scaling,
            perfect_scaling_ratio: throughput / perfect_scaling,
            server_crypto_share: server_cores
                .filter(|c| *c > 0.0)
                .map(|c| throughput * cost / c),
            crypto_us_per_unit: cost * 1e6,
        }
    });
    let load = match info.rate {
        Some(r) => format!("open loop {r:.0}/s"),
        None => format!("closed loop, {} in flight", info.concurrency),
    };
    LoadSummary {
        label: info.label.to_owned(),
        mode: info.mode.name().to_owned(),
        load,
        window_s: secs,
        exhausted: outcome.exhausted,
        throughput,
        endpoints,
        errors,
        error_samples: outcome.stats.samples.clone(),
        cpu: outcome.cpu,
        as_cpu_us_per_unit,
        rs_cpu_us_per_unit,
        signed_during_run: outcome.signed_during_run,
        resent: outcome.resent,
        bound,
    }
}

pub fn append(path: &Path, line: &Line) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let json = serde_json::to_string(line).map_err(|e| e.to_string())?;
    writeln!(f, "{json}").map_err(|e| format!("{}: {e}", path.display()))
}

/// The lines of a summary file, in order.
pub fn read(path: &Path) -> Result<Vec<Line>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

pub fn mode_of(name: &str) -> Mode {
    match name {
        "token" => Mode::Token,
        "verify" => Mode::Verify,
        _ => Mode::Flow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_file_is_read_back_line_by_line() {
        let path =
            std::env::temp_dir().join(format!("loadgen-results-{}", nv_token::random_uuid()));
        let start = StartupSummary {
            label: "rs".into(),
            ready_ms: 12.5,
            rss_kib: Some(2048),
        };
        append(&path, &Line::Startup(start.clone())).unwrap();
        append(&path, &Line::Startup(start)).unwrap();
        let lines = read(&path);
        std::fs::remove_file(&path).ok();
        let lines = lines.unwrap();
        assert_eq!(lines.len(), 2);
        assert!(
            matches!(&lines[1], Line::Startup(s) if s.label == "rs" && s.rss_kib == Some(2048))
        );
    }
}
