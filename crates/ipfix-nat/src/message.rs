//! The IPFIX message: a 16-octet header (RFC 7011 §3.1) and sets, each a 4-octet header and a
//! body (§3.3.2). Every length is checked before it is used: a message whose Length field does
//! not match the datagram, or whose sets do not add up to it exactly, is refused whole.

/// The version of the IPFIX protocol (RFC 7011 §3.1).
pub const VERSION: u16 = 10;
/// Message header length.
pub const HEADER_LEN: usize = 16;
/// Set header length.
pub const SET_HEADER_LEN: usize = 4;
/// Template set id (RFC 7011 §3.3.2).
pub const TEMPLATE_SET: u16 = 2;
/// Options template set id.
pub const OPTIONS_TEMPLATE_SET: u16 = 3;
/// The first data set id; 4–255 are reserved.
pub const MIN_DATA_SET: u16 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("shorter than the message header")]
    Truncated,
    #[error("version {0}, not IPFIX (10)")]
    WrongVersion(u16),
    #[error("the Length field ({0}) is not the datagram's length ({1})")]
    BadLength(u16, usize),
    #[error("a set header or set length runs past the message")]
    BadSetLength,
    #[error("set id {0} is reserved")]
    ReservedSetId(u16),
}

/// One set of a message: its id and its body (after the set header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Set<'a> {
    pub id: u16,
    pub body: &'a [u8],
}

/// A parsed message header and its sets, borrowed from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Seconds since the epoch (RFC 7011 §3.1: Export Time).
    pub export_time: u32,
    pub sequence: u32,
    pub observation_domain: u32,
    pub sets: Vec<Set<'a>>,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

impl<'a> Message<'a> {
    /// Parse one datagram. Over UDP a message is exactly one datagram (RFC 7011 §10.3.3), so
    /// the Length field must equal its size.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, MessageError> {
        if datagram.len() < HEADER_LEN {
            return Err(MessageError::Truncated);
        }
        let version = u16_at(datagram, 0);
        if version != VERSION {
            return Err(MessageError::WrongVersion(version));
        }
        let length = u16_at(datagram, 2);
        if usize::from(length) != datagram.len() {
            return Err(MessageError::BadLength(length, datagram.len()));
        }
        let mut sets = Vec::new();
        let mut rest = &datagram[HEADER_LEN..];
        while !rest.is_empty() {
            if rest.len() < SET_HEADER_LEN {
                return Err(MessageError::BadSetLength);
            }
            let id = u16_at(rest, 0);
            let len = usize::from(u16_at(rest, 2));
            // A set length below its own header would loop forever or underflow.
            if len < SET_HEADER_LEN || len > rest.len() {
                return Err(MessageError::BadSetLength);
            }
            if !(id == TEMPLATE_SET || id == OPTIONS_TEMPLATE_SET || id >= MIN_DATA_SET) {
                return Err(MessageError::ReservedSetId(id));
            }
            sets.push(Set {
                id,
                body: &rest[SET_HEADER_LEN..len],
            });
            rest = &rest[len..];
        }
        Ok(Self {
            export_time: u32_at(datagram, 4),
            sequence: u32_at(datagram, 8),
            observation_domain: u32_at(datagram, 12),
            sets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u16) -> Vec<u8> {
        let mut m = vec![0, 10];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        m.extend_from_slice(&7u32.to_be_bytes());
        m.extend_from_slice(&42u32.to_be_bytes());
        m
    }

    #[test]
    fn a_header_and_its_sets_parse() {
        let mut m = header(16 + 8);
        m.extend_from_slice(&[1, 0, 0, 8, 1, 2, 3, 4]);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(
            (msg.export_time, msg.sequence, msg.observation_domain),
            (1_700_000_000, 7, 42)
        );
        assert_eq!(
            msg.sets,
            vec![Set {
                id: 256,
                body: &[1, 2, 3, 4]
            }]
        );
    }

    #[test]
    fn lengths_that_lie_are_refused() {
        assert_eq!(Message::parse(&[0, 10, 0]), Err(MessageError::Truncated));
        let mut v9 = header(16);
        v9[1] = 9;
        assert_eq!(Message::parse(&v9), Err(MessageError::WrongVersion(9)));
        assert_eq!(
            Message::parse(&header(17)),
            Err(MessageError::BadLength(17, 16))
        );
        for set in [
            &[1u8, 0, 0, 9, 0, 0, 0, 0][..],
            &[1, 0, 0, 3, 0, 0, 0, 0],
            &[1, 0, 0][..],
        ] {
            let mut m = header((16 + set.len()) as u16);
            m.extend_from_slice(set);
            assert_eq!(
                Message::parse(&m),
                Err(MessageError::BadSetLength),
                "{set:?}"
            );
        }
        let mut m = header(20);
        m.extend_from_slice(&[0, 4, 0, 4]);
        assert_eq!(Message::parse(&m), Err(MessageError::ReservedSetId(4)));
    }
}
