//! The command line: what is not a known argument is a usage error, never a server started with
//! the dev defaults (a misspelt `--config` used to start one, demo client and secret included).

/// Runs the binary with `args` in an empty directory; panics if it is still running after a few
/// seconds (it started a server).
fn run(args: &[&str]) -> (i32, String, String) {
    let exit = server_kit::testing::run_binary(
        env!("CARGO_BIN_EXE_authorization-server"),
        args,
        &[("AS_SERVER__PORT", "0")],
    );
    (exit.code, exit.stdout, exit.stderr)
}

#[test]
fn a_misspelt_flag_is_a_usage_error_and_starts_nothing() {
    for args in [
        &["--confg", "prod.toml"][..],
        &["prod.toml"],
        &["--config"],
        &["generate-key", "--alg", "HS256", "--out", "k.jwk"],
        &["generate-key"],
    ] {
        let (code, _, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_generate_key_work() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("--config") && stdout.contains("generate-key"),
        "{stdout}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("as.jwk");
    let (code, stdout, stderr) = run(&[
        "generate-key",
        "--alg",
        "ES256",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("kid"), "{stdout}");
    assert!(out.exists());
}
