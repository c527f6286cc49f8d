//! `docs/examples/authorization-server.toml` is the documented example configuration. It must load
//! as shipped (and change nothing: every uncommented value there is the default), and every
//! commented-out `#key = value` line in it must be a real key with a valid value, so the file
//! cannot drift from `config.rs` unnoticed.

use authorization_server::config::Mode;
use authorization_server::Settings;
use server_kit::testing::Example;

fn example() -> Example {
    Example::new(
        env!("CARGO_MANIFEST_DIR"),
        "authorization-server.toml",
        "AS_",
    )
}

#[test]
fn the_example_configuration_loads_and_keeps_every_default() {
    let loaded = example().loads_with_the_defaults(Settings::load, Settings::default());
    assert_eq!(loaded.mode, Mode::Dev);
}

#[test]
fn every_commented_setting_in_the_example_is_a_valid_key_and_value() {
    let s = example().with_every_setting(Settings::load);
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
