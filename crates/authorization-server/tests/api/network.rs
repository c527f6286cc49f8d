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

#[tokio::test]
async fn a_trusted_proxy_is_believed_about_the_device_address() {
    let app = Builder {
        trusted_proxies: vec!["127.0.0.1/32"],
        ..Default::default()
    }
    .spawn()
    .await;
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

#[tokio::test]
async fn cgnat_port_ranges_and_ipv6_prefixes_identify_different_subscribers() {
    let app = Builder {
        trusted_proxies: vec!["127.0.0.1/32"],
        no_loopback: true,
        ..Default::default()
    }
    .spawn()
    .await;
    let fwd = |v: &'static str| vec![("forwarded", v)];
    assert_eq!(
        number_for(&app, &[], &fwd("for=\"100.64.0.1:1500\""))
            .await
            .as_deref(),
        Ok("+99011110001")
    );
    assert_eq!(
        number_for(&app, &[], &fwd("for=\"100.64.0.1:3000\""))
            .await
            .as_deref(),
        Ok("+99011110002")
    );
    assert_eq!(
        number_for(&app, &[], &fwd("for=\"[2001:db8:ab::9]:4711\""))
            .await
            .as_deref(),
        Ok("+99011110003")
    );
    // Same public address, a port outside every block, and no port at all: nobody.
    assert_eq!(
        number_for(&app, &[], &fwd("for=\"100.64.0.1:9000\"")).await,
        Err("login_required".into())
    );
    assert_eq!(
        number_for(&app, &[], &fwd("for=100.64.0.1")).await,
        Err("login_required".into())
    );
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
