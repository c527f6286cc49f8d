//! The command line: what is not a known argument is a usage error, never a started server.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("nv-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_number-verification"))
        .args(args)
        .current_dir(&dir)
        .env("NV_SERVER__PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("`number-verification {}` started a server", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_or_incomplete_arguments_are_usage_errors() {
    for args in [
        &["--confg", "prod.toml"][..],
        &["prod.toml"],
        &["--config"],
        &["generate-key"],
        &["generate-key", "--alg", "RSA1_5", "--out", "k.jwk"],
    ] {
        let (code, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
}
