//! Builds Accounting-Requests the way a NAS does (tests, and the throughput measurement):
//! attributes in order, then the Request Authenticator of RFC 2866 §3 over the result.

use crate::attributes::VENDOR_3GPP;
use crate::packet::{request_authenticator, ACCOUNTING_REQUEST, HEADER_LEN};

#[derive(Clone)]
pub struct RequestBuilder {
    identifier: u8,
    attributes: Vec<u8>,
}

impl RequestBuilder {
    pub fn new(identifier: u8) -> Self {
        Self {
            identifier,
            attributes: Vec::new(),
        }
    }

    /// One attribute with this exact value (a wrong size is the caller's intent).
    pub fn raw(mut self, kind: u8, value: &[u8]) -> Self {
        let len = u8::try_from(value.len() + 2).expect("an attribute value fits in 253 octets");
        self.attributes.push(kind);
        self.attributes.push(len);
        self.attributes.extend_from_slice(value);
        self
    }

    pub fn u32(self, kind: u8, value: u32) -> Self {
        self.raw(kind, &value.to_be_bytes())
    }

    pub fn string(self, kind: u8, value: &[u8]) -> Self {
        self.raw(kind, value)
    }

    pub fn ipv4(self, kind: u8, octets: [u8; 4]) -> Self {
        self.raw(kind, &octets)
    }

    /// `Framed-IPv6-Prefix` / `Delegated-IPv6-Prefix` (RFC 3162 §2.3): the prefix octets the
    /// length needs, no more.
    pub fn ipv6_prefix(self, kind: u8, prefix: &str) -> Self {
        let net: ipnet::Ipv6Net = prefix.parse().expect("an IPv6 prefix");
        let used = usize::from(net.prefix_len().div_ceil(8));
        let mut value = vec![0, net.prefix_len()];
        value.extend_from_slice(&net.addr().octets()[..used]);
        self.raw(kind, &value)
    }

    /// A Vendor-Specific attribute of vendor `vendor` holding `sub` as is.
    pub fn vsa(self, vendor: u32, sub: &[u8]) -> Self {
        let mut value = vendor.to_be_bytes().to_vec();
        value.extend_from_slice(sub);
        self.raw(26, &value)
    }

    /// A 3GPP Vendor-Specific attribute with one sub-attribute.
    pub fn vsa_3gpp(self, kind: u8, value: &[u8]) -> Self {
        let mut sub = vec![kind, u8::try_from(value.len() + 2).expect("fits")];
        sub.extend_from_slice(value);
        self.vsa(VENDOR_3GPP, &sub)
    }

    /// The packet, signed with `secret`.
    pub fn build(&self, secret: &[u8]) -> Vec<u8> {
        let mut p = vec![ACCOUNTING_REQUEST, self.identifier, 0, 0];
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(&self.attributes);
        let len = u16::try_from(p.len()).expect("a packet fits in 65535 octets");
        p[2..4].copy_from_slice(&len.to_be_bytes());
        let auth = request_authenticator(&p, secret);
        p[4..HEADER_LEN].copy_from_slice(&auth);
        p
    }
}
