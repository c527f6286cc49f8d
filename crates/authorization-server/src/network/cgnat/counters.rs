//! The CGNAT feed's counters, in one struct an exporter can read ([`CgnatCounters::snapshot`]):
//! IPFIX messages accepted, what was dropped and why, allocations and de-allocations applied,
//! the active blocks (an estimate: allocations minus de-allocations seen by this replica; expiry
//! is not seen), and lookups that found a block and a subscriber or not.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Why an IPFIX message, set or record was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A message from an address outside `ipfix.exporters`.
    UnknownExporter,
    /// A message whose header, Length field or set lengths do not add up (RFC 7011 §3.1, §3.3.2).
    Malformed,
    /// A template record that does not parse (field count, lengths, reserved ids).
    BadTemplate,
    /// A data set for a template this exporter and observation domain never sent, or withdrew
    /// (RFC 7011 §8: such sets are dropped).
    UnknownTemplate,
    /// A NAT event record without the fields a port block needs, or with a reversed range.
    BadRecord,
    /// The shared store failed.
    StoreError,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::UnknownExporter,
        DropReason::Malformed,
        DropReason::BadTemplate,
        DropReason::UnknownTemplate,
        DropReason::BadRecord,
        DropReason::StoreError,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::UnknownExporter => "unknown_exporter",
            DropReason::Malformed => "malformed",
            DropReason::BadTemplate => "bad_template",
            DropReason::UnknownTemplate => "unknown_template",
            DropReason::BadRecord => "bad_record",
            DropReason::StoreError => "store_error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Default)]
pub struct CgnatCounters {
    messages: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    allocations: AtomicU64,
    deallocations: AtomicU64,
    stale: AtomicU64,
    lookup_hits: AtomicU64,
    lookup_misses: AtomicU64,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgnatSnapshot {
    pub messages: u64,
    pub dropped: BTreeMap<&'static str, u64>,
    pub allocations: u64,
    pub deallocations: u64,
    pub stale: u64,
    pub active_blocks: u64,
    pub lookup_hits: u64,
    pub lookup_misses: u64,
}

impl CgnatCounters {
    pub fn message(&self) {
        self.messages.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dropped(&self, reason: DropReason) {
        self.dropped[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn allocated(&self) {
        self.allocations.fetch_add(1, Ordering::Relaxed);
    }

    pub fn deallocated(&self) {
        self.deallocations.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
    }

    pub fn lookup(&self, hit: bool) {
        let c = if hit {
            &self.lookup_hits
        } else {
            &self.lookup_misses
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CgnatSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let allocations = get(&self.allocations);
        let deallocations = get(&self.deallocations);
        CgnatSnapshot {
            messages: get(&self.messages),
            dropped: DropReason::ALL
                .iter()
                .map(|r| (r.name(), get(&self.dropped[r.index()])))
                .collect(),
            allocations,
            deallocations,
            stale: get(&self.stale),
            active_blocks: allocations.saturating_sub(deallocations),
            lookup_hits: get(&self.lookup_hits),
            lookup_misses: get(&self.lookup_misses),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drop_reason_has_its_own_counter() {
        let c = CgnatCounters::default();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            for _ in 0..=i {
                c.dropped(*r);
            }
        }
        let s = c.snapshot();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(s.dropped[r.name()], i as u64 + 1);
        }
    }

    #[test]
    fn active_blocks_are_allocations_not_yet_released() {
        let c = CgnatCounters::default();
        c.allocated();
        c.allocated();
        c.deallocated();
        c.lookup(true);
        c.lookup(false);
        c.lookup(false);
        let s = c.snapshot();
        assert_eq!((s.active_blocks, s.lookup_hits, s.lookup_misses), (1, 1, 2));
    }
}
