//! The command line: what is not a known argument is a usage error, never a started server.

/// Runs the binary with `args` in an empty directory; panics if it is still running after a few
/// seconds (it started a server).
fn run(args: &[&str]) -> (i32, String) {
    let exit = server_kit::testing::run_binary(
        env!("CARGO_BIN_EXE_number-verification"),
        args,
        &[("NV_SERVER__PORT", "0")],
    );
    (exit.code, exit.stderr)
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
