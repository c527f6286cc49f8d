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

    #[tokio::test]
    async fn v2_does_not_take_the_0_3_scope_names() {
        let app = TestApp::spawn().await;
        let token = app.token_with(|c| c.scope = "openid number-verification-verify-read".into());
        let response = app
            .post_json(V2.verify, Some(&token), &json!({ "phoneNumber": PHONE }))
            .await;
        assert_error(response, 403, "PERMISSION_DENIED").await;
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
