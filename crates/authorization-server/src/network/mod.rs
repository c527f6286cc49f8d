//! Network identity: which subscriber sent this request? [`Identification::identify`] decides,
//! from the playground short-cut (a test-number `login_hint`, playground mode only) or else:
//!
//! 1. [`client_address`] finds the device's address: the TCP peer, or — only when that peer is a
//!    configured trusted proxy — the address the proxy reports in the one header it is
//!    configured to write (`Forwarded` or `X-Forwarded-For`).
//! 2. An [`IdentityResolver`] maps the address (+ source port, behind CGNAT) to an MSISDN at an
//!    instant. Backends: the static table from configuration ([`StaticTable`]); dynamic sessions
//!    in the shared store (what the packet core reports) implement the same trait.

mod address;
pub mod cgnat;
mod feed;
mod identify;
pub mod radius;
pub mod sessions;
mod static_table;

use std::net::IpAddr;

use async_trait::async_trait;
use nv_store::StoreError;
use nv_token::PhoneNumber;

pub use address::{client_address, ForwardingError};
pub use identify::{Identification, Playground, Subscriber, Unidentified};
pub use sessions::SessionResolver;
pub use static_table::StaticTable;

/// The device's address as seen by the operator's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// The source port, when known (TCP peer or a trusted proxy's `Forwarded: for="ip:port"`).
    pub port: Option<u16>,
}

/// "Which MSISDN held this IP (+port) at this instant?"
#[async_trait]
pub trait IdentityResolver: Send + Sync + 'static {
    async fn resolve(&self, addr: &ClientAddr, at: i64) -> Result<Option<PhoneNumber>, StoreError>;
}

/// Asks each resolver in turn; the first answer wins.
pub struct ChainResolver(pub Vec<Box<dyn IdentityResolver>>);

#[async_trait]
impl IdentityResolver for ChainResolver {
    async fn resolve(&self, addr: &ClientAddr, at: i64) -> Result<Option<PhoneNumber>, StoreError> {
        for r in &self.0 {
            if let Some(n) = r.resolve(addr, at).await? {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }
}
