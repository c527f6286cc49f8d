//! The IPFIX collector for the NAT's port-block events (RFC 7011 over UDP; the codec is
//! `ipfix_nat`): datagrams from allow-listed exporters only, decoded with templates per
//! transport session and observation domain, each event applied to the table
//! ([`super::allocate`], [`super::deallocate`]) in arrival order. Anything that does not decode
//! is dropped and counted ([`CgnatCounters`]); nothing is ever answered (IPFIX over UDP has no
//! acknowledgement).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipfix_nat::{Decoder, NatEvent, NatEventKind, SetDrop};
use ipnet::IpNet;
use nv_store::{Clock, Store, StoreError};
use tokio::net::UdpSocket;

use super::{allocate, deallocate, Allocated, Allocation, CgnatCounters, DropReason};
use crate::config::{PortRange, Settings};
use crate::network::feed::{bind_udp, report_changes, Tasks};
use crate::startup::StartupError;

/// The largest IPFIX message (its Length field is 16 bits).
const MAX_DATAGRAM: usize = 65_535;

/// The running collector. Dropping it stops it.
pub struct IpfixCollector {
    local_addr: SocketAddr,
    _tasks: Tasks,
}

/// What the collector applies events with.
struct Sink {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    counters: Arc<CgnatCounters>,
    timeout: i64,
}

impl IpfixCollector {
    /// Binds and starts the collector `cgnat.ipfix` configures for this mode, if any. The
    /// dev-mode default address taken by another process is a warning, not an error.
    pub fn start(
        settings: &Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        counters: Arc<CgnatCounters>,
    ) -> Result<Option<Self>, StartupError> {
        let Some(config) = settings.cgnat.ipfix.effective(settings.mode) else {
            return Ok(None);
        };
        let Some((socket, local_addr)) =
            bind_udp(config.addr, config.dev_default, "IPFIX collector")?
        else {
            return Ok(None);
        };
        let sink = Sink {
            store,
            clock,
            counters: counters.clone(),
            timeout: settings.cgnat.allocation_timeout_seconds as i64,
        };
        tracing::info!(ipfix.address = %local_addr, ipfix.exporters = config.exporters.len(),
            "IPFIX collector ready");
        let tasks = Tasks(vec![
            tokio::spawn(serve(socket, config.exporters, sink)),
            tokio::spawn(report(counters)),
        ]);
        Ok(Some(Self {
            local_addr,
            _tasks: tasks,
        }))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

fn allowed(exporters: &[IpNet], peer: IpAddr) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    exporters.iter().any(|n| n.contains(&peer))
}

/// One task: events of one exporter are applied in the order they were sent, so an
/// allocation and the de-allocation after it never swap (RFC 7011 §10.3: UDP keeps no order
/// across datagrams, but a NAT sends each block's events far apart in time).
async fn serve(socket: UdpSocket, exporters: Vec<IpNet>, sink: Sink) {
    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error.cause = %e, "IPFIX receive failed");
                continue;
            }
        };
        if !allowed(&exporters, peer.ip()) {
            sink.counters.dropped(DropReason::UnknownExporter);
            continue;
        }
        let decoded = match decoder.decode(peer, &buf[..len]) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(ipfix.exporter = %peer.ip(), error.cause = %e, "IPFIX message dropped");
                sink.counters.dropped(DropReason::Malformed);
                continue;
            }
        };
        sink.counters.message();
        for drop in &decoded.drops {
            sink.counters.dropped(match drop {
                SetDrop::BadTemplate(_) => DropReason::BadTemplate,
                SetDrop::UnknownTemplate => DropReason::UnknownTemplate,
                SetDrop::BadRecord => DropReason::BadRecord,
            });
        }
        for event in &decoded.events {
            if sink.apply(event).await.is_err() {
                sink.counters.dropped(DropReason::StoreError);
            }
        }
    }
}

impl Sink {
    async fn apply(&self, e: &NatEvent) -> Result<(), StoreError> {
        let now = self.clock.now();
        // A NAT clock ahead of ours would make the block invisible until then: an event is
        // taken as no later than its arrival.
        let at = e.time.min(now);
        let ports = PortRange {
            first: e.ports_first,
            last: e.ports_last,
        };
        let private = IpAddr::V4(e.private);
        match e.kind {
            NatEventKind::Allocation => {
                let allocation = Allocation {
                    private,
                    since: at,
                    valid_until: at + self.timeout,
                };
                match allocate(&*self.store, e.public, ports, allocation, now).await? {
                    Allocated::Stored => self.counters.allocated(),
                    Allocated::Stale => self.counters.stale(),
                }
            }
            NatEventKind::Deallocation => {
                if deallocate(&*self.store, e.public, ports, private, at).await? {
                    self.counters.deallocated();
                } else {
                    self.counters.stale();
                }
            }
        }
        Ok(())
    }
}

/// Logs the counters each interval in which they changed.
async fn report(counters: Arc<CgnatCounters>) {
    report_changes(
        || counters.snapshot(),
        |last, now| {
            let json = serde_json::to_string(now).unwrap_or_default();
            if now.dropped["store_error"] > last.dropped["store_error"] {
                tracing::warn!(cgnat.counters = %json, "CGNAT feed: events not stored");
            } else {
                tracing::info!(cgnat.counters = %json, "CGNAT feed");
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests;
