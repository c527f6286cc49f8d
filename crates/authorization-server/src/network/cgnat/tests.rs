use super::*;
use crate::network::sessions::{put_lease, Lease, SessionResolver};
use ipnet::IpNet;
use nv_store::{FakeClock, MemoryStore};

fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new(Arc::new(FakeClock::new(1000))))
}

fn range(s: &str) -> PortRange {
    s.parse().unwrap()
}

fn alloc(private: &str, since: i64, until: i64) -> Allocation {
    Allocation {
        private: private.parse().unwrap(),
        since,
        valid_until: until,
    }
}

const PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// The private address `ip` leased to `n` from 1000 to 9000.
async fn subscriber(store: &dyn Store, ip: &str, n: &str, since: i64) {
    let net: IpNet = format!("{ip}/32").parse().unwrap();
    let lease = Lease {
        msisdn: n.parse().unwrap(),
        valid_until: 9000,
    };
    put_lease(store, &net, None, &lease, since).await.unwrap();
}

fn resolver(store: &Arc<dyn Store>) -> (CgnatResolver<SessionResolver>, Arc<CgnatCounters>) {
    let counters = Arc::new(CgnatCounters::default());
    let r = CgnatResolver::new(
        store.clone(),
        SessionResolver::new(store.clone()),
        counters.clone(),
    );
    (r, counters)
}

async fn who(r: &CgnatResolver<SessionResolver>, port: Option<u16>, at: i64) -> Option<String> {
    let addr = ClientAddr {
        ip: IpAddr::V4(PUBLIC),
        port,
    };
    r.resolve(&addr, at)
        .await
        .unwrap()
        .map(|n| n.as_str().to_owned())
}

#[tokio::test]
async fn a_public_port_resolves_through_its_block_to_the_subscriber_of_the_private_address() {
    let store = store();
    subscriber(&*store, "100.64.0.1", "+99000000001", 1000).await;
    subscriber(&*store, "100.64.0.2", "+99000000002", 1000).await;
    let a = alloc("100.64.0.1", 1000, 5000);
    let b = alloc("100.64.0.2", 1000, 5000);
    for (ports, al) in [("1024-2047", a), ("2048-3071", b)] {
        assert_eq!(
            allocate(&*store, PUBLIC, range(ports), al, 1000)
                .await
                .unwrap(),
            Allocated::Stored
        );
    }
    let (r, counters) = resolver(&store);
    assert_eq!(
        who(&r, Some(1024), 1100).await.as_deref(),
        Some("+99000000001")
    );
    assert_eq!(
        who(&r, Some(3071), 1100).await.as_deref(),
        Some("+99000000002")
    );
    assert_eq!(who(&r, Some(3072), 1100).await, None);
    // Without a source port nothing behind a NAT can be told apart.
    assert_eq!(who(&r, None, 1100).await, None);
    let s = counters.snapshot();
    assert_eq!((s.lookup_hits, s.lookup_misses), (2, 1));
    assert_eq!(list(&*store, 1100).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_lookup_sees_only_the_allocation_held_at_its_instant() {
    let store = store();
    subscriber(&*store, "100.64.0.1", "+99000000001", 1000).await;
    allocate(
        &*store,
        PUBLIC,
        range("1024-2047"),
        alloc("100.64.0.1", 1200, 1500),
        1000,
    )
    .await
    .unwrap();
    let (r, _) = resolver(&store);
    assert_eq!(who(&r, Some(1500), 1199).await, None);
    assert_eq!(
        who(&r, Some(1500), 1200).await.as_deref(),
        Some("+99000000001")
    );
    // Not refreshed: expired.
    assert_eq!(who(&r, Some(1500), 1500).await, None);
}

#[tokio::test]
async fn a_deallocation_ends_the_block_and_a_reallocation_never_lets_the_old_holder_match() {
    let store = store();
    subscriber(&*store, "100.64.0.1", "+99000000001", 1000).await;
    subscriber(&*store, "100.64.0.2", "+99000000002", 1000).await;
    let ports = range("1024-2047");
    allocate(
        &*store,
        PUBLIC,
        ports,
        alloc("100.64.0.1", 1000, 5000),
        1000,
    )
    .await
    .unwrap();
    let (r, _) = resolver(&store);
    assert!(
        deallocate(&*store, PUBLIC, ports, "100.64.0.1".parse().unwrap(), 1100)
            .await
            .unwrap()
    );
    assert_eq!(who(&r, Some(1500), 1200).await, None);

    // Re-allocated to another private address (its de-allocation lost, or a wider block).
    allocate(
        &*store,
        PUBLIC,
        ports,
        alloc("100.64.0.1", 1200, 5000),
        1200,
    )
    .await
    .unwrap();
    allocate(
        &*store,
        PUBLIC,
        range("1024-4095"),
        alloc("100.64.0.2", 1300, 5000),
        1300,
    )
    .await
    .unwrap();
    assert_eq!(
        who(&r, Some(1500), 1400).await.as_deref(),
        Some("+99000000002")
    );
    // The old holder's late de-allocation does not end the new holder's block.
    assert!(!deallocate(
        &*store,
        PUBLIC,
        range("1024-4095"),
        "100.64.0.1".parse().unwrap(),
        1400
    )
    .await
    .unwrap());
    assert_eq!(
        who(&r, Some(1500), 1400).await.as_deref(),
        Some("+99000000002")
    );
    // An allocation older than what is stored (reordered delivery) changes nothing.
    assert_eq!(
        allocate(
            &*store,
            PUBLIC,
            ports,
            alloc("100.64.0.1", 1250, 5000),
            1400
        )
        .await
        .unwrap(),
        Allocated::Stale
    );
    assert_eq!(
        who(&r, Some(1500), 1400).await.as_deref(),
        Some("+99000000002")
    );
}

#[tokio::test]
async fn the_subscriber_is_the_one_holding_the_private_address_at_the_instant() {
    let store = store();
    allocate(
        &*store,
        PUBLIC,
        range("1024-2047"),
        alloc("100.64.0.1", 1000, 5000),
        1000,
    )
    .await
    .unwrap();
    let (r, _) = resolver(&store);
    // A block but no session of the private address: nobody.
    assert_eq!(who(&r, Some(1500), 1100).await, None);
    subscriber(&*store, "100.64.0.1", "+99000000003", 1200).await;
    assert_eq!(who(&r, Some(1500), 1100).await, None);
    assert_eq!(
        who(&r, Some(1500), 1200).await.as_deref(),
        Some("+99000000003")
    );
}

/// Written by hand (two replicas racing, or a stored field from elsewhere): two live blocks of
/// different private addresses both hold the port.
#[tokio::test]
async fn overlapping_live_blocks_of_different_private_addresses_identify_nobody() {
    let store = store();
    subscriber(&*store, "100.64.0.1", "+99000000001", 1000).await;
    subscriber(&*store, "100.64.0.2", "+99000000002", 1000).await;
    for (f, p) in [("1024-2047", "100.64.0.1"), ("1500-1600", "100.64.0.2")] {
        let v = serde_json::to_vec(&alloc(p, 1000, 5000)).unwrap();
        store
            .map_put("cgnat:198.51.100.7", f, &v, Duration::from_secs(600))
            .await
            .unwrap();
    }
    store
        .map_put(
            "cgnat:198.51.100.7",
            "junk",
            b"{}",
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    let (r, _) = resolver(&store);
    assert_eq!(who(&r, Some(1550), 1100).await, None);
    assert_eq!(
        who(&r, Some(1100), 1100).await.as_deref(),
        Some("+99000000001")
    );
}

#[tokio::test]
async fn an_expired_or_empty_allocation_is_not_stored() {
    let store = store();
    for a in [
        alloc("100.64.0.1", 900, 1000),
        alloc("100.64.0.1", 1100, 1100),
    ] {
        assert_eq!(
            allocate(&*store, PUBLIC, range("1-2"), a, 1000)
                .await
                .unwrap(),
            Allocated::Stale
        );
    }
    assert!(list(&*store, 1000).await.unwrap().is_empty());
}
