//! The CAMARA scenarios for each version, plus what differs in 0.3.1.

mod v2 {
    //! CAMARA 2.1.0: the feature files' own base URL.
    crate::scenarios::camara_scenarios!(crate::scenarios::V2);
}

mod v1 {
    crate::scenarios::camara_scenarios!(crate::scenarios::V1);
}

mod v0 {
    crate::scenarios::camara_scenarios!(crate::scenarios::V0);

    use serde_json::json;

    use crate::helpers::*;

    #[tokio::test]
    async fn v0_accepts_the_1_0_scope_names_that_operator_sdks_send() {
        let app = TestApp::spawn().await;
        let token = app.token_with(|c| c.scope = "openid number-verification:verify".into());
        let body = json_body(
            app.post_json(V0.verify, Some(&token), &json!({ "phoneNumber": PHONE }))
                .await,
        )
        .await;
        assert_eq!(body, json!({ "devicePhoneNumberVerified": true }));
        let token = app
            .token_with(|c| c.scope = "openid number-verification:device-phone-number:read".into());
        let body = json_body(app.get(V0.share, Some(&token)).await).await;
        assert_eq!(body, json!({ "devicePhoneNumber": PHONE }));
    }

    #[tokio::test]
    async fn v0_takes_numbers_and_hashes_with_or_without_the_plus() {
        let app = TestApp::spawn().await;
        let digits = PHONE.trim_start_matches('+');
        for body in [
            json!({ "phoneNumber": digits }),
            json!({ "hashedPhoneNumber": sha256_hex(digits) }),
            json!({ "hashedPhoneNumber": sha256_hex(PHONE) }),
        ] {
            let token = app.token();
            let answer = json_body(app.post_json(V0.verify, Some(&token), &body).await).await;
            assert_eq!(answer["devicePhoneNumberVerified"], true, "{body}");
        }
    }

    /// One equivalence table (`ApiScope::grants`): operator SDKs get a token for one version's
    /// scope name and call another version's path.
    #[tokio::test]
    async fn every_version_takes_every_version_s_name_for_its_right() {
        let app = TestApp::spawn().await;
        for (path, scope) in [
            (V2.verify, "number-verification-verify-read"),
            (V1.verify, "number-verification-verify-read"),
            (V0.verify, "number-verification:verify"),
        ] {
            let token = app.token_with(|c| c.scope = format!("openid {scope}"));
            let answer = json_body(
                app.post_json(path, Some(&token), &json!({ "phoneNumber": PHONE }))
                    .await,
            )
            .await;
            assert_eq!(answer["devicePhoneNumberVerified"], true, "{path} {scope}");
        }
        for (path, scope) in [
            (V2.share, "number-verification-share-read"),
            (V0.share, "number-verification:device-phone-number:read"),
            (V1.share, "number-verification-share-read"),
        ] {
            let token = app.token_with(|c| c.scope = format!("openid {scope}"));
            let answer = json_body(app.get(path, Some(&token)).await).await;
            assert_eq!(answer["devicePhoneNumber"], PHONE, "{path} {scope}");
        }
    }

    /// The seed-004 profile's `number-verification:read` stays its own (seed004.rs checks the
    /// reverse).
    #[tokio::test]
    async fn the_seed004_read_scope_does_not_grant_the_camara_share() {
        let app = TestApp::spawn().await;
        let token = app.token_with(|c| c.scope = "openid number-verification:read".into());
        assert_error(
            app.get(V2.share, Some(&token)).await,
            403,
            "PERMISSION_DENIED",
        )
        .await;
    }

    #[tokio::test]
    async fn a_share_scope_of_any_version_does_not_grant_verify() {
        let app = TestApp::spawn().await;
        for (path, scope) in [
            (V2.verify, "number-verification-share-read"),
            (V0.verify, "number-verification:device-phone-number:read"),
            (V1.verify, "number-verification:read"),
        ] {
            let token = app.token_with(|c| c.scope = format!("openid {scope}"));
            let response = app
                .post_json(path, Some(&token), &json!({ "phoneNumber": PHONE }))
                .await;
            assert_error(response, 403, "PERMISSION_DENIED").await;
        }
    }

    #[tokio::test]
    async fn v2_requires_the_plus() {
        let app = TestApp::spawn().await;
        let token = app.token();
        let response = app
            .post_json(
                V2.verify,
                Some(&token),
                &json!({ "phoneNumber": PHONE.trim_start_matches('+') }),
            )
            .await;
        assert_error(response, 400, "INVALID_ARGUMENT").await;
    }
}
