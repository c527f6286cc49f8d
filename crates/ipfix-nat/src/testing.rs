//! Builds IPFIX messages, for tests and the throughput measurement.

use crate::message::{OPTIONS_TEMPLATE_SET, TEMPLATE_SET, VERSION};
use crate::nat::{NatEvent, NatEventKind};
use crate::nat::{NAT_EVENT_PORT_BLOCK_ALLOCATION, NAT_EVENT_PORT_BLOCK_DEALLOCATION};

/// A field of a template: IE id, enterprise number, length.
pub type FieldSpec = (u16, Option<u32>, u16);

/// The port-block template [`MessageBuilder::events`] writes records for:
/// observationTimeMilliseconds, natEvent, sourceIPv4Address, postNATSourceIPv4Address,
/// portRangeStart, portRangeEnd.
pub const NAT_TEMPLATE: [FieldSpec; 6] = [
    (323, None, 8),
    (230, None, 1),
    (8, None, 4),
    (225, None, 4),
    (361, None, 2),
    (362, None, 2),
];

pub struct MessageBuilder {
    domain: u32,
    export_time: u32,
    sequence: u32,
    sets: Vec<u8>,
}

impl MessageBuilder {
    pub fn new(domain: u32, export_time: u32) -> Self {
        Self {
            domain,
            export_time,
            sequence: 0,
            sets: Vec::new(),
        }
    }

    pub fn sequence(mut self, n: u32) -> Self {
        self.sequence = n;
        self
    }

    /// A set with this id and body as given (lengths filled in).
    pub fn raw_set(mut self, id: u16, body: &[u8]) -> Self {
        self.sets.extend(id.to_be_bytes());
        self.sets.extend(((body.len() + 4) as u16).to_be_bytes());
        self.sets.extend(body);
        self
    }

    pub fn template(self, id: u16, fields: &[FieldSpec]) -> Self {
        let mut body = Vec::new();
        body.extend(id.to_be_bytes());
        body.extend((fields.len() as u16).to_be_bytes());
        for (ie, enterprise, len) in fields {
            let raw = if enterprise.is_some() {
                ie | 0x8000
            } else {
                *ie
            };
            body.extend(raw.to_be_bytes());
            body.extend(len.to_be_bytes());
            if let Some(e) = enterprise {
                body.extend(e.to_be_bytes());
            }
        }
        self.raw_set(TEMPLATE_SET, &body)
    }

    pub fn nat_template(self, id: u16) -> Self {
        self.template(id, &NAT_TEMPLATE)
    }

    /// A withdrawal of template `id` (with id 2: all templates of the domain).
    pub fn withdraw(self, id: u16) -> Self {
        let mut body = id.to_be_bytes().to_vec();
        body.extend([0, 0]);
        self.raw_set(TEMPLATE_SET, &body)
    }

    /// An options template with one scope field.
    pub fn options_template(self, id: u16, fields: &[FieldSpec]) -> Self {
        let mut body = Vec::new();
        body.extend(id.to_be_bytes());
        body.extend((fields.len() as u16).to_be_bytes());
        body.extend(1u16.to_be_bytes());
        for (ie, _, len) in fields {
            body.extend(ie.to_be_bytes());
            body.extend(len.to_be_bytes());
        }
        self.raw_set(OPTIONS_TEMPLATE_SET, &body)
    }

    pub fn data(self, template: u16, records: &[u8]) -> Self {
        self.raw_set(template, records)
    }

    /// Records of [`NAT_TEMPLATE`] for these events.
    pub fn events(self, template: u16, events: &[NatEvent]) -> Self {
        let mut body = Vec::new();
        for e in events {
            body.extend(((e.time as u64) * 1000).to_be_bytes());
            body.push(match e.kind {
                NatEventKind::Allocation => NAT_EVENT_PORT_BLOCK_ALLOCATION,
                NatEventKind::Deallocation => NAT_EVENT_PORT_BLOCK_DEALLOCATION,
            });
            body.extend(e.private.octets());
            body.extend(e.public.octets());
            body.extend(e.ports_first.to_be_bytes());
            body.extend(e.ports_last.to_be_bytes());
        }
        self.data(template, &body)
    }

    pub fn build(self) -> Vec<u8> {
        let mut m = Vec::with_capacity(16 + self.sets.len());
        m.extend(VERSION.to_be_bytes());
        m.extend(((16 + self.sets.len()) as u16).to_be_bytes());
        m.extend(self.export_time.to_be_bytes());
        m.extend(self.sequence.to_be_bytes());
        m.extend(self.domain.to_be_bytes());
        m.extend(self.sets);
        m
    }
}
