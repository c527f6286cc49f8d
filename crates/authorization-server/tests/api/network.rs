//! Who is the subscriber: the TCP peer, trusted proxies, CGNAT port ranges, IPv6 prefixes,
//! playground hints.

use crate::helpers::*;

async fn number_for(
    app: &TestApp,
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Result<String, String> {
    let resp = app.authorize_with(&app.std_params(extra), headers).await;
    let pairs = location_params(&resp);
    let Some(code) = param(&pairs, "code") else {
        return Err(param(&pairs, "error").unwrap_or("?").to_owned());
    };
    let body: serde_json::Value = app.redeem(code).await.json().await.unwrap();
    let claims = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    Ok(claims.phone_number.as_str().to_owned())
}

#[tokio::test]
async fn a_spoofed_forwarded_header_from_an_untrusted_peer_is_ignored() {
    let app = spawn().await;
    let n = number_for(
        &app,
        &[],
        &[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=198.51.100.7"),
        ],
    )
    .await;
    assert_eq!(n.as_deref(), Ok(LOOPBACK_NUMBER));
}

fn behind(header: ForwardingHeader) -> Builder {
    Builder {
        trusted_proxies: vec![("127.0.0.1/32", header)],
        no_loopback: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_trusted_proxy_is_believed_about_the_device_address() {
    let app = behind(ForwardingHeader::XForwardedFor).spawn().await;
    let n = number_for(&app, &[], &[("x-forwarded-for", "198.51.100.7")]).await;
    assert_eq!(n.as_deref(), Ok("+99011110004"));
    // A device cannot smuggle a hop in front of what the proxy appended.
    let n = number_for(
        &app,
        &[],
        &[("x-forwarded-for", "100.64.0.1, 198.51.100.7")],
    )
    .await;
    assert_eq!(n.as_deref(), Ok("+99011110004"));
}

/// The bypass found in review: behind a proxy that appends `X-Forwarded-For` and passes other
/// headers through, a device added `Forwarded: for=<victim>` and got the victim's number.
#[tokio::test]
async fn a_device_behind_an_x_forwarded_for_proxy_cannot_claim_an_address_with_forwarded() {
    let app = behind(ForwardingHeader::XForwardedFor).spawn().await;
    let alone = number_for(&app, &[], &[("x-forwarded-for", "203.0.113.5")]).await;
    assert_eq!(alone, Err("login_required".into()), "an unknown device");
    for spoof in [
        "for=100.64.0.1",
        "for=\"100.64.0.1:1500\"",
        "for=\"[::ffff:100.64.0.1]:1500\"",
        "for=\"[2001:db8:ab::9]:4711\"",
    ] {
        let resp = app
            .authorize_with(
                &app.std_params(&[]),
                &[("x-forwarded-for", "203.0.113.5"), ("forwarded", spoof)],
            )
            .await;
        let pairs = location_params(&resp);
        assert_eq!(param(&pairs, "code"), None, "{spoof}");
        assert_eq!(param(&pairs, "error"), Some("login_required"), "{spoof}");
        assert!(
            param(&pairs, "error_description")
                .unwrap()
                .contains("forwarding headers do not identify the device"),
            "{pairs:?}"
        );
    }
    // The header it does not write, alone, names nobody either.
    assert_eq!(
        number_for(&app, &[], &[("forwarded", "for=100.64.0.1")]).await,
        Err("login_required".into())
    );
}

#[tokio::test]
async fn a_device_behind_a_forwarded_proxy_cannot_claim_an_address_with_x_forwarded_for() {
    let app = behind(ForwardingHeader::Forwarded).spawn().await;
    let fwd = "for=\"203.0.113.5:1000\"";
    assert_eq!(
        number_for(&app, &[], &[("forwarded", fwd)]).await,
        Err("login_required".into())
    );
    assert_eq!(
        number_for(
            &app,
            &[],
            &[("forwarded", fwd), ("x-forwarded-for", "198.51.100.7")]
        )
        .await,
        Err("login_required".into())
    );
    assert_eq!(
        number_for(&app, &[], &[("x-forwarded-for", "198.51.100.7")]).await,
        Err("login_required".into())
    );
    // What the proxy wrote is believed, including repeated lines and chains.
    assert_eq!(
        number_for(&app, &[], &[("forwarded", "for=198.51.100.7")])
            .await
            .as_deref(),
        Ok("+99011110004")
    );
    assert_eq!(
        number_for(
            &app,
            &[],
            &[
                ("forwarded", "for=\"100.64.0.1:1500\""),
                ("forwarded", "for=198.51.100.7")
            ]
        )
        .await
        .as_deref(),
        Ok("+99011110004")
    );
    // Obfuscated or broken where the device should be: refused, never the proxy's address.
    for v in [
        "for=unknown",
        "for=_hidden",
        "for=\"100.64.0.1",
        "for=2001:db8::1",
    ] {
        assert_eq!(
            number_for(&app, &[], &[("forwarded", v)]).await,
            Err("login_required".into()),
            "{v}"
        );
    }
}

#[tokio::test]
async fn in_network_mode_a_tel_hint_does_not_change_the_identity() {
    let app = spawn().await;
    let n = number_for(&app, &[("login_hint", "tel:+99000000077")], &[]).await;
    assert_eq!(n.as_deref(), Ok(LOOPBACK_NUMBER));
}

#[tokio::test]
async fn in_playground_mode_a_test_number_hint_is_the_identity() {
    let app = Builder {
        playground: true,
        no_loopback: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let resp = app
        .authorize(&app.std_params(&[("login_hint", "tel:+99000000077")]))
        .await;
    let code = param(&location_params(&resp), "code").unwrap().to_owned();
    let body: serde_json::Value = app.redeem(&code).await.json().await.unwrap();
    let claims = app
        .open(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert_eq!(claims.phone_number.as_str(), "+99000000077");
    assert_eq!(claims.amr, vec!["playground".to_string()]);
    // A real (non +990) number is not a playground identity: back to the network, which knows nobody.
    assert_eq!(
        number_for(&app, &[("login_hint", "tel:+33612345678")], &[]).await,
        Err("login_required".into())
    );
}
