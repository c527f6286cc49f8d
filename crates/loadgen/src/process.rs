//! What the kernel says about processes: CPU time, resident memory, the machine. Linux `/proc`.

use std::process::Stdio;
use std::time::{Duration, Instant};

/// `USER_HZ`: the unit of `/proc/PID/stat` times. 100 on every mainstream Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU time of a process (all its threads), in seconds.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// Busy and total CPU time of the whole machine (`/proc/stat`), in ticks.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// Cores kept busy by everything on the machine during `window` (blocks the thread).
pub fn busy_cores(window: Duration, cores: usize) -> Option<f64> {
    let a = machine_ticks()?;
    std::thread::sleep(window);
    let b = machine_ticks()?;
    let total = b.1.checked_sub(a.1).filter(|t| *t > 0)?;
    Some((b.0 - a.0) as f64 / total as f64 * cores as f64)
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// This process's scheduling policy (`/proc/self/stat` field 41, sched(7)).
pub fn sched_policy() -> Option<&'static str> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces: field 3 on.
    let policy: u32 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(41 - 3)?
        .parse()
        .ok()?;
    Some(match policy {
        0 => "SCHED_OTHER",
        1 => "SCHED_FIFO",
        2 => "SCHED_RR",
        3 => "SCHED_BATCH",
        5 => "SCHED_IDLE",
        6 => "SCHED_DEADLINE",
        7 => "SCHED_EXT",
        _ => "unknown",
    })
}

/// CPU counters at one instant: this process, the two servers (when their pids are known), the
/// machine.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    at: Instant,
    loadgen: Option<f64>,
    auth_server: Option<f64>,
    resource_server: Option<f64>,
    machine: Option<(u64, u64)>,
}

impl CpuSnapshot {
    pub fn take(as_pid: Option<u32>, rs_pid: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            loadgen: cpu_seconds(None),
            auth_server: as_pid.and_then(|p| cpu_seconds(Some(p))),
            resource_server: rs_pid.and_then(|p| cpu_seconds(Some(p))),
            machine: machine_ticks(),
        }
    }
}

/// Average number of cores each party kept busy between two snapshots.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct CpuUse {
    pub loadgen: Option<f64>,
    pub auth_server: Option<f64>,
    pub resource_server: Option<f64>,
    pub machine: Option<f64>,
}

impl CpuUse {
    pub fn between(a: &CpuSnapshot, b: &CpuSnapshot, cores: usize) -> Self {
        let dt = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        let cores_of = |x: Option<f64>, y: Option<f64>| Some((y? - x?) / dt);
        let machine = match (a.machine, b.machine) {
            (Some((busy_a, total_a)), Some((busy_b, total_b))) if total_b > total_a => {
                Some((busy_b - busy_a) as f64 / (total_b - total_a) as f64 * cores as f64)
            }
            _ => None,
        };
        Self {
            loadgen: cores_of(a.loadgen, b.loadgen),
            auth_server: cores_of(a.auth_server, b.auth_server),
            resource_server: cores_of(a.resource_server, b.resource_server),
            machine,
        }
    }
}

/// Cold start: spawn `command`, poll `url` until it answers 200, stay idle, read the RSS, stop it.
pub async fn startup(
    command: &[String],
    url: &str,
    idle: Duration,
) -> Result<(Duration, Option<u64>), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", command[0]))?;
    let pid = child.id().ok_or("the process exited at once")?;
    let ready = loop {
        if let Ok(resp) = http.get(url).send().await {
            if resp.status().is_success() {
                break started.elapsed();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{} exited with {status} before {url} answered",
                command[0]
            ));
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!("{url} did not answer within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    tokio::time::sleep(idle).await;
    let rss = rss_kib(pid);
    child.kill().await.ok();
    Ok((ready, rss))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scheduling_policy_is_read_from_proc() {
        // Whatever policy the tests run under, it is one sched(7) names.
        let policy = super::sched_policy().expect("/proc/self/stat has field 41");
        assert!(policy.starts_with("SCHED_"), "{policy}");
    }
}
