//! `[[aliases]]`: one API surface under the bases the operator documents and SDKs use
//! (docs/compatibility.md); the dev layouts by default in dev mode, exactly the configured ones
//! otherwise.

use number_verification::config::{PathAlias, Surface, DEV_ALIASES};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn dev_mode_serves_every_documented_layout_with_its_surface_s_rules() {
    let app = TestApp::spawn().await;
    for (base, surface, whose) in DEV_ALIASES {
        let token = app.token();
        // 0.3.1 takes a number without '+'; the others do not.
        let number = match surface {
            Surface::V0 => PHONE.trim_start_matches('+'),
            _ => PHONE,
        };
        let answer = json_body(
            app.post_json(
                &format!("{base}/verify"),
                Some(&token),
                &json!({ "phoneNumber": number }),
            )
            .await,
        )
        .await;
        assert_eq!(answer["devicePhoneNumberVerified"], true, "{whose}: {base}");
        let token = app.token();
        let (response, field) = match surface {
            Surface::Seed004 => (
                app.post_json(&format!("{base}/share"), Some(&token), &json!({}))
                    .await,
                "phoneNumber",
            ),
            _ => (
                app.get(&format!("{base}/device-phone-number"), Some(&token))
                    .await,
                "devicePhoneNumber",
            ),
        };
        assert_eq!(json_body(response).await[field], PHONE, "{whose}: {base}");
    }
    // A v2 alias keeps v2's rules: the '+' is required there.
    let token = app.token();
    let response = app
        .post_json(
            "/passthrough/camara/v1/number-verification/number-verification/v2/verify",
            Some(&token),
            &json!({ "phoneNumber": PHONE.trim_start_matches('+') }),
        )
        .await;
    assert_error(response, 400, "INVALID_ARGUMENT").await;
}

#[tokio::test]
async fn configured_aliases_replace_the_dev_layouts() {
    let app = TestApp::builder()
        .settings(|s| {
            s.aliases = Some(vec![PathAlias {
                base: "/gateway/nv".into(),
                surface: Surface::V2,
            }])
        })
        .spawn()
        .await;
    let token = app.token();
    let answer = json_body(
        app.post_json(
            "/gateway/nv/verify",
            Some(&token),
            &json!({ "phoneNumber": PHONE }),
        )
        .await,
    )
    .await;
    assert_eq!(answer["devicePhoneNumberVerified"], true);
    let token = app.token();
    let response = app
        .post_json(
            "/camara/number-verification/v031/verify",
            Some(&token),
            &json!({ "phoneNumber": PHONE }),
        )
        .await;
    assert_error(response, 404, "NOT_FOUND").await;
}
