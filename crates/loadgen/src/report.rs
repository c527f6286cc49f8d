//! Rendering of the results: the console table of one run and of a bound, and the markdown
//! tables `loadgen report` builds from a summary file (what docs/performance.md keeps).

use std::fmt::Write as _;

use crate::bound::Bound;
use crate::load::ENDPOINT_NAMES;
use crate::options::Mode;
use crate::process::CpuUse;
use crate::results::{mode_endpoint, mode_of, Line, LoadSummary, StartupSummary};

fn cores(x: Option<f64>) -> String {
    x.map_or("-".into(), |c| format!("{c:.2}"))
}

pub fn print_bound(b: &Bound) {
    println!(
        "crypto (nv-token over josekit/OpenSSL; {})",
        b.profile.describe()
    );
    println!(
        "  {:<40} {:>10} {:>9} {:>14}",
        "operation",
        "1 core /s",
        "µs",
        format!("{} cores /s", b.cores)
    );
    for op in &b.ops {
        println!(
            "  {:<40} {:>10.0} {:>9.1} {:>14.0}",
            op.name,
            op.per_core,
            1e6 / op.per_core,
            op.all_cores
        );
    }
    let n = b.cores;
    type PerSecond = fn(&Bound, Mode) -> f64;
    let references: [(String, PerSecond); 2] = [
        (
            format!("ceiling on {n} cores, every core busy"),
            Bound::ceiling,
        ),
        (
            format!("perfect scaling ({n} × one core)"),
            Bound::perfect_scaling,
        ),
    ];
    for (label, per_second) in references {
        println!(
            "{label}: POST /token {:.0}/s, POST /verify {:.0}/s, flow {:.0}/s",
            per_second(b, Mode::Token),
            per_second(b, Mode::Verify),
            per_second(b, Mode::Flow)
        );
    }
}

fn other_cpu(c: &CpuUse) -> Option<f64> {
    Some(
        (c.machine?
            - c.auth_server.unwrap_or(0.0)
            - c.resource_server.unwrap_or(0.0)
            - c.loadgen.unwrap_or(0.0))
        .max(0.0),
    )
}

pub fn print_run(s: &LoadSummary) {
    println!(
        "\n{} · {} · {} · measured {:.1} s{}",
        s.label,
        s.mode,
        s.load,
        s.window_s,
        if s.exhausted {
            " (stopped early: the pre-minted pool ran out)"
        } else {
            ""
        }
    );
    println!(
        "  {:<15} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "endpoint", "count", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
    for e in &s.endpoints {
        println!(
            "  {:<15} {:>8} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            e.name, e.count, e.per_second, e.p50_ms, e.p90_ms, e.p99_ms, e.max_ms, e.errors
        );
    }
    println!(
        "  CPU (cores busy): authorization server {}, resource server {}, loadgen {}, other processes {}",
        cores(s.cpu.auth_server),
        cores(s.cpu.resource_server),
        cores(s.cpu.loadgen),
        cores(other_cpu(&s.cpu))
    );
    if let (Some(a), Some(r)) = (s.as_cpu_us_per_unit, s.rs_cpu_us_per_unit) {
        print!(
            "  server CPU per {}: authorization server {a:.0} µs, resource server {r:.0} µs",
            unit(&s.mode)
        );
        match &s.bound {
            Some(b) => println!(
                "; crypto {:.0} µs = {:.0} % of it",
                b.crypto_us_per_unit,
                b.server_crypto_share.unwrap_or(0.0) * 100.0
            ),
            None => println!(),
        }
    }
    if s.resent > 0 {
        println!(
            "  note: {} requests were sent again after a kept-alive connection closed under them",
            s.resent
        );
    }
    if s.signed_during_run > 0 {
        println!(
            "  note: {} client assertions were signed inside the run (pool too small)",
            s.signed_during_run
        );
    }
    if let Some(b) = &s.bound {
        print!(
            "  {}: {:.1}/s of a ceiling of {:.0}/s = {:.0} %",
            s.mode,
            s.throughput,
            b.ceiling,
            b.ratio * 100.0
        );
        match (b.ceiling_without_loadgen, b.ratio_without_loadgen) {
            (Some(c), Some(r)) => println!(
                " (of {c:.0}/s on the cores loadgen left: {:.0} %)",
                r * 100.0
            ),
            _ => println!(),
        }
        println!(
            "  {}: {:.1}/s of the perfect-scaling bound of {:.0}/s = {:.0} %",
            s.mode,
            s.throughput,
            b.perfect_scaling,
            b.perfect_scaling_ratio * 100.0
        );
    }
    for e in &s.error_samples {
        println!("  error: {e}");
    }
    println!(
        "RESULT mode={} throughput={:.1} errors={}",
        s.mode, s.throughput, s.errors
    );
}

fn unit(mode: &str) -> &'static str {
    if mode == "flow" {
        "flow"
    } else {
        "request"
    }
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

/// Markdown tables of the lines of a summary file.
pub fn markdown(lines: &[Line]) -> String {
    let loads: Vec<&LoadSummary> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Load(s) => Some(&**s),
            Line::Startup(_) => None,
        })
        .collect();
    let mut out = String::new();
    if !loads.is_empty() {
        out.push_str("| profile | mode | load | throughput /s | ceiling /s | ratio | ratio, loadgen's CPU excluded | perfect-scaling bound /s | ratio to it | crypto share of server CPU | p50 ms | p90 ms | p99 ms | max ms | errors | cores busy: AS / RS / loadgen / other |\n");
        out.push_str("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
        for s in &loads {
            let main = s
                .endpoints
                .iter()
                .find(|e| e.name == ENDPOINT_NAMES[mode_endpoint(mode_of(&s.mode))]);
            let (p50, p90, p99, max) = main.map_or((0.0, 0.0, 0.0, 0.0), |e| {
                (e.p50_ms, e.p90_ms, e.p99_ms, e.max_ms)
            });
            let (bound, ratio, ratio_adj, share) = match &s.bound {
                Some(b) => (
                    format!("{:.0}", b.ceiling),
                    pct(b.ratio),
                    b.ratio_without_loadgen.map_or("-".into(), pct),
                    b.server_crypto_share.map_or("-".into(), pct),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            let (perfect, perfect_ratio) = match &s.bound {
                Some(b) => (
                    format!("{:.0}", b.perfect_scaling),
                    pct(b.perfect_scaling_ratio),
                ),
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {}{} | {:.0} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} / {} / {} / {} |",
                s.label,
                s.mode,
                s.load,
                if s.exhausted { format!(", {:.1} s (pool)", s.window_s) } else { String::new() },
                s.throughput,
                bound,
                ratio,
                ratio_adj,
                perfect,
                perfect_ratio,
                share,
                p50,
                p90,
                p99,
                max,
                s.errors,
                cores(s.cpu.auth_server),
                cores(s.cpu.resource_server),
                cores(s.cpu.loadgen),
                cores(other_cpu(&s.cpu)),
            );
        }
        out.push_str("\nPer endpoint, flow runs:\n\n| profile | load | endpoint | requests /s | p50 ms | p90 ms | p99 ms | max ms | errors |\n|---|---|---|--:|--:|--:|--:|--:|--:|\n");
        for s in loads.iter().filter(|s| s.mode == "flow") {
            for e in &s.endpoints {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
                    s.label,
                    s.load,
                    e.name,
                    e.per_second,
                    e.p50_ms,
                    e.p90_ms,
                    e.p99_ms,
                    e.max_ms,
                    e.errors
                );
            }
        }
        let mut seen = Vec::new();
        out.push_str("\nCrypto, measured in the same run (nv-token over josekit/OpenSSL), the first bound of each profile:\n\n| profile | operation | 1 core /s | µs | all cores /s |\n|---|---|--:|--:|--:|\n");
        for s in &loads {
            let Some(b) = &s.bound else { continue };
            if seen.contains(&&s.label) {
                continue;
            }
            seen.push(&s.label);
            for op in &b.ops {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.1} | {:.0} |",
                    s.label,
                    op.name,
                    op.per_core,
                    1e6 / op.per_core,
                    op.all_cores
                );
            }
        }
    }
    let starts: Vec<&StartupSummary> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Startup(s) => Some(s),
            Line::Load(_) => None,
        })
        .collect();
    if !starts.is_empty() {
        out.push_str("\n| server (existing keys) | cold start to /healthz 200, ms | idle RSS, MiB |\n|---|--:|--:|\n");
        for s in starts {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} |",
                s.label,
                s.ready_ms,
                s.rss_kib
                    .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(bound: &str) -> String {
        format!(
            r#"{{"kind":"load","label":"default","mode":"flow","load":"closed loop, 32 in flight","window_s":6.0,"exhausted":false,"throughput":800.0,"endpoints":[],"errors":0,"error_samples":[],"cpu":{{"auth_server":null,"resource_server":null,"loadgen":null,"machine":null}},"as_cpu_us_per_unit":null,"rs_cpu_us_per_unit":null,"signed_during_run":0,"bound":{bound}}}"#
        )
    }

    fn table_row(bound: &str) -> Vec<String> {
        let lines = [serde_json::from_str(&line(bound)).unwrap()];
        let row = markdown(&lines).lines().nth(2).unwrap().to_owned();
        row.split('|').map(|c| c.trim().to_owned()).collect()
    }

    #[test]
    fn each_ratio_lands_in_its_column() {
        let row = table_row(
            r#"{"profile":"p","cores":2,"ops":[],"ceiling":1000.0,"ceiling_without_loadgen":950.0,"ratio":0.8,"ratio_without_loadgen":0.84,"perfect_scaling":1100.0,"perfect_scaling_ratio":0.73,"server_crypto_share":0.9,"crypto_us_per_unit":2000.0}"#,
        );
        // | profile | mode | load | throughput | ceiling | ratio | adjusted | perfect | its ratio | share
        assert_eq!(
            row[4..=10],
            ["800", "1000", "80 %", "84 %", "1100", "73 %", "90 %"]
        );
    }
}
