//! `docs/examples/number-verification.toml` is the documented example configuration. It must load
//! as shipped (and change nothing: every uncommented value there is the default), and every
//! commented-out `#key = value` line in it must be a real key with a valid value, so the file
//! cannot drift from `config.rs` unnoticed.

use number_verification::config::{IssuerKeySource, Mode, Settings};
use server_kit::testing::Example;

fn example() -> Example {
    Example::new(
        env!("CARGO_MANIFEST_DIR"),
        "number-verification.toml",
        "NV_",
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
    assert_eq!(s.server.path_prefix, "/camara/playground/api");
    // Both key sources are valid settings; the file wins over the URL.
    assert!(matches!(
        s.authorization_server.keys,
        IssuerKeySource::File(_)
    ));
    assert_eq!(s.tokens.accept_playground, Some(false));
}
