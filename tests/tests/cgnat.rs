//! A subscriber behind CGNAT end to end: a RADIUS Start binds private 100.64.0.5 to a
//! subscriber, an IPFIX port-block allocation maps public 127.0.0.9 ports 40000–40999 to it, and
//! a device whose TCP connection comes from 127.0.0.9 and a port in the block (the client socket
//! is bound to it: the OS would pick the port otherwise) gets a code for that subscriber; after
//! the de-allocation it gets none.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use end_to_end::{start, Stack, StackOptions};
use ipfix_nat::testing::MessageBuilder;
use ipfix_nat::{NatEvent, NatEventKind};
use nv_store::{Clock, FakeClock};
use radius_accounting::testing::RequestBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

const SCOPE: &str = "openid%20dpv%3AFraudPreventionAndDetection%20number-verification%3Averify";
const PUBLIC: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);

/// /authorize from `from` (address and source port): the `Location` of the redirect.
async fn authorize_from(stack: &Stack, from: SocketAddr) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(from).unwrap();
    let server: SocketAddr = stack.as_url.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let redirect = format!("{}/demo/callback", stack.issuer);
    let request = format!(
        "GET /authorize?response_type=code&client_id=demo-app&redirect_uri={}&scope={SCOPE}&prompt=none HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 302"), "{response}");
    response
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("a Location")
        .to_owned()
}

async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the feed never handled the update");
}

#[tokio::test]
async fn a_device_behind_cgnat_is_identified_through_its_port_block_until_the_block_is_released() {
    let clock = FakeClock::starting_now();
    let stack = start(StackOptions {
        as_radius: true,
        as_ipfix: true,
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    })
    .await;
    let (radius, radius_counters) = stack.radius.clone().expect("the RADIUS listener runs");
    let (ipfix, cgnat_counters) = stack.ipfix.clone().expect("the IPFIX collector runs");

    // The gateway: 100.64.0.5 belongs to +4915112345678.
    let nas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let start_session = RequestBuilder::new(1)
        .u32(40, 1)
        .string(44, b"cgnat-session")
        .string(31, b"4915112345678")
        .ipv4(8, [100, 64, 0, 5])
        .build(b"testing123");
    nas.send_to(&start_session, radius).await.unwrap();
    let mut answer = [0u8; 64];
    tokio::time::timeout(Duration::from_secs(5), nas.recv_from(&mut answer))
        .await
        .expect("the Start is answered")
        .unwrap();
    assert!(radius_counters.snapshot().accepted["start"] >= 1);

    // The NAT: 127.0.0.9 ports 40000–40999 go to 100.64.0.5.
    let exporter = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let block = |kind| NatEvent {
        kind,
        private: Ipv4Addr::new(100, 64, 0, 5),
        public: PUBLIC,
        ports_first: 40000,
        ports_last: 40999,
        time: clock.now(),
    };
    let allocation = MessageBuilder::new(7, clock.now() as u32)
        .nat_template(256)
        .events(256, &[block(NatEventKind::Allocation)])
        .build();
    exporter.send_to(&allocation, ipfix).await.unwrap();
    wait_for(|| cgnat_counters.snapshot().allocations == 1).await;

    let location = authorize_from(&stack, SocketAddr::from((PUBLIC, 40123))).await;
    assert!(location.contains("code="), "{location}");
    // Outside the block: not identified.
    let location = authorize_from(&stack, SocketAddr::from((PUBLIC, 41001))).await;
    assert!(location.contains("error=login_required"), "{location}");

    let release = MessageBuilder::new(7, clock.now() as u32)
        .events(256, &[block(NatEventKind::Deallocation)])
        .build();
    exporter.send_to(&release, ipfix).await.unwrap();
    wait_for(|| cgnat_counters.snapshot().deallocations == 1).await;
    let location = authorize_from(&stack, SocketAddr::from((PUBLIC, 40124))).await;
    assert!(location.contains("error=login_required"), "{location}");
    let counters = cgnat_counters.snapshot();
    assert!(
        counters.lookup_hits >= 1 && counters.lookup_misses >= 1,
        "{counters:?}"
    );
}
