//! Logs never carry a phone number, a code, a token, a secret or an assertion — whatever the
//! request contained. One test binary of its own: it installs the global log subscriber.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::*;
use server_kit::testing::LogCapture;

#[tokio::test]
async fn logs_contain_no_phone_number_code_token_secret_or_assertion() {
    let capture = LogCapture::install();

    let app = Builder {
        playground: true,
        admin_token: Some("admin-token-for-the-log-test-0123456789"),
        ..Default::default()
    }
    .spawn()
    .await;
    // A playground hint, a network identity, a secret client, an assertion client, errors.
    let code_pg = app
        .code(&[
            ("login_hint", "tel:+99000000077"),
            ("client_id", "rp-secret"),
        ])
        .await;
    let resp = app
        .http
        .post(app.url("/token"))
        .basic_auth("rp-secret", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code_pg),
            ("redirect_uri", RP_REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let pg: serde_json::Value = resp.json().await.unwrap();
    let code = app.code(&[]).await;
    let assertion = app.assertion(&app.assertion_claims("rp-jwt"));
    let resp = app.redeem_with_assertion(&code, &assertion).await;
    let body: serde_json::Value = resp.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    // Refusals log too: replayed code and assertion, wrong secret.
    app.token_form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", RP_REDIRECT),
        ("client_id", "rp-secret"),
        ("client_secret", "wrong-secret-xyz"),
    ])
    .await;
    app.authorize(&app.std_params(&[("login_hint", "tel:+99000000088"), ("prompt", "consent")]))
        .await;

    // Client text in error descriptions cannot forge log lines (CWE-117): a duplicated
    // parameter whose name carries CR/LF, at /token and at /authorize.
    let forged = "x%0D%0AFORGED INFO tokens issued";
    app.http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&{forged}=1&{forged}=2"
        ))
        .send()
        .await
        .unwrap();
    app.http
        .get(format!(
            "{}&{forged}=1&{forged}=2",
            app.url("/authorize?client_id=rp-secret&redirect_uri=https%3A%2F%2Frp.example%2Fcb")
        ))
        .send()
        .await
        .unwrap();

    // The admin API: a session added, and a mistyped number refused.
    for body in [
        r#"{"network":"203.0.113.9","msisdn":"+99000000066"}"#,
        r#"{"network":"203.0.113.9","msisdn":99000000055}"#,
    ] {
        app.http
            .post(app.url("/admin/sessions"))
            .bearer_auth("admin-token-for-the-log-test-0123456789")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
    }

    // The RADIUS listener: a session with its 3GPP attributes, a wrong secret, a malformed
    // number, a Stop and an Accounting-On.
    radius_traffic().await;

    // The CGNAT feed: port blocks through the admin API (one malformed, its value must not be
    // echoed) and through the IPFIX collector (a template, an allocation, garbage).
    for body in [
        r#"{"blocks":[{"public":"203.0.113.9","ports":"1024-2047","private":"100.64.0.1","event":"allocation"}]}"#,
        r#"{"blocks":[{"public":"203.0.113.9","ports":"1024-2047","private":"cgnat-marker-5150","event":"allocation"}]}"#,
    ] {
        app.http
            .post(app.url("/admin/cgnat-blocks"))
            .bearer_auth("admin-token-for-the-log-test-0123456789")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
    }
    ipfix_traffic().await;

    // Operator tokens: issued to the device and through the admin API; both are bearer
    // credentials until spent.
    let device: serde_json::Value = app
        .http
        .post(app.url("/entitlement/operator-token"))
        .form(&[("client_id", "rp-jwt")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin: serde_json::Value = app
        .http
        .post(app.url("/admin/operator-tokens"))
        .bearer_auth("admin-token-for-the-log-test-0123456789")
        .json(&serde_json::json!({"msisdn": "+99000000044", "client_id": "rp-jwt"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operator_tokens = [
        device["operator_token"].as_str().unwrap().to_owned(),
        admin["operator_token"].as_str().unwrap().to_owned(),
    ];

    // CIBA: a request with an operator token, polled too early and then redeemed.
    let hint = format!("operatortoken:{}", operator_tokens[0]);
    let ciba: serde_json::Value = app
        .http
        .post(app.url("/bc-authorize"))
        .form(&[
            ("client_id", "rp-jwt"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &app.assertion(&app.assertion_claims("rp-jwt")),
            ),
            ("scope", NV_SCOPE),
            ("login_hint", &hint),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auth_req_id = ciba["auth_req_id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        app.token_form(&[
            ("grant_type", "urn:openid:params:grant-type:ciba"),
            ("auth_req_id", &auth_req_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &app.assertion(&app.assertion_claims("rp-jwt")),
            ),
        ])
        .await;
        app.clock.advance(7);
    }

    let logs = capture.text();
    assert!(
        logs.contains("backchannel authentication request accepted") && logs.contains("slow_down"),
        "CIBA was logged:\n{logs}"
    );
    assert!(
        logs.contains("operator token issued to a device")
            && logs.contains("operator token issued through the admin API"),
        "the operator tokens were logged:\n{logs}"
    );
    assert!(
        logs.contains("RADIUS accounting listener ready")
            && logs.contains("accounting request dropped")
            && logs.contains("NAS restarted"),
        "the RADIUS listener was logged:\n{logs}"
    );
    assert!(
        logs.contains("IPFIX collector ready") && logs.contains("IPFIX message dropped"),
        "the IPFIX collector was logged:\n{logs}"
    );
    assert!(
        logs.contains("session added"),
        "the admin API was logged:\n{logs}"
    );
    assert!(
        logs.contains("FORGED INFO tokens issued"),
        "the refusals were logged:\n{logs}"
    );
    for line in logs.lines() {
        assert!(!line.starts_with("FORGED"), "a forged log line: {line}");
    }
    assert!(
        logs.contains("code issued") && logs.contains("tokens issued"),
        "the flow was logged:\n{logs}"
    );
    for secret in [
        "99012345678",
        "99000000077",
        "99000000088",
        "99000000066",
        "99000000055",
        "admin-token-for-the-log-test",
        code_pg.as_str(),
        code.as_str(),
        &access_token[..60],
        pg["access_token"].as_str().unwrap(),
        body["id_token"].as_str().unwrap(),
        &assertion[assertion.len() - 40..],
        SECRET,
        "wrong-secret-xyz",
        "4915112345678",
        "262019876543210",
        "3534900698733399",
        "log-session-id-77",
        "log-test-nas-secret",
        "cgnat-marker-5150",
        "99000000044",
        operator_tokens[0].as_str(),
        operator_tokens[1].as_str(),
        auth_req_id.as_str(),
    ] {
        assert!(!logs.contains(secret), "the logs contain `{secret}`");
    }
}

async fn radius_traffic() {
    use std::sync::Arc;

    use authorization_server::config::{NasClient, Secret};
    use authorization_server::network::radius::RadiusFeed;
    use nv_store::{Clock, MemoryStore, SystemClock};
    use radius_accounting::testing::RequestBuilder;

    let secret = b"log-test-nas-secret";
    let mut settings = authorization_server::Settings::default();
    settings.radius.listen = Some("127.0.0.1:0".parse().unwrap());
    settings.radius.max_in_flight = 1;
    settings.radius.clients = vec![NasClient {
        network: "127.0.0.1/32".parse().unwrap(),
        secret: Secret::new("log-test-nas-secret"),
    }];
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let feed = RadiusFeed::start(&settings, Arc::new(MemoryStore::new(clock.clone())), clock)
        .unwrap()
        .unwrap();
    let nas = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    nas.connect(feed.local_addr()).await.unwrap();
    let session = |id: u8, status: u32, msisdn: &[u8]| {
        RequestBuilder::new(id)
            .u32(40, status)
            .string(44, b"log-session-id-77")
            .string(31, msisdn)
            .ipv4(8, [100, 64, 7, 7])
            .vsa_3gpp(1, b"262019876543210")
            .vsa_3gpp(20, b"3534900698733399")
            .vsa_3gpp(21, &[6])
    };
    let answered = [
        session(1, 1, b"4915112345678").build(secret),
        session(2, 2, b"4915112345678").build(secret),
        RequestBuilder::new(3).u32(40, 7).build(secret),
    ];
    let dropped = [
        session(4, 1, b"4915112345678").build(b"wrong"),
        session(5, 1, b"49151-12345678").build(secret),
        session(6, 9, b"4915112345678").build(secret),
    ];
    for packet in dropped.iter().chain(&answered) {
        nas.send(packet).await.unwrap();
    }
    let mut buf = [0u8; 64];
    for _ in &answered {
        tokio::time::timeout(std::time::Duration::from_secs(10), nas.recv(&mut buf))
            .await
            .expect("answered")
            .unwrap();
    }
    assert_eq!(
        feed.counters().snapshot().dropped_total(),
        dropped.len() as u64
    );
}

async fn ipfix_traffic() {
    use std::sync::Arc;
    use std::time::Duration;

    use authorization_server::network::cgnat::ipfix::IpfixCollector;
    use authorization_server::network::cgnat::CgnatCounters;
    use ipfix_nat::testing::MessageBuilder;
    use ipfix_nat::{NatEvent, NatEventKind};
    use nv_store::{Clock, MemoryStore, SystemClock};

    let mut settings = authorization_server::Settings::default();
    settings.cgnat.ipfix.listen = Some("127.0.0.1:0".parse().unwrap());
    settings.cgnat.ipfix.exporters = vec!["127.0.0.1/32".parse().unwrap()];
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let counters = Arc::new(CgnatCounters::default());
    let collector = IpfixCollector::start(
        &settings,
        Arc::new(MemoryStore::new(clock.clone())),
        clock,
        counters.clone(),
    )
    .unwrap()
    .unwrap();
    let exporter = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let allocation = NatEvent {
        kind: NatEventKind::Allocation,
        private: [100, 64, 9, 9].into(),
        public: [198, 51, 100, 9].into(),
        ports_first: 1024,
        ports_last: 2047,
        time: now - 1,
    };
    let datagrams = [
        MessageBuilder::new(1, now as u32).nat_template(256).build(),
        MessageBuilder::new(1, now as u32)
            .events(256, &[allocation])
            .build(),
        b"not an IPFIX message".to_vec(),
    ];
    for datagram in &datagrams {
        exporter
            .send_to(datagram, collector.local_addr())
            .await
            .unwrap();
    }
    for _ in 0..500 {
        let s = counters.snapshot();
        if s.messages + s.dropped["malformed"] == datagrams.len() as u64 {
            assert_eq!(s.allocations, 1);
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the collector never handled the datagrams");
}
