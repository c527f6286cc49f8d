//! Who sent this authorization request: in playground mode a test number named by the
//! `login_hint`; otherwise the network — the device address ([`client_address`]), then the
//! resolvers. The one place an identity is decided.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use nv_store::{Store, StoreError};
use nv_token::{Amr, PhoneNumber};

use super::{client_address, ChainResolver, ClientAddr, ForwardingError, IdentityResolver};
use crate::config::TrustedProxy;
use crate::protocol::LoginHint;
use crate::state::keys;

/// The subscriber and how they were identified (`amr`).
#[derive(Debug)]
pub struct Subscriber {
    pub phone_number: PhoneNumber,
    pub amr: Vec<Amr>,
}

/// Why no subscriber was identified.
#[derive(Debug, thiserror::Error)]
pub enum Unidentified {
    /// No identity source knows the device.
    #[error("no identity source knows the device address")]
    Unknown,
    /// A trusted proxy's forwarding headers do not name a device.
    #[error(transparent)]
    Forwarding(ForwardingError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for Unidentified {
    fn from(e: StoreError) -> Self {
        Unidentified::Store(e)
    }
}

/// The identity sources, built at start-up.
pub struct Identification {
    trusted_proxies: Vec<TrustedProxy>,
    resolver: ChainResolver,
    playground: Playground,
}

/// Playground mode (`network.playground`): a test number (`+990…`), a configured one or one the
/// admin API added is taken from a `tel:` hint without a network check.
pub struct Playground {
    pub enabled: bool,
    /// `network.playground_numbers`.
    pub numbers: HashSet<PhoneNumber>,
    /// Where the admin API files the numbers it adds ([`keys::playground_number`]).
    pub store: Arc<dyn Store>,
}

impl Playground {
    /// Whether `n` may be named by a `login_hint` (only asked when playground mode is on).
    async fn knows(&self, n: &PhoneNumber) -> Result<bool, StoreError> {
        if n.is_test_number() || self.numbers.contains(n) {
            return Ok(true);
        }
        Ok(self.store.get(&keys::playground_number(n)).await?.is_some())
    }
}

impl Identification {
    pub fn new(
        trusted_proxies: Vec<TrustedProxy>,
        resolver: ChainResolver,
        playground: Playground,
    ) -> Self {
        Self {
            trusted_proxies,
            resolver,
            playground,
        }
    }

    /// `server.trusted_proxies`.
    pub fn trusted_proxies(&self) -> &[TrustedProxy] {
        &self.trusted_proxies
    }

    pub fn playground(&self) -> &Playground {
        &self.playground
    }

    /// The subscriber that held `addr` at `now`, named by a relying party rather than seen by
    /// this server (a CIBA `ipport:` hint: the address and port its backend saw the device
    /// connect from), through the same resolvers as a request's own address.
    pub async fn identify_address(
        &self,
        addr: &ClientAddr,
        now: i64,
    ) -> Result<Option<Subscriber>, StoreError> {
        Ok(self
            .resolver
            .resolve(addr, now)
            .await?
            .map(|phone_number| Subscriber {
                phone_number,
                amr: vec![Amr::Network],
            }))
    }

    /// Whether playground mode takes `n` as an identity without a network check.
    pub async fn playground_number(&self, n: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.playground.enabled && self.playground.knows(n).await?)
    }

    /// The subscriber behind a request from `peer` with `headers` at `now`.
    pub async fn identify(
        &self,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
        hint: Option<&LoginHint>,
        now: i64,
    ) -> Result<Subscriber, Unidentified> {
        if self.playground.enabled {
            if let Some(LoginHint::Phone(n)) = hint {
                if self.playground.knows(n).await? {
                    return Ok(Subscriber {
                        phone_number: n.clone(),
                        amr: vec![Amr::Playground],
                    });
                }
            }
        }
        // In network mode the hint never changes who the subscriber is: a `tel:` hint naming
        // another number is ignored here, and /verify then answers false for it
        // (docs/security.md, IP spoofing).
        let peer = peer.ok_or(Unidentified::Unknown)?;
        let addr = client_address(peer, headers, &self.trusted_proxies)
            .map_err(Unidentified::Forwarding)?;
        match self.resolver.resolve(&addr, now).await? {
            Some(phone_number) => Ok(Subscriber {
                phone_number,
                amr: vec![Amr::Network],
            }),
            None => Err(Unidentified::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_ip_or_net, ForwardingHeader, StaticEntry};
    use crate::network::StaticTable;
    use nv_store::{MemoryStore, SystemClock};

    fn identification(playground: bool) -> Identification {
        let table = StaticTable::new(vec![StaticEntry {
            network: parse_ip_or_net("198.51.100.7").unwrap(),
            ports: None,
            msisdn: "+99011110004".parse().unwrap(),
        }]);
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
        Identification::new(
            vec![TrustedProxy {
                network: parse_ip_or_net("10.0.0.2").unwrap(),
                header: ForwardingHeader::XForwardedFor,
            }],
            ChainResolver(vec![Box::new(table)]),
            Playground {
                enabled: playground,
                numbers: HashSet::from(["+34600000001".parse().unwrap()]),
                store,
            },
        )
    }

    fn hint(s: &str) -> LoginHint {
        s.parse().unwrap()
    }

    const DEVICE: &str = "198.51.100.7:4000";

    #[tokio::test]
    async fn the_network_identifies_and_a_hint_changes_nothing() {
        let id = identification(false);
        let s = id
            .identify(
                DEVICE.parse().ok(),
                &HeaderMap::new(),
                Some(&hint("tel:+99000000001")),
                0,
            )
            .await
            .unwrap();
        assert_eq!(s.phone_number.as_str(), "+99011110004");
        assert_eq!(s.amr, [Amr::Network]);
        let unknown = id
            .identify("203.0.113.1:1".parse().ok(), &HeaderMap::new(), None, 0)
            .await;
        assert!(matches!(unknown, Err(Unidentified::Unknown)));
        let no_peer = id.identify(None, &HeaderMap::new(), None, 0).await;
        assert!(matches!(no_peer, Err(Unidentified::Unknown)));
    }

    #[tokio::test]
    async fn a_trusted_proxy_without_its_header_identifies_nobody() {
        let id = identification(false);
        let r = id
            .identify("10.0.0.2:1".parse().ok(), &HeaderMap::new(), None, 0)
            .await;
        assert!(matches!(r, Err(Unidentified::Forwarding(_))), "{r:?}");
    }

    #[tokio::test]
    async fn the_playground_takes_test_configured_and_added_numbers_from_the_hint() {
        let id = identification(true);
        let from = |n: &'static str| {
            let id = &id;
            async move {
                id.identify(
                    "203.0.113.1:1".parse().ok(),
                    &HeaderMap::new(),
                    Some(&hint(n)),
                    0,
                )
                .await
            }
        };
        let s = from("tel:+99000000001").await.unwrap();
        assert_eq!(
            (s.phone_number.as_str(), s.amr.as_slice()),
            ("+99000000001", &[Amr::Playground][..])
        );
        assert!(from("tel:+34600000001").await.is_ok(), "configured");
        assert!(
            matches!(from("tel:+34600000002").await, Err(Unidentified::Unknown)),
            "neither a test number nor a playground one: the network decides"
        );
        let added: PhoneNumber = "+34600000002".parse().unwrap();
        id.playground()
            .store
            .put(
                &keys::playground_number(&added),
                b"1",
                std::time::Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(
            from("tel:+34600000002").await.is_ok(),
            "added by the admin API"
        );
    }
}
