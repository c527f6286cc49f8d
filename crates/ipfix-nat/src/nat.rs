//! Data records decoded through their template into NAT port-block events (RFC 8158 §4.1.4,
//! "NAT Port Block Allocation and De-allocation"), and the [`Decoder`] that keeps templates per
//! transport session.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

use crate::message::{Message, MessageError, MIN_DATA_SET, OPTIONS_TEMPLATE_SET, TEMPLATE_SET};
use crate::template::{Template, TemplateError, Templates, VARIABLE_LENGTH};

/// IANA information element ids (RFC 7012, RFC 8158).
pub mod ie {
    pub const SOURCE_IPV4_ADDRESS: u16 = 8;
    pub const POST_NAT_SOURCE_IPV4_ADDRESS: u16 = 225;
    pub const NAT_EVENT: u16 = 230;
    pub const OBSERVATION_TIME_MILLISECONDS: u16 = 323;
    pub const PORT_RANGE_START: u16 = 361;
    pub const PORT_RANGE_END: u16 = 362;
    pub const PORT_RANGE_STEP_SIZE: u16 = 363;
    pub const PORT_RANGE_NUM_PORTS: u16 = 364;
}

/// IANA "natEvent" values for port blocks (RFC 8158, the NAT event type table).
pub const NAT_EVENT_PORT_BLOCK_ALLOCATION: u8 = 16;
pub const NAT_EVENT_PORT_BLOCK_DEALLOCATION: u8 = 17;

/// Transport sessions a decoder keeps templates for. Exporters are allow-listed by the
/// collector; this bounds what one of them can make it hold by changing source ports.
pub const MAX_SESSIONS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatEventKind {
    Allocation,
    Deallocation,
}

/// One port block event: `ports_first..=ports_last` of `public` went to (or came back from)
/// `private` at `time` (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatEvent {
    pub kind: NatEventKind,
    pub private: Ipv4Addr,
    pub public: Ipv4Addr,
    pub ports_first: u16,
    pub ports_last: u16,
    pub time: i64,
}

/// Why a set, or what remained of it, was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetDrop {
    /// A template set that does not parse: none of it applied.
    BadTemplate(TemplateError),
    /// A data set whose template this session and domain does not hold (RFC 7011 §8).
    UnknownTemplate,
    /// A port-block record without the fields it needs, with a value of the wrong length,
    /// or running past its set: that record and the rest of its set are dropped.
    BadRecord,
}

/// What one message gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub events: Vec<NatEvent>,
    pub drops: Vec<SetDrop>,
    /// Data records that are not port-block events (other NAT events, options data).
    pub ignored: usize,
    pub templates_defined: usize,
    pub templates_withdrawn: usize,
}

/// Template state for every transport session it has seen.
#[derive(Debug, Default)]
pub struct Decoder {
    sessions: HashMap<SocketAddr, Templates>,
}

impl Decoder {
    /// Decode one datagram from `exporter` (its address and port: the UDP transport session).
    /// A message that does not parse changes nothing; within one that does, each set stands on
    /// its own.
    pub fn decode(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
    ) -> Result<Decoded, MessageError> {
        let message = Message::parse(datagram)?;
        if !self.sessions.contains_key(&exporter) && self.sessions.len() >= MAX_SESSIONS {
            // Forget an arbitrary session: it will resend its templates (RFC 7011 §8.4 over UDP).
            if let Some(k) = self.sessions.keys().next().copied() {
                self.sessions.remove(&k);
            }
        }
        let templates = self.sessions.entry(exporter).or_default();
        let domain = message.observation_domain;
        let mut out = Decoded::default();
        for set in &message.sets {
            match set.id {
                TEMPLATE_SET | OPTIONS_TEMPLATE_SET => {
                    match templates.apply(domain, set.id, set.body) {
                        Ok(u) => {
                            out.templates_defined += u.defined;
                            out.templates_withdrawn += u.withdrawn;
                        }
                        Err(e) => out.drops.push(SetDrop::BadTemplate(e)),
                    }
                }
                id => {
                    debug_assert!(id >= MIN_DATA_SET);
                    match templates.get(domain, id) {
                        None => out.drops.push(SetDrop::UnknownTemplate),
                        Some(t) => data_set(t, set.body, message.export_time, &mut out),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Templates held for `exporter`, over all its domains.
    pub fn templates(&self, exporter: SocketAddr) -> usize {
        self.sessions.get(&exporter).map_or(0, Templates::len)
    }
}

fn data_set(t: &Template, body: &[u8], export_time: u32, out: &mut Decoded) {
    let min = t.min_record_len();
    let mut rest = body;
    // What is left below the shortest record is padding (RFC 7011 §3.3.1).
    while rest.len() >= min {
        let Some((values, after)) = split_record(t, rest) else {
            out.drops.push(SetDrop::BadRecord);
            return;
        };
        rest = after;
        if t.options {
            out.ignored += 1;
            continue;
        }
        match event(t, &values, export_time) {
            Record::Event(e) => out.events.push(e),
            Record::Other => out.ignored += 1,
            Record::Bad => out.drops.push(SetDrop::BadRecord),
        }
    }
}

/// The record's field values in template order, and what follows it.
fn split_record<'a>(t: &Template, mut rest: &'a [u8]) -> Option<(Vec<&'a [u8]>, &'a [u8])> {
    let mut values = Vec::with_capacity(t.fields.len());
    for f in &t.fields {
        let len = match f.length {
            // RFC 7011 §7: one octet of length, or 255 then two octets.
            VARIABLE_LENGTH => {
                let (&first, after) = rest.split_first()?;
                rest = after;
                if first < 255 {
                    usize::from(first)
                } else {
                    let (n, after) = rest.split_first_chunk::<2>()?;
                    rest = after;
                    usize::from(u16::from_be_bytes(*n))
                }
            }
            n => usize::from(n),
        };
        if rest.len() < len {
            return None;
        }
        let (v, after) = rest.split_at(len);
        values.push(v);
        rest = after;
    }
    Some((values, rest))
}

enum Record {
    Event(NatEvent),
    Other,
    Bad,
}

/// An unsigned integer, reduced-size encoding allowed (RFC 7011 §6.2): 1..=8 octets.
fn unsigned(v: &[u8], max_len: usize) -> Option<u64> {
    if v.is_empty() || v.len() > max_len {
        return None;
    }
    Some(v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from)
}

fn event(t: &Template, values: &[&[u8]], export_time: u32) -> Record {
    let value = |id| {
        t.fields
            .iter()
            .zip(values)
            .find(|(f, _)| f.is_iana(id))
            .map(|(_, v)| *v)
    };
    let kind = match value(ie::NAT_EVENT).and_then(|v| unsigned(v, 1)) {
        Some(v) if v == u64::from(NAT_EVENT_PORT_BLOCK_ALLOCATION) => NatEventKind::Allocation,
        Some(v) if v == u64::from(NAT_EVENT_PORT_BLOCK_DEALLOCATION) => NatEventKind::Deallocation,
        Some(_) => return Record::Other,
        // A natEvent of the wrong size, or none: not something this decoder can tell.
        None if value(ie::NAT_EVENT).is_some() => return Record::Bad,
        None => return Record::Other,
    };
    let port = |id| value(id).map(|v| unsigned(v, 2).map(|p| p as u16));
    let parsed = (|| {
        let private = ipv4(value(ie::SOURCE_IPV4_ADDRESS)?)?;
        let public = ipv4(value(ie::POST_NAT_SOURCE_IPV4_ADDRESS)?)?;
        let first = port(ie::PORT_RANGE_START)??;
        // A block is first..=last, or first and a number of ports (RFC 8158 §4.1.4).
        let last = match (port(ie::PORT_RANGE_END), port(ie::PORT_RANGE_NUM_PORTS)) {
            (Some(end), _) => end?,
            (None, Some(n)) => first.checked_add(n?.checked_sub(1)?)?,
            (None, None) => return None,
        };
        // Only contiguous blocks: with a step size above 1 the ports in between are another
        // subscriber's.
        if let Some(step) = port(ie::PORT_RANGE_STEP_SIZE) {
            if step? != 1 {
                return None;
            }
        }
        if first > last {
            return None;
        }
        let time = match value(ie::OBSERVATION_TIME_MILLISECONDS) {
            // dateTimeMilliseconds: 8 octets, no reduced size (RFC 7011 §6.1.9).
            Some(v) => (u64::from_be_bytes(<[u8; 8]>::try_from(v).ok()?) / 1000) as i64,
            None => i64::from(export_time),
        };
        Some(NatEvent {
            kind,
            private,
            public,
            ports_first: first,
            ports_last: last,
            time,
        })
    })();
    match parsed {
        Some(e) => Record::Event(e),
        None => Record::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MessageBuilder, NAT_TEMPLATE};

    fn exporter() -> SocketAddr {
        "10.0.0.1:40000".parse().unwrap()
    }

    fn alloc() -> NatEvent {
        NatEvent {
            kind: NatEventKind::Allocation,
            private: Ipv4Addr::new(100, 64, 0, 1),
            public: Ipv4Addr::new(198, 51, 100, 7),
            ports_first: 1024,
            ports_last: 2047,
            time: 1_700_000_123,
        }
    }

    #[test]
    fn a_template_then_its_data_gives_the_port_block_events() {
        let mut d = Decoder::default();
        let m = MessageBuilder::new(1, 1_700_000_000)
            .nat_template(256)
            .events(256, &[alloc()])
            .build();
        let out = d.decode(exporter(), &m).unwrap();
        assert_eq!(out.events, vec![alloc()]);
        assert!(out.drops.is_empty());
        assert_eq!(out.templates_defined, 1);
        let mut dealloc = alloc();
        dealloc.kind = NatEventKind::Deallocation;
        let m = MessageBuilder::new(1, 0).events(256, &[dealloc]).build();
        assert_eq!(d.decode(exporter(), &m).unwrap().events, vec![dealloc]);
    }

    #[test]
    fn data_before_its_template_or_from_another_session_or_domain_is_dropped() {
        let mut d = Decoder::default();
        let data = MessageBuilder::new(1, 0).events(256, &[alloc()]).build();
        let out = d.decode(exporter(), &data).unwrap();
        assert_eq!(out.drops, vec![SetDrop::UnknownTemplate]);
        d.decode(
            exporter(),
            &MessageBuilder::new(1, 0).nat_template(256).build(),
        )
        .unwrap();
        let other_port: SocketAddr = "10.0.0.1:40001".parse().unwrap();
        assert_eq!(
            d.decode(other_port, &data).unwrap().drops,
            vec![SetDrop::UnknownTemplate]
        );
        let other_domain = MessageBuilder::new(2, 0).events(256, &[alloc()]).build();
        assert_eq!(
            d.decode(exporter(), &other_domain).unwrap().drops,
            vec![SetDrop::UnknownTemplate]
        );
        assert_eq!(d.decode(exporter(), &data).unwrap().events, vec![alloc()]);
    }

    #[test]
    fn a_withdrawn_template_no_longer_decodes() {
        let mut d = Decoder::default();
        d.decode(
            exporter(),
            &MessageBuilder::new(1, 0).nat_template(256).build(),
        )
        .unwrap();
        let out = d
            .decode(exporter(), &MessageBuilder::new(1, 0).withdraw(256).build())
            .unwrap();
        assert_eq!(out.templates_withdrawn, 1);
        let data = MessageBuilder::new(1, 0).events(256, &[alloc()]).build();
        assert_eq!(
            d.decode(exporter(), &data).unwrap().drops,
            vec![SetDrop::UnknownTemplate]
        );
    }

    #[test]
    fn the_export_time_stands_in_for_a_missing_observation_time_and_variable_fields_are_skipped() {
        let mut d = Decoder::default();
        // sourceIPv4Address, a variable-length enterprise field, postNAT…, natEvent, ports.
        let template = [
            (8u16, None, 4u16),
            (1, Some(2959u32), VARIABLE_LENGTH),
            (225, None, 4),
            (230, None, 1),
            (361, None, 2),
            (364, None, 2),
        ];
        let mut record = vec![100, 64, 0, 1];
        record.extend([255, 0, 3, b'a', b'b', b'c']);
        record.extend([198, 51, 100, 7, 16]);
        record.extend(1024u16.to_be_bytes());
        record.extend(1024u16.to_be_bytes());
        let m = MessageBuilder::new(1, 1_700_000_500)
            .template(300, &template)
            .data(300, &record)
            .build();
        let out = d.decode(exporter(), &m).unwrap();
        assert_eq!(
            out.events,
            vec![NatEvent {
                time: 1_700_000_500,
                ..alloc()
            }]
        );
    }

    #[test]
    fn records_that_are_not_port_blocks_are_ignored_and_broken_ones_dropped() {
        let mut d = Decoder::default();
        let template = [
            (8u16, None, 4u16),
            (225, None, 4),
            (230, None, 1),
            (361, None, 2),
            (362, None, 2),
        ];
        let record = |event: u8, first: u16, last: u16| {
            let mut r = vec![100, 64, 0, 1, 198, 51, 100, 7, event];
            r.extend(first.to_be_bytes());
            r.extend(last.to_be_bytes());
            r
        };
        // RFC 8158 (the NAT event types): 4 is a NAT44 session create, 13 "Quota Exceeded" and 14
        // "Address binding create": none of them a port block.
        let mut body = record(4, 1, 2);
        body.extend(record(13, 1, 2));
        body.extend(record(14, 1, 2));
        body.extend(record(16, 2047, 1024)); // reversed range
        let m = MessageBuilder::new(1, 0)
            .template(256, &template)
            .data(256, &body)
            .build();
        let out = d.decode(exporter(), &m).unwrap();
        assert_eq!(
            (out.ignored, out.drops.as_slice()),
            (3, &[SetDrop::BadRecord][..])
        );
        // A port-block event without its public address.
        let m = MessageBuilder::new(1, 0)
            .template(
                257,
                &[(8, None, 4), (230, None, 1), (361, None, 2), (362, None, 2)],
            )
            .data(257, &[100, 64, 0, 1, 16, 4, 0, 7, 255])
            .build();
        assert_eq!(
            d.decode(exporter(), &m).unwrap().drops,
            vec![SetDrop::BadRecord]
        );
        // A variable-length field whose length runs past the set: nothing read beyond it.
        let m = MessageBuilder::new(1, 0)
            .template(258, &[(230, None, 1), (1, None, VARIABLE_LENGTH)])
            .data(258, &[16, 50, b'a'])
            .build();
        let out = d.decode(exporter(), &m).unwrap();
        assert_eq!(
            (out.events.len(), out.drops.as_slice()),
            (0, &[SetDrop::BadRecord][..])
        );
    }

    #[test]
    fn the_shared_nat_template_lists_the_rfc_8158_elements() {
        let ids: Vec<u16> = NAT_TEMPLATE.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(ids, vec![323, 230, 8, 225, 361, 362]);
    }
}
