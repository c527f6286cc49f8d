//! `docs/examples/number-verification.toml` is the documented example configuration. It must load
//! as shipped (and change nothing: every uncommented value there is the default), and every
//! commented-out `#key = value` line in it must be a real key with a valid value, so the file
//! cannot drift from `config.rs` unnoticed.

use std::path::{Path, PathBuf};

use number_verification::config::{IssuerKeySource, Mode, Settings};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/number-verification.toml")
}

/// The file is under test, not the shell: `NV_…` variables would override what it says.
fn without_nv_environment() {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NV_") {
            std::env::remove_var(name);
        }
    }
}

/// `#key = value` → `key = value`; explanations (`# text`) stay comments.
fn uncomment_every_setting(toml: &str) -> String {
    toml.lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| !c.is_whitespace()) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_configuration_loads_and_keeps_every_default() {
    without_nv_environment();
    let loaded = Settings::load(Some(&example())).expect("the example configuration loads");
    assert_eq!(loaded.mode, Mode::Dev);
    assert_eq!(
        format!("{loaded:?}"),
        format!("{:?}", Settings::default()),
        "an uncommented value in the example differs from the default in config.rs"
    );
}

#[test]
fn every_commented_setting_in_the_example_is_a_valid_key_and_value() {
    without_nv_environment();
    let text = std::fs::read_to_string(example()).expect("the example exists");
    let path = std::env::temp_dir().join(format!(
        "number-verification-example-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, uncomment_every_setting(&text)).expect("write");
    let loaded = Settings::load(Some(&path));
    std::fs::remove_file(&path).ok();
    let s = loaded.expect("every commented setting is valid");
    assert_eq!(s.server.path_prefix, "/camara/playground/api");
    // Both key sources are valid settings; the file wins over the URL.
    assert!(matches!(
        s.authorization_server.keys,
        IssuerKeySource::File(_)
    ));
    assert_eq!(s.tokens.accept_playground, Some(false));
}
