//! `docs/examples/authorization-server.toml` is the documented example configuration. It must load
//! as shipped (and change nothing: every uncommented value there is the default), and every
//! commented-out `#key = value` line in it must be a real key with a valid value, so the file
//! cannot drift from `config.rs` unnoticed.

use std::path::{Path, PathBuf};

use authorization_server::config::Mode;
use authorization_server::Settings;
use server_kit::testing::{uncomment_every_setting, without_environment, SettingsFile};

/// The file is under test, not the shell: `AS_…` variables would override what it says.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/authorization-server.toml")
}

#[test]
fn the_example_configuration_loads_and_keeps_every_default() {
    without_environment("AS_");
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
    without_environment("AS_");
    let text = std::fs::read_to_string(example()).expect("the example exists");
    let file = SettingsFile::new(&uncomment_every_setting(&text));
    let s = Settings::load(Some(file.path())).expect("every commented setting is valid");
    assert_eq!(
        s.server.issuer.as_deref(),
        Some("https://auth.operator.example")
    );
    assert_eq!(s.server.trusted_proxies.len(), 1);
    assert_eq!(s.network.static_table.len(), 2);
    assert_eq!(s.network.playground_numbers.len(), 1);
    assert!(s.subject.pairwise_salt.is_some() && s.admin.token.is_some());
    assert_eq!(s.clients.len(), 1);
    assert_eq!(s.clients[0].scopes.len(), 2);
    assert_eq!(s.radius.clients.len(), 1);
    assert_eq!(
        s.radius.listen.map(|a| a.to_string()).as_deref(),
        Some("0.0.0.0:1813")
    );
}
