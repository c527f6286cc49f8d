//! The product's own entitlement service: opaque operator tokens in the shared store.
//!
//! A token is 256 random bits (base64url), issued for one subscriber and one client, valid for
//! at most [`MAX_TTL_SECONDS`](super::MAX_TTL_SECONDS). Its record is filed like an
//! authorization code's: under SHA-256 of the token ([`keys::operator_token`]) and sealed under
//! the token itself ([`crate::sealed`]), so a store dump reveals neither a usable token nor the
//! number. Redeeming is one atomic [`Store::take`], so of any number of concurrent redemptions
//! on any number of replicas exactly one gets the record.
//!
//! A redemption by the wrong client spends the token too, on purpose:
//! - a token presented by a client it was not issued for has leaked (token substitution); spent,
//!   it is worthless to everyone who saw it, instead of live for the rest of its lifetime;
//! - single use stays one atomic step: putting the record back would be a second write, and a
//!   redemption racing between the two would be refused while a crash would lose it anyway.
//!
//! The cost is that the rightful client fails closed and its app asks for a new token.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_store::{Clock, Store, StoreError};
use nv_token::{Amr, PhoneNumber};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{OperatorToken, OperatorTokenResolver, ProvenSubscriber, Refusal};

/// Store key layout of operator tokens (relative; the store adds the deployment prefix).
pub mod keys {
    use sha2::{Digest, Sha256};

    /// The token's record, filed under its hash: a store dump yields no usable token.
    pub fn operator_token(token: &str) -> String {
        format!(
            "operator-token:{}",
            hex::encode(Sha256::digest(token.as_bytes()))
        )
    }
}

/// A freshly issued token and its lifetime in seconds (the `expires_in` of the issuing answer).
#[derive(Debug)]
pub struct Issued {
    pub token: OperatorToken,
    pub expires_in: u64,
}

/// Why no token could be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("sealing the record failed: {0}")]
    Seal(String),
    /// 256 random bits met an existing token: the random source is broken.
    #[error("the new token collides with a live one")]
    Collision,
}

/// What the store holds for a token (sealed).
#[derive(Serialize, Deserialize)]
struct Record {
    phone_number: PhoneNumber,
    client_id: String,
    /// How the subscriber was identified at issue ([`ProvenSubscriber::amr`]).
    amr: Amr,
    /// Unix seconds; checked on redemption because a Redis TTL follows the server's clock, not
    /// the injected one.
    expires_at: i64,
}

/// The simulated entitlement service: issues and redeems operator tokens.
pub struct SimulatedEntitlement {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ttl_seconds: u64,
}

impl SimulatedEntitlement {
    /// `ttl_seconds` as validated by [`super::OperatorTokenSettings::validate`].
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, ttl_seconds: u64) -> Self {
        Self {
            store,
            clock,
            ttl_seconds,
        }
    }

    /// A new token proving `phone_number` to `client_id`, valid for the configured lifetime;
    /// `amr` is how the subscriber was identified, carried to the grant that redeems it.
    pub async fn issue(
        &self,
        phone_number: &PhoneNumber,
        client_id: &str,
        amr: Amr,
    ) -> Result<Issued, IssueError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let record = Record {
            phone_number: phone_number.clone(),
            client_id: client_id.to_owned(),
            amr,
            expires_at: self.clock.now().saturating_add(self.ttl_seconds as i64),
        };
        let sealed = serde_json::to_vec(&record)
            .map_err(|e| e.to_string())
            .and_then(|json| crate::sealed::seal(&token, &json))
            .map_err(IssueError::Seal)?;
        let ttl = Duration::from_secs(self.ttl_seconds);
        if !self
            .store
            .put_if_absent(&keys::operator_token(&token), &sealed, ttl)
            .await?
        {
            return Err(IssueError::Collision);
        }
        Ok(Issued {
            token: OperatorToken(token),
            expires_in: self.ttl_seconds,
        })
    }

    /// Spends `token` and says whom it proves to `client_id` (see the module documentation for
    /// why a foreign client spends it too).
    pub async fn redeem(
        &self,
        token: &OperatorToken,
        client_id: &str,
    ) -> Result<ProvenSubscriber, Refusal> {
        let raw = self
            .store
            .take(&keys::operator_token(token.expose()))
            .await
            .map_err(|e| Refusal::Unavailable(format!("the store failed: {e}")))?
            .ok_or(Refusal::Unknown)?;
        // A record that does not open under the presented token was not sealed under it (an
        // altered store entry): nothing it says is believed.
        let record: Record = crate::sealed::open(token.expose(), &raw)
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(Refusal::Unknown)?;
        if self.clock.now() >= record.expires_at {
            return Err(Refusal::Unknown);
        }
        if record.client_id != client_id {
            return Err(Refusal::ForeignClient);
        }
        Ok(ProvenSubscriber {
            phone_number: record.phone_number,
            client_id: record.client_id,
            amr: record.amr,
        })
    }
}

#[async_trait]
impl OperatorTokenResolver for SimulatedEntitlement {
    async fn resolve(
        &self,
        token: &OperatorToken,
        client_id: &str,
    ) -> Result<ProvenSubscriber, Refusal> {
        self.redeem(token, client_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nv_store::{FakeClock, MemoryStore};

    const CLIENT: &str = "demo-app";

    fn number() -> PhoneNumber {
        "+99012345678".parse().unwrap()
    }

    fn service(store: Arc<dyn Store>, clock: &FakeClock) -> SimulatedEntitlement {
        SimulatedEntitlement::new(store, Arc::new(clock.clone()), 120)
    }

    fn memory(clock: &FakeClock) -> Arc<dyn Store> {
        Arc::new(MemoryStore::new(Arc::new(clock.clone())))
    }

    #[tokio::test]
    async fn a_token_proves_its_subscriber_to_its_client_once() {
        let clock = FakeClock::starting_now();
        let service = service(memory(&clock), &clock);
        let issued = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        assert_eq!(issued.expires_in, 120);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(issued.token.expose()).unwrap().len(),
            32
        );
        assert_eq!(
            service.redeem(&issued.token, CLIENT).await,
            Ok(ProvenSubscriber {
                phone_number: number(),
                client_id: CLIENT.to_owned(),
                amr: Amr::Sim,
            })
        );
        assert_eq!(
            service.redeem(&issued.token, CLIENT).await,
            Err(Refusal::Unknown)
        );
    }

    #[tokio::test]
    async fn an_unknown_token_proves_nothing() {
        let clock = FakeClock::starting_now();
        let service = service(memory(&clock), &clock);
        let token: OperatorToken = "never-issued".parse().unwrap();
        assert_eq!(service.redeem(&token, CLIENT).await, Err(Refusal::Unknown));
    }

    #[tokio::test]
    async fn a_token_presented_by_another_client_is_refused_and_spent() {
        let clock = FakeClock::starting_now();
        let service = service(memory(&clock), &clock);
        let issued = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        assert_eq!(
            service.redeem(&issued.token, "other-app").await,
            Err(Refusal::ForeignClient)
        );
        assert_eq!(
            service.redeem(&issued.token, CLIENT).await,
            Err(Refusal::Unknown)
        );
    }

    #[tokio::test]
    async fn a_token_expires_after_its_lifetime() {
        let clock = FakeClock::starting_now();
        let service = service(memory(&clock), &clock);
        let kept = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        let late = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        clock.advance(119);
        assert!(service.redeem(&kept.token, CLIENT).await.is_ok());
        clock.advance(1);
        assert_eq!(
            service.redeem(&late.token, CLIENT).await,
            Err(Refusal::Unknown)
        );
    }

    /// The store's own TTL is not trusted with the lifetime: a record the store still returns
    /// (Redis expires by its own clock) is refused once the injected clock says it expired.
    #[tokio::test]
    async fn an_expired_record_the_store_still_holds_is_refused() {
        let store_clock = FakeClock::starting_now();
        let clock = FakeClock::new(store_clock.now());
        let service = service(memory(&store_clock), &clock);
        let issued = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        clock.advance(120);
        assert_eq!(
            service.redeem(&issued.token, CLIENT).await,
            Err(Refusal::Unknown)
        );
    }

    #[tokio::test]
    async fn the_store_shows_neither_the_token_nor_the_number() {
        let clock = FakeClock::starting_now();
        let store = memory(&clock);
        let service = service(store.clone(), &clock);
        let issued = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        let entries = store.scan_prefix("operator-token:").await.unwrap();
        assert_eq!(entries.len(), 1);
        let (key, value) = &entries[0];
        let value = String::from_utf8_lossy(value);
        for shown in [key.as_str(), &value] {
            assert!(!shown.contains(issued.token.expose()), "{shown}");
            assert!(!shown.contains("99012345678"), "{shown}");
            assert!(!shown.contains(CLIENT), "{shown}");
        }
    }

    #[tokio::test]
    async fn a_record_that_does_not_open_under_the_token_is_refused() {
        let clock = FakeClock::starting_now();
        let store = memory(&clock);
        let service = service(store.clone(), &clock);
        let issued = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        let other = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        // Someone with write access to the store files another token's record under this one.
        let key = keys::operator_token(other.token.expose());
        let foreign = store.take(&key).await.unwrap().unwrap();
        let key = keys::operator_token(issued.token.expose());
        store
            .put(&key, &foreign, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            service.redeem(&issued.token, CLIENT).await,
            Err(Refusal::Unknown)
        );
    }

    async fn exactly_one_of_32_concurrent_redemptions_succeeds(store: Arc<dyn Store>) {
        let clock = FakeClock::starting_now();
        // Two services over one store: two replicas.
        let replicas = [
            Arc::new(service(store.clone(), &clock)),
            Arc::new(service(store, &clock)),
        ];
        let issued = replicas[0]
            .issue(&number(), CLIENT, Amr::Sim)
            .await
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let replica = replicas[i % 2].clone();
                let token = issued.token.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    replica.resolve(&token, CLIENT).await
                })
            })
            .collect();
        let mut successes = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(proven) => {
                    assert_eq!(proven.phone_number, number());
                    successes += 1;
                }
                Err(refusal) => assert_eq!(refusal, Refusal::Unknown),
            }
        }
        assert_eq!(successes, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_redemptions_in_memory_succeed_once() {
        let clock = FakeClock::starting_now();
        exactly_one_of_32_concurrent_redemptions_succeeds(memory(&clock)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_redemptions_on_redis_succeed_once_across_replicas() {
        let Some(redis) = nv_store::testing::RedisServer::start_or_skip() else {
            return;
        };
        let store: Arc<dyn Store> = Arc::new(redis.store("optoken:").await);
        exactly_one_of_32_concurrent_redemptions_succeeds(store).await;
    }

    #[tokio::test]
    async fn a_store_outage_is_unavailable_never_a_subscriber() {
        let Some(mut redis) = nv_store::testing::RedisServer::start_or_skip() else {
            return;
        };
        let clock = FakeClock::starting_now();
        let store: Arc<dyn Store> = Arc::new(redis.store("optoken:").await);
        let service = service(store, &clock);
        let issued = service.issue(&number(), CLIENT, Amr::Sim).await.unwrap();
        redis.stop();
        assert!(matches!(
            service.redeem(&issued.token, CLIENT).await,
            Err(Refusal::Unavailable(_))
        ));
        assert!(matches!(
            service.issue(&number(), CLIENT, Amr::Sim).await,
            Err(IssueError::Store(_))
        ));
    }
}
