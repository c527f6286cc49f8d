//! `docs/examples/number-verification.toml` is the documented example configuration. It must load
//! as shipped (and change nothing: every uncommented value there is the default), and every
//! commented-out `#key = value` line in it must be a real key with a valid value, so the file
//! cannot drift from `config.rs` unnoticed.

use std::path::{Path, PathBuf};

use number_verification::config::{IssuerKeySource, Mode, Settings};
use server_kit::testing::{uncomment_every_setting, without_environment, SettingsFile};

/// The file is under test, not the shell: `NV_…` variables would override what it says.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/number-verification.toml")
}

#[test]
fn the_example_configuration_loads_and_keeps_every_default() {
    without_environment("NV_");
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
    without_environment("NV_");
    let text = std::fs::read_to_string(example()).expect("the example exists");
    let file = SettingsFile::new(&uncomment_every_setting(&text));
    let loaded = Settings::load(Some(file.path()));
    let s = loaded.expect("every commented setting is valid");
    assert_eq!(s.server.path_prefix, "/camara/playground/api");
    // Both key sources are valid settings; the file wins over the URL.
    assert!(matches!(
        s.authorization_server.keys,
        IssuerKeySource::File(_)
    ));
    assert_eq!(s.tokens.accept_playground, Some(false));
}
