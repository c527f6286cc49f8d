//! The RADIUS accounting feed end to end: FreeRADIUS's `radclient` (Debian `freeradius-utils`)
//! reports sessions to the authorization server's listener, and a device on another loopback
//! address (any 127.x.y.z is local on Linux) goes through /authorize → /token → /verify. Without
//! radclient these tests skip, unless REQUIRE_REDIS_TESTS is set (the test command): then they
//! fail.

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;

use end_to_end::{start, Stack, StackOptions};
use nv_store::FakeClock;
use radius_accounting::testing::RequestBuilder;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify";
const SECRET: &str = "testing123";

/// Whether radclient is there; a missing one fails the test under REQUIRE_REDIS_TESTS.
fn radclient_available() -> bool {
    let found = std::process::Command::new("radclient")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("REQUIRE_REDIS_TESTS").is_none(),
            "radclient is not installed (apt-get install freeradius-utils) and REQUIRE_REDIS_TESTS is set"
        );
        eprintln!("skipping: radclient is not installed (apt-get install freeradius-utils)");
    }
    found
}

struct Feed {
    stack: Stack,
    clock: FakeClock,
    radius: SocketAddr,
}

async fn feed() -> Option<Feed> {
    if !radclient_available() {
        return None;
    }
    let clock = FakeClock::starting_now();
    let stack = start(StackOptions {
        as_radius: true,
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    })
    .await;
    let radius = stack.radius.as_ref().expect("the listener runs").0;
    Some(Feed {
        stack,
        clock,
        radius,
    })
}

impl Feed {
    /// One accounting request through radclient; `true` when it got a valid answer.
    async fn radclient(&self, attributes: &str) -> bool {
        let mut child = tokio::process::Command::new("radclient")
            .args(["-r", "2", "-t", "3", "-q"])
            .arg(self.radius.to_string())
            .args(["acct", SECRET])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("radclient runs");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(attributes.as_bytes()).await.unwrap();
        drop(stdin);
        child.wait().await.unwrap().success()
    }

    async fn start_session(&self, session: &str, ip: &str, msisdn: &str) {
        assert!(
            self.radclient(&format!(
                "Acct-Status-Type = Start, Acct-Session-Id = \"{session}\", \
                 Framed-IP-Address = {ip}, Calling-Station-Id = \"{msisdn}\", \
                 3GPP-IMSI = \"262011234567890\", 3GPP-IMEISV = \"3534900698733301\", \
                 3GPP-RAT-Type = EUTRAN"
            ))
            .await,
            "Start answered"
        );
    }

    async fn stop_session(&self, session: &str, ip: &str) {
        assert!(
            self.radclient(&format!(
                "Acct-Status-Type = Stop, Acct-Session-Id = \"{session}\", \
                 Framed-IP-Address = {ip}, Acct-Session-Time = 30"
            ))
            .await,
            "Stop answered"
        );
    }

    fn device(&self, ip: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(ip.parse::<IpAddr>().unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// /authorize as the device at `ip`: the code, or the error of the redirect.
    async fn authorize(&self, ip: &str) -> Result<String, String> {
        let redirect_uri = format!("{}/demo/callback", self.stack.issuer);
        let resp = self
            .device(ip)
            .get(format!("{}/authorize", self.stack.as_url))
            .query(&[
                ("response_type", "code"),
                ("client_id", "demo-app"),
                ("redirect_uri", redirect_uri.as_str()),
                ("scope", SCOPE),
                ("prompt", "none"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        let get = |name| {
            location
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        get("code").ok_or_else(|| get("error").unwrap_or_default())
    }

    /// The device at `ip` gets a token and asks /verify whether it is `number`.
    async fn verifies_as(&self, ip: &str, number: &str) -> bool {
        let code = self.authorize(ip).await.expect("a code");
        let http = self.device(ip);
        let body: Value = http
            .post(format!("{}/token", self.stack.as_url))
            .basic_auth("demo-app", Some("demo-secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                (
                    "redirect_uri",
                    &format!("{}/demo/callback", self.stack.issuer),
                ),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["access_token"].as_str().expect("a token");
        let body: Value = http
            .post(format!("{}/number-verification/v2/verify", self.stack.api))
            .bearer_auth(token)
            .json(&serde_json::json!({ "phoneNumber": number }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["devicePhoneNumberVerified"]
            .as_bool()
            .unwrap_or_else(|| panic!("{body}"))
    }
}

#[tokio::test]
async fn a_radclient_start_identifies_the_device_and_its_stop_ends_that() {
    let Some(f) = feed().await else { return };
    assert_eq!(f.authorize("127.0.0.7").await, Err("login_required".into()));
    f.start_session("e2e-1", "127.0.0.7", "4915112345671").await;
    assert!(f.verifies_as("127.0.0.7", "+4915112345671").await);
    assert!(!f.verifies_as("127.0.0.7", "+4915112345672").await);
    f.stop_session("e2e-1", "127.0.0.7").await;
    assert_eq!(f.authorize("127.0.0.7").await, Err("login_required".into()));
    let counters = f.stack.radius.as_ref().unwrap().1.snapshot();
    assert_eq!(
        (counters.accepted["start"], counters.accepted["stop"]),
        (1, 1)
    );
    assert_eq!(counters.dropped_total(), 0);
    assert!(counters.lookups_hit >= 2 && counters.lookups_miss >= 2);
}

#[tokio::test]
async fn an_address_given_to_another_subscriber_identifies_only_the_new_one() {
    let Some(f) = feed().await else { return };
    f.start_session("a", "127.0.0.8", "4915112345671").await;
    assert!(f.verifies_as("127.0.0.8", "+4915112345671").await);
    f.stop_session("a", "127.0.0.8").await;
    f.start_session("b", "127.0.0.8", "4915112345672").await;
    assert!(f.verifies_as("127.0.0.8", "+4915112345672").await);
    assert!(!f.verifies_as("127.0.0.8", "+4915112345671").await);
}

#[tokio::test]
async fn accounting_on_drops_every_session_of_the_nas() {
    let Some(f) = feed().await else { return };
    f.start_session("a", "127.0.0.9", "4915112345671").await;
    f.start_session("b", "127.0.0.10", "4915112345672").await;
    assert!(f.authorize("127.0.0.9").await.is_ok());
    // The NAS restarts a second later (the clock is the servers' fake one).
    f.clock.advance(1);
    assert!(f.radclient("Acct-Status-Type = Accounting-On").await);
    assert_eq!(f.authorize("127.0.0.9").await, Err("login_required".into()));
    assert_eq!(
        f.authorize("127.0.0.10").await,
        Err("login_required".into())
    );
    f.start_session("c", "127.0.0.9", "4915112345673").await;
    assert!(f.verifies_as("127.0.0.9", "+4915112345673").await);
}

/// radclient never hears back from a listener that does not know its secret.
#[tokio::test]
async fn radclient_with_the_wrong_secret_gets_no_answer() {
    let Some(f) = feed().await else { return };
    let status = tokio::process::Command::new("radclient")
        .args(["-r", "1", "-t", "1", "-q"])
        .arg(f.radius.to_string())
        .args(["acct", "wrong-secret"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = status;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            b"Acct-Status-Type = Start, Acct-Session-Id = \"x\", Framed-IP-Address = 127.0.0.11, \
              Calling-Station-Id = \"4915112345671\"",
        )
        .await
        .unwrap();
    drop(stdin);
    assert!(!child.wait().await.unwrap().success());
    assert_eq!(
        f.authorize("127.0.0.11").await,
        Err("login_required".into())
    );
    assert!(f.stack.radius.as_ref().unwrap().1.snapshot().dropped["bad_authenticator"] >= 1);
}

/// Updates and garbage as fast as one socket sends them, while a device signs in over and over:
/// every /authorize still answers with a code.
#[tokio::test]
async fn a_flood_of_accounting_updates_does_not_stop_authorize_from_answering() {
    let Some(f) = feed().await else { return };
    f.start_session("device", "127.0.0.12", "4915112345679")
        .await;
    let target = f.radius;
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        tokio::spawn(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut sent = 0u64;
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                let n = sent as u32;
                let update = RequestBuilder::new(n as u8)
                    .u32(40, 3)
                    .string(44, format!("flood-{}", n % 5000).as_bytes())
                    .string(31, b"4915100000000")
                    .ipv4(8, [100, 64, (n >> 8) as u8, n as u8])
                    .u32(46, n)
                    .build(SECRET.as_bytes());
                let _ = socket.send_to(&update, target).await;
                let _ = socket.send_to(b"garbage", target).await;
                sent += 2;
                if sent % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            sent
        })
    };
    for _ in 0..20 {
        assert!(f.authorize("127.0.0.12").await.is_ok());
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.await.unwrap();
    let counters = f.stack.radius.as_ref().unwrap().1.snapshot();
    eprintln!("flood: {sent} datagrams sent; counters {counters:?}");
    assert!(counters.accepted["interim_update"] > 0);
    assert!(counters.dropped["truncated"] > 0);
}
