//! The admin API: dynamic IP sessions and playground numbers.

use serde_json::json;

use crate::helpers::*;

const TOKEN: &str = "admin-token-for-tests-0123456789abcdef";

async fn admin_app(trusted: bool) -> TestApp {
    Builder {
        admin_token: Some(TOKEN),
        trusted_proxies: if trusted {
            vec![("127.0.0.1/32", ForwardingHeader::Forwarded)]
        } else {
            vec![]
        },
        no_loopback: true,
        playground: true,
        ..Default::default()
    }
    .spawn()
    .await
}

#[tokio::test]
async fn the_admin_api_needs_its_token_and_is_absent_without_one() {
    let app = spawn().await;
    assert_eq!(
        app.http
            .get(app.url("/admin/sessions"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let app = admin_app(false).await;
    let resp = app
        .http
        .get(app.url("/admin/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    assert_eq!(
        app.http
            .get(app.url("/admin/sessions"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        app.http
            .get(app.url("/admin/sessions"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_session_added_by_the_admin_api_identifies_the_subscriber_until_removed_or_expired() {
    let app = admin_app(true).await;
    let device = [("forwarded", "for=203.0.113.50")];
    let error_of =
        |resp: &reqwest::Response| param(&location_params(resp), "error").map(str::to_owned);
    assert_eq!(
        error_of(&app.authorize_with(&app.std_params(&[]), &device).await).as_deref(),
        Some("login_required")
    );

    let resp = app
        .http
        .post(app.url("/admin/sessions"))
        .bearer_auth(TOKEN)
        .json(
            &json!({"network": "203.0.113.50", "msisdn": "+99055550001", "valid_for_seconds": 600}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = app.authorize_with(&app.std_params(&[]), &device).await;
    let code = param(&location_params(&resp), "code")
        .expect("identified")
        .to_owned();
    let body: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
    assert_eq!(
        app.open(body["access_token"].as_str().unwrap(), AUDIENCE)
            .await
            .phone_number
            .as_str(),
        "+99055550001"
    );

    let list: serde_json::Value = app
        .http
        .get(app.url("/admin/sessions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"][0]["network"], "203.0.113.50/32");
    assert_eq!(list["sessions"][0]["msisdn"], "+99055550001");

    app.clock.advance(601);
    assert_eq!(
        error_of(&app.authorize_with(&app.std_params(&[]), &device).await).as_deref(),
        Some("login_required")
    );

    app.http
        .post(app.url("/admin/sessions"))
        .bearer_auth(TOKEN)
        .json(&json!({"network": "fd00:77::/64", "msisdn": "+99055550002"}))
        .send()
        .await
        .unwrap();
    let v6 = [("forwarded", "for=\"[fd00:77::1]:5000\"")];
    assert!(param(
        &location_params(&app.authorize_with(&app.std_params(&[]), &v6).await),
        "code"
    )
    .is_some());
    let resp = app
        .http
        .delete(app.url("/admin/sessions?network=fd00:77::/64"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        error_of(&app.authorize_with(&app.std_params(&[]), &v6).await).as_deref(),
        Some("login_required")
    );
    let resp = app
        .http
        .delete(app.url("/admin/sessions?network=fd00:77::/64"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn admin_input_is_validated() {
    let app = admin_app(false).await;
    for body in [
        json!({"network": "not-an-ip", "msisdn": "+99055550001"}),
        json!({"network": "10.0.0.1", "msisdn": "12345"}),
        json!({"network": "10.0.0.1", "msisdn": "+99055550001", "ports": "9-1"}),
        json!({"network": "10.0.0.1", "msisdn": "+99055550001", "valid_for_seconds": 0}),
        json!({"network": "10.0.0.1", "msisdn": "+99055550001", "extra": true}),
    ] {
        let resp = app
            .http
            .post(app.url("/admin/sessions"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(TestApp::error_of(resp).await.1, "invalid_request", "{body}");
    }
    let resp = app
        .http
        .post(app.url("/admin/sessions"))
        .bearer_auth(TOKEN)
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_request");
    let resp = app
        .http
        .post(app.url("/admin/sessions"))
        .bearer_auth(TOKEN)
        .body("network=1")
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::error_of(resp).await.1, "invalid_request");
}

#[tokio::test]
async fn playground_numbers_added_by_the_admin_api_become_identities() {
    let app = admin_app(false).await;
    let hint = [("login_hint", "tel:+33612345678")];
    let error =
        |resp: &reqwest::Response| param(&location_params(resp), "error").map(str::to_owned);
    assert_eq!(
        error(&app.authorize(&app.std_params(&hint)).await).as_deref(),
        Some("login_required")
    );
    let resp = app
        .http
        .post(app.url("/admin/playground-numbers"))
        .bearer_auth(TOKEN)
        .json(&json!({"phoneNumber": "+33612345678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let list: serde_json::Value = app
        .http
        .get(app.url("/admin/playground-numbers"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["phoneNumbers"], json!(["+33612345678"]));
    assert!(param(
        &location_params(&app.authorize(&app.std_params(&hint)).await),
        "code"
    )
    .is_some());
    let resp = app
        .http
        .delete(app.url("/admin/playground-numbers/+33612345678"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        error(&app.authorize(&app.std_params(&hint)).await).as_deref(),
        Some("login_required")
    );
    let resp = app
        .http
        .delete(app.url("/admin/playground-numbers/nonsense"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

/// Concurrent leases of one CGNAT address: every one is stored and resolves to its holder, and a
/// reassigned block resolves to its new holder only (a read-modify-write lost some, CWE-362).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_leases_of_one_address_are_all_stored_and_reassignment_wins() {
    let app = admin_app(true).await;
    const LEASES: u16 = 49;
    let block = |i: u16| format!("{}-{}", 1024 + i * 64, 1024 + i * 64 + 63);
    let post = |ports: String, msisdn: String| {
        let http = app.http.clone();
        let url = app.url("/admin/sessions");
        async move {
            http.post(url)
                .bearer_auth(TOKEN)
                .json(&json!({"network": "203.0.113.60", "ports": ports, "msisdn": msisdn}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let handles: Vec<_> = (0..LEASES)
        .map(|i| tokio::spawn(post(block(i), format!("+9905555{i:04}"))))
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap(), 201);
    }
    let (a, b) = tokio::join!(
        post(block(0), "+99055559999".into()),
        post(block(1), "+99055550001".into())
    );
    assert_eq!((a.as_u16(), b.as_u16()), (201, 201));

    let list: serde_json::Value = app
        .http
        .get(app.url("/admin/sessions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), LEASES as usize);

    let number_at = |port: u16| {
        let app = &app;
        async move {
            let device = format!("for=\"203.0.113.60:{port}\"");
            let resp = app
                .authorize_with(&app.std_params(&[]), &[("forwarded", device.as_str())])
                .await;
            let code = param(&location_params(&resp), "code")?.to_owned();
            let body: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
            let claims = app
                .open(body["access_token"].as_str().unwrap(), AUDIENCE)
                .await;
            Some(claims.phone_number.as_str().to_owned())
        }
    };
    assert_eq!(number_at(1024).await.as_deref(), Some("+99055559999"));
    assert_eq!(
        number_at(1024 + 64 + 5).await.as_deref(),
        Some("+99055550001")
    );
    assert_eq!(
        number_at(1024 + 48 * 64 + 63).await.as_deref(),
        Some("+99055550048")
    );
    assert_eq!(number_at(1023).await, None);
}

#[tokio::test]
async fn sessions_for_networks_the_lookup_never_matches_are_refused() {
    let app = admin_app(false).await;
    for network in [
        "203.0.113.0/24",
        "2001:db8::/32",
        "2001:db8::/60",
        "::ffff:203.0.113.5",
        "::ffff:0:0/96",
    ] {
        let resp = app
            .http
            .post(app.url("/admin/sessions"))
            .bearer_auth(TOKEN)
            .json(&json!({"network": network, "msisdn": "+99055550001"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{network}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{network}");
    }
}

#[tokio::test]
async fn the_admin_api_can_have_a_listener_of_its_own_and_is_then_absent_from_the_public_one() {
    let app = Builder {
        admin_token: Some(TOKEN),
        admin_listener: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let admin = app.admin_base.clone().expect("an admin listener");
    assert_ne!(admin, app.base);
    let on = |base: &str| {
        let url = format!("{base}/admin/sessions");
        let http = app.http.clone();
        async move {
            http.get(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(on(&admin).await, 200);
    assert_eq!(on(&app.base).await, 404, "not on the public listener");
    // And the admin listener serves nothing else.
    let resp = app
        .http
        .get(format!("{admin}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn a_short_or_example_admin_token_is_refused_at_start_up() {
    for (token, production) in [
        ("short-admin-token", false),
        ("change-me-to-a-long-random-token", true),
    ] {
        let err = Builder {
            admin_token: Some(token),
            mode_production: production,
            ..Default::default()
        }
        .try_spawn()
        .await
        .err()
        .expect("refused");
        assert!(err.to_string().contains("admin.token"), "{err}");
    }
}

/// Admin bodies are strict (no duplicated member), and no refusal quotes a submitted value: a
/// mistyped `msisdn` is a phone number.
#[tokio::test]
async fn admin_json_errors_refuse_duplicates_and_never_echo_values() {
    let app = admin_app(false).await;
    let post = |body: &'static str| {
        let http = app.http.clone();
        let url = app.url("/admin/sessions");
        async move {
            let resp = http
                .post(url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            TestApp::error_of(resp).await
        }
    };
    let (status, error, d) =
        post(r#"{"network":"203.0.113.9","msisdn":"+99055550001","msisdn":"+99055550002"}"#).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert!(d.contains("twice"), "{d}");
    let (status, _, d) = post(r#"{"network":"203.0.113.9","msisdn":99055550001}"#).await;
    assert_eq!(status, 400);
    assert!(!d.contains("99055550001"), "{d}");
    let (status, _, d) =
        post(r#"{"network":"203.0.113.9","msisdn":"+99055550001","extra":1}"#).await;
    assert_eq!(status, 400);
    assert!(d.contains("extra"), "names the field: {d}");
}

/// A device inside a trusted proxy's range would be believed about its own forwarding header.
#[tokio::test]
async fn sessions_inside_a_trusted_proxy_range_are_refused() {
    let app = admin_app(true).await;
    let resp = app
        .http
        .post(app.url("/admin/sessions"))
        .bearer_auth(TOKEN)
        .json(&json!({"network": "127.0.0.1", "msisdn": "+99055550001"}))
        .send()
        .await
        .unwrap();
    let (status, error, description) = TestApp::error_of(resp).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert!(description.contains("trusted proxy"), "{description}");
}

async fn post_blocks(app: &TestApp, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/admin/cgnat-blocks"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// The MSISDN in the access token of a device at 203.0.113.9 (with `port`), as a trusted
/// proxy reports it, or `None` when it is not identified.
async fn behind_nat(app: &TestApp, port: Option<u16>) -> Option<String> {
    let forwarded = match port {
        Some(p) => format!("for=\"203.0.113.9:{p}\""),
        None => "for=203.0.113.9".to_owned(),
    };
    let resp = app
        .authorize_with(&app.std_params(&[]), &[("forwarded", forwarded.as_str())])
        .await;
    let code = param(&location_params(&resp), "code")?.to_owned();
    let body: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
    let claims = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    Some(claims.phone_number.as_str().to_owned())
}

/// A subscriber behind CGNAT, seen through a trusted proxy's `Forwarded: for="ip:port"`: the
/// block maps the public port to the private address, the session maps that to the MSISDN.
#[tokio::test]
async fn cgnat_blocks_in_bulk_join_a_public_port_to_the_subscriber_of_the_private_address() {
    let app = admin_app(true).await;
    for (net, n) in [
        ("100.64.0.1", "+99055550001"),
        ("100.64.0.2", "+99055550002"),
    ] {
        let resp = app
            .http
            .post(app.url("/admin/sessions"))
            .bearer_auth(TOKEN)
            .json(&json!({"network": net, "msisdn": n, "valid_for_seconds": 3600}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let body = json!({"blocks": [
        {"public": "203.0.113.9", "ports": "1024-2047", "private": "100.64.0.1"},
        {"public": "203.0.113.9", "ports": "2048-3071", "private": "100.64.0.2", "valid_for_seconds": 600},
    ]});
    let resp = post_blocks(&app, Some(TOKEN), &body.to_string()).await;
    assert_eq!(resp.status(), 200);
    let counts: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(counts["stored"], 2);
    assert_eq!(
        behind_nat(&app, Some(1500)).await.as_deref(),
        Some("+99055550001")
    );
    assert_eq!(
        behind_nat(&app, Some(3000)).await.as_deref(),
        Some("+99055550002")
    );
    // No port: the public address alone names nobody.
    assert_eq!(behind_nat(&app, None).await, None);

    let list: serde_json::Value = app
        .http
        .get(app.url("/admin/cgnat-blocks"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["blocks"].as_array().unwrap().len(), 2);

    let release = json!({"blocks": [
        {"public": "203.0.113.9", "ports": "1024-2047", "private": "100.64.0.1", "event": "deallocation"},
    ]});
    let counts: serde_json::Value = post_blocks(&app, Some(TOKEN), &release.to_string())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counts["released"], 1);
    assert_eq!(behind_nat(&app, Some(1500)).await, None);
    // The second block expires without a refresh.
    app.clock.advance(601);
    assert_eq!(behind_nat(&app, Some(3000)).await, None);
}

#[tokio::test]
async fn cgnat_blocks_need_the_admin_token_and_a_body_valid_as_a_whole() {
    let app = admin_app(true).await;
    let one =
        r#"{"blocks": [{"public": "203.0.113.9", "ports": "1024-2047", "private": "100.64.0.1"}]}"#;
    assert_eq!(post_blocks(&app, None, one).await.status(), 401);
    assert_eq!(post_blocks(&app, Some("wrong"), one).await.status(), 403);
    let refused = [
        r#"{"blocks": []}"#,
        r#"{"blocks": [{"public": "2001:db8::1", "ports": "1-2", "private": "100.64.0.1"}]}"#,
        r#"{"blocks": [{"public": "203.0.113.9", "ports": "2-1", "private": "100.64.0.1"}]}"#,
        // A trusted proxy's address cannot stand behind a block.
        r#"{"blocks": [{"public": "203.0.113.9", "ports": "1-2", "private": "127.0.0.1"}]}"#,
        r#"{"blocks": [{"public": "203.0.113.9", "ports": "1-2", "private": "100.64.0.1", "valid_for_seconds": 0}]}"#,
        r#"{"blocks": [{"public": "203.0.113.9", "ports": "1-2", "private": "100.64.0.1", "event": "deallocation", "valid_for_seconds": 5}]}"#,
        r#"{"blocks": [{"public": "203.0.113.9", "ports": "1-2", "private": "100.64.0.1", "event": "maybe"}]}"#,
        r#"{"blocks": [{"public": "203.0.113.9", "ports": "1-2", "private": "100.64.0.1", "extra": 1}]}"#,
        // Duplicate members are refused (a parser that kept the last one would differ from
        // one that kept the first).
        r#"{"blocks": [{"public": "203.0.113.9", "public": "203.0.113.10", "ports": "1-2", "private": "100.64.0.1"}]}"#,
        // One bad entry writes nothing, not even the good one before it.
        r#"{"blocks": [{"public": "203.0.113.9", "ports": "1024-2047", "private": "100.64.0.1"}, {"public": "x", "ports": "1-2", "private": "100.64.0.1"}]}"#,
    ];
    for body in refused {
        let resp = post_blocks(&app, Some(TOKEN), body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let text = resp.text().await.unwrap();
        assert!(!text.contains("203.0.113.10"), "{text}");
    }
    let list: serde_json::Value = app
        .http
        .get(app.url("/admin/cgnat-blocks"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["blocks"], json!([]));
}
