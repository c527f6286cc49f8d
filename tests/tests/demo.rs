//! The demo relying party is a smoke test of the whole product: run it against real servers.

use end_to_end::{start, StackOptions, LOOPBACK_NUMBER};
use local_stack::demo::{run, DemoConfig};

#[tokio::test]
async fn the_demo_verifies_the_device_number_and_sees_the_reuse_refused() {
    let stack = start(StackOptions::default()).await;
    let report = run(&DemoConfig {
        issuer: stack.issuer.clone(),
        api: stack.api.clone(),
        keys_dir: stack.keys_path().to_path_buf(),
        verbose: false,
        ..DemoConfig::default()
    })
    .await
    .expect("the demo completes");
    assert_eq!(report.verified_right_number, Some(true));
    assert_eq!(report.verified_wrong_number, Some(false));
    assert_eq!(report.verified_hashed, Some(true));
    assert_eq!(report.device_phone_number.as_deref(), Some(LOOPBACK_NUMBER));
    assert_eq!(report.reuse_status, 401);
    assert_eq!(report.reuse_code, "UNAUTHENTICATED");
    assert_eq!(report.ciba_verified, Some(true));
    assert_eq!(report.jwt_bearer_verified, Some(true));
    assert!(!report.id_token_sub.is_empty() && !report.id_token_sub.contains("99012345678"));
}
