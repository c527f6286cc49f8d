//! The client address, with trusted-proxy rules.
//!
//! Forwarding headers are written by whoever sends the request. Believing them from an arbitrary
//! peer, or believing a header the proxy does not write, would let anyone claim any subscriber's
//! IP and obtain a token for that subscriber's number — the single most important attack on this
//! product (RFC 7239 §8.1, CWE-348). So:
//!
//! - headers are read only when the TCP peer is a configured trusted proxy, and only the one
//!   header that proxy is configured to write ([`ForwardingHeader`]). Most proxies append to
//!   `X-Forwarded-For` and pass a device's own `Forwarded` through untouched (or the other way
//!   round), so the other header is never read, and its presence is refused: a proxy that lets it
//!   through is misconfigured, and guessing which one is genuine is the attack;
//! - the header's hops are walked from the nearest outwards, skipping further trusted proxies
//!   (of the same header); the first untrusted hop is the device. What a device prepended lies
//!   further out and is never reached;
//! - a hop that the walk must read and cannot parse, or that is obfuscated (`unknown`,
//!   `_hidden`, RFC 7239 §6.2–6.3), is refused rather than guessed.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;

use super::ClientAddr;
use crate::config::{ForwardingHeader, TrustedProxy};

/// Why a request from a trusted proxy does not name a device. Each is a proxy configuration
/// problem or a tampered request; none is an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForwardingError {
    /// The header the proxy does not write is present: the device sent it through the proxy.
    #[error(
        "the request carries {other}, but the trusted proxy is configured to write only {this}: \
         it must remove {other}",
        other = .0.other().name(),
        this = .0.name()
    )]
    ForeignHeader(ForwardingHeader),
    #[error("the trusted proxy sent no {} header", .0.name())]
    Missing(ForwardingHeader),
    #[error("the {} header cannot be parsed where it names the device", .0.name())]
    Malformed(ForwardingHeader),
    #[error("the proxy hides the device address (an obfuscated or unknown node)")]
    Obfuscated,
    #[error("every hop of the forwarding header is a trusted proxy: no device address")]
    OnlyProxies,
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address: a dual-stack listener reports it so.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The most specific proxy entry containing `ip` (configuration refuses overlapping entries
/// that name different headers, so the header does not depend on which one is picked).
fn proxy_for(ip: IpAddr, trusted: &[TrustedProxy]) -> Option<&TrustedProxy> {
    let ip = canonical(ip);
    trusted
        .iter()
        .filter(|p| p.network.contains(&ip))
        .max_by_key(|p| p.network.prefix_len())
}

/// The device address for a request from `peer` with `headers`.
pub fn client_address(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &[TrustedProxy],
) -> Result<ClientAddr, ForwardingError> {
    let Some(proxy) = proxy_for(peer.ip(), trusted) else {
        return Ok(ClientAddr {
            ip: canonical(peer.ip()),
            port: Some(peer.port()),
        });
    };
    let header = proxy.header;
    if headers.contains_key(header.other().name()) {
        return Err(ForwardingError::ForeignHeader(header));
    }
    let lines: Vec<&[u8]> = headers
        .get_all(header.name())
        .map(|v| v.as_bytes())
        .collect();
    if lines.is_empty() {
        return Err(ForwardingError::Missing(header));
    }
    // Several header lines are one comma-separated list, in order (RFC 9110 §5.3); the nearest
    // hop is the last element of the last line.
    for line in lines.iter().rev() {
        let hops = match header {
            ForwardingHeader::XForwardedFor => x_forwarded_for_hops(line),
            ForwardingHeader::Forwarded => forwarded_hops(line),
        }
        .ok_or(ForwardingError::Malformed(header))?;
        for hop in hops.into_iter().rev() {
            let addr = match hop {
                Hop::Addr(addr) => addr,
                Hop::Hidden => return Err(ForwardingError::Obfuscated),
                Hop::Malformed => return Err(ForwardingError::Malformed(header)),
            };
            match proxy_for(addr.ip, trusted) {
                Some(p) if p.header == header => continue,
                _ => return Ok(addr),
            }
        }
    }
    Err(ForwardingError::OnlyProxies)
}

/// One hop of a forwarding header.
#[derive(Debug, PartialEq, Eq)]
enum Hop {
    Addr(ClientAddr),
    /// `unknown` or an obfuscated identifier (RFC 7239 §6.2, §6.3).
    Hidden,
    Malformed,
}

/// The hops of one `X-Forwarded-For` line. Elements are only parsed when the walk reaches them,
/// so whatever a device prepended cannot make a request fail; `None` only for a line that is not
/// text.
fn x_forwarded_for_hops(line: &[u8]) -> Option<Vec<Hop>> {
    let line = std::str::from_utf8(line).ok()?;
    Some(line.split(',').map(|e| parse_xff_node(e.trim())).collect())
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:5678`.
fn parse_xff_node(s: &str) -> Hop {
    if s.eq_ignore_ascii_case("unknown") || s.starts_with('_') {
        return Hop::Hidden;
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Hop::Addr(ClientAddr {
            ip: canonical(sa.ip()),
            port: Some(sa.port()),
        });
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    match bare.parse::<IpAddr>() {
        Ok(ip) => Hop::Addr(ClientAddr {
            ip: canonical(ip),
            port: None,
        }),
        Err(_) => Hop::Malformed,
    }
}

/// The `for=` node of each element of one `Forwarded` line (RFC 7239 §4), or `None` when the
/// line does not follow the grammar. Values may be quoted strings (which may contain `,` and
/// `;`), so the line is tokenised rather than split.
fn forwarded_hops(line: &[u8]) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    let mut rest = std::str::from_utf8(line).ok()?;
    loop {
        let mut node: Option<String> = None;
        // One element: pairs separated by `;`, each may be empty.
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            if !rest.starts_with([';', ',']) && !rest.is_empty() {
                let key_len = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
                let key = &rest[..key_len];
                rest = rest[key_len..].strip_prefix('=')?;
                if key.is_empty() {
                    return None;
                }
                let (value, after) = forwarded_value(rest)?;
                rest = after;
                if key.eq_ignore_ascii_case("for") {
                    // A parameter appears at most once per element (RFC 7239 §4).
                    if node.replace(value).is_some() {
                        return None;
                    }
                }
                rest = rest.trim_start_matches([' ', '\t']);
            }
            match rest.as_bytes().first() {
                Some(b';') => rest = &rest[1..],
                _ => break,
            }
        }
        hops.push(match node {
            Some(n) => parse_forwarded_node(&n),
            None => Hop::Malformed,
        });
        match rest.as_bytes().first() {
            Some(b',') => rest = &rest[1..],
            None => return Some(hops),
            Some(_) => return None,
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A token or a quoted string (RFC 9110 §5.6.4, with `\` escapes), and what follows it.
fn forwarded_value(s: &str) -> Option<(String, &str)> {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((value, &quoted[i + 1..])),
                '\\' => value.push(chars.next()?.1),
                c => value.push(c),
            }
        }
        None
    } else {
        let len = s.find(|c: char| !is_tchar(c)).unwrap_or(s.len());
        (len > 0).then(|| (s[..len].to_owned(), &s[len..]))
    }
}

/// RFC 7239 §6: `IPv4[:port]`, `"[IPv6]"[:port]`, `unknown` or `_obfuscated`, the port possibly
/// obfuscated too (then unknown: only whole-address records can match).
fn parse_forwarded_node(node: &str) -> Hop {
    let (name, port) = if let Some(v6) = node.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Hop::Malformed;
        };
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Hop::Malformed,
            },
        };
        match addr.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => (Some(IpAddr::V6(ip)), port),
            Err(_) => return Hop::Malformed,
        }
    } else {
        let (name, port) = match node.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (node, None),
        };
        if name.eq_ignore_ascii_case("unknown") || name.starts_with('_') {
            return Hop::Hidden;
        }
        // An IPv6 address outside brackets is not a node (and would be ambiguous with a port).
        match name.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => (Some(IpAddr::V4(ip)), port),
            Err(_) => return Hop::Malformed,
        }
    };
    let Some(ip) = name else {
        return Hop::Malformed;
    };
    let port = match port {
        None => None,
        Some(p) if p.starts_with('_') && p.len() > 1 => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse::<u16>() {
                Ok(p) => Some(p),
                Err(_) => return Hop::Malformed,
            }
        }
        Some(_) => return Hop::Malformed,
    };
    Hop::Addr(ClientAddr {
        ip: canonical(ip),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use ForwardingHeader::{Forwarded, XForwardedFor};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn proxies(s: &[(&str, ForwardingHeader)]) -> Vec<TrustedProxy> {
        s.iter()
            .map(|(n, header)| TrustedProxy {
                network: n.parse().unwrap(),
                header: *header,
            })
            .collect()
    }

    const PROXY: &str = "10.0.0.2:40000";

    fn via(
        header: ForwardingHeader,
        pairs: &[(&str, &str)],
    ) -> Result<ClientAddr, ForwardingError> {
        client_address(
            PROXY.parse().unwrap(),
            &headers(pairs),
            &proxies(&[("10.0.0.0/8", header)]),
        )
    }

    fn addr(ip: &str, port: Option<u16>) -> Result<ClientAddr, ForwardingError> {
        Ok(ClientAddr {
            ip: ip.parse().unwrap(),
            port,
        })
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "100.64.0.1"),
            ("forwarded", "for=100.64.0.1"),
        ]);
        for header in [Forwarded, XForwardedFor] {
            let a = client_address(
                "203.0.113.9:5555".parse().unwrap(),
                &h,
                &proxies(&[("10.0.0.0/8", header)]),
            );
            assert_eq!(a, addr("203.0.113.9", Some(5555)));
        }
    }

    /// The reported bypass: an X-Forwarded-For proxy passes the device's own `Forwarded` through.
    #[test]
    fn a_device_cannot_add_the_header_its_proxy_does_not_write() {
        assert_eq!(
            via(XForwardedFor, &[("x-forwarded-for", "203.0.113.5")]),
            addr("203.0.113.5", None)
        );
        for spoof in [
            "for=100.64.0.1",
            "for=\"100.64.0.2:1500\"",
            "for=\"[::ffff:100.64.0.1]:9\"",
        ] {
            assert_eq!(
                via(
                    XForwardedFor,
                    &[("x-forwarded-for", "203.0.113.5"), ("forwarded", spoof)]
                ),
                Err(ForwardingError::ForeignHeader(XForwardedFor)),
                "{spoof}"
            );
        }
        // And the other way round.
        assert_eq!(
            via(
                Forwarded,
                &[
                    ("forwarded", "for=203.0.113.5"),
                    ("x-forwarded-for", "100.64.0.1")
                ]
            ),
            Err(ForwardingError::ForeignHeader(Forwarded))
        );
    }

    #[test]
    fn a_proxy_configured_for_one_header_never_reads_the_other() {
        // The other header alone is refused too, and is never an identity.
        assert_eq!(
            via(XForwardedFor, &[("forwarded", "for=100.64.0.1")]),
            Err(ForwardingError::ForeignHeader(XForwardedFor))
        );
        assert_eq!(
            via(Forwarded, &[("x-forwarded-for", "100.64.0.1")]),
            Err(ForwardingError::ForeignHeader(Forwarded))
        );
        assert_eq!(
            via(Forwarded, &[]),
            Err(ForwardingError::Missing(Forwarded))
        );
    }

    #[test]
    fn a_trusted_proxy_reports_the_client_and_its_port() {
        assert_eq!(
            via(
                Forwarded,
                &[("forwarded", "for=\"100.64.0.1:40001\";proto=https")]
            ),
            addr("100.64.0.1", Some(40001))
        );
        assert_eq!(
            via(Forwarded, &[("forwarded", "for=\"[2001:db8::1]:4711\"")]),
            addr("2001:db8::1", Some(4711))
        );
        assert_eq!(
            via(Forwarded, &[("forwarded", "For=\"[2001:db8::1]\"")]),
            addr("2001:db8::1", None)
        );
        assert_eq!(
            via(XForwardedFor, &[("x-forwarded-for", "100.64.0.1:40001")]),
            addr("100.64.0.1", Some(40001))
        );
        assert_eq!(
            via(XForwardedFor, &[("x-forwarded-for", "[2001:db8::1]:4711")]),
            addr("2001:db8::1", Some(4711))
        );
        assert_eq!(
            via(XForwardedFor, &[("x-forwarded-for", "2001:db8::1")]),
            addr("2001:db8::1", None)
        );
    }

    #[test]
    fn a_client_cannot_prepend_a_spoofed_hop() {
        // The device sends "X-Forwarded-For: <victim>", the proxy appends the real address.
        assert_eq!(
            via(
                XForwardedFor,
                &[("x-forwarded-for", "198.51.100.77, 100.64.0.9")]
            ),
            addr("100.64.0.9", None)
        );
        // The same as two header lines, and with garbage the walk never reaches.
        assert_eq!(
            via(
                XForwardedFor,
                &[
                    ("x-forwarded-for", "not an address, _x, unknown"),
                    ("x-forwarded-for", "100.64.0.9")
                ]
            ),
            addr("100.64.0.9", None)
        );
        assert_eq!(
            via(
                Forwarded,
                &[("forwarded", "for=198.51.100.77, for=\"100.64.0.9:1500\"")]
            ),
            addr("100.64.0.9", Some(1500))
        );
        assert_eq!(
            via(
                Forwarded,
                &[
                    ("forwarded", "for=198.51.100.77"),
                    ("forwarded", "for=100.64.0.9")
                ]
            ),
            addr("100.64.0.9", None)
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_skipped() {
        assert_eq!(
            via(
                XForwardedFor,
                &[("x-forwarded-for", "100.64.0.9, 10.0.0.3")]
            ),
            addr("100.64.0.9", None)
        );
        assert_eq!(
            via(
                Forwarded,
                &[(
                    "forwarded",
                    "for=\"100.64.0.9:7\", for=10.0.0.3;by=10.0.0.2"
                )]
            ),
            addr("100.64.0.9", Some(7))
        );
        assert_eq!(
            via(XForwardedFor, &[("x-forwarded-for", "10.0.0.4, 10.0.0.3")]),
            Err(ForwardingError::OnlyProxies)
        );
    }

    #[test]
    fn a_proxy_of_the_other_header_is_not_skipped() {
        let trusted = proxies(&[("10.0.0.0/24", XForwardedFor), ("10.0.1.0/24", Forwarded)]);
        let h = headers(&[("x-forwarded-for", "100.64.0.9, 10.0.1.5")]);
        let a = client_address("10.0.0.2:1".parse().unwrap(), &h, &trusted);
        // 10.0.1.5 writes `Forwarded`, so it did not write this list: it is the client here,
        // an address that maps to nobody.
        assert_eq!(a, addr("10.0.1.5", None));
    }

    #[test]
    fn obfuscated_or_unparseable_hops_where_the_device_should_be_are_refused() {
        for v in ["for=unknown", "for=_hidden", "for=\"_x:80\"", "for=UNKNOWN"] {
            assert_eq!(
                via(Forwarded, &[("forwarded", v)]),
                Err(ForwardingError::Obfuscated),
                "{v}"
            );
        }
        for v in ["unknown", "_hidden"] {
            assert_eq!(
                via(XForwardedFor, &[("x-forwarded-for", v)]),
                Err(ForwardingError::Obfuscated),
                "{v}"
            );
        }
        for v in [
            "for=",
            "by=10.0.0.2",
            "for=100.64.0.1;for=100.64.0.2",
            "for=2001:db8::1",
            "for=\"2001:db8::1\"",
            "for=\"[2001:db8::1\"",
            "for=\"[2001:db8::1]x\"",
            "for=\"100.64.0.1:70000\"",
            "for=\"100.64.0.1:\"",
            "for=\"100.64.0.1",
            "for=100.64.0.1 junk",
            "for=host.example",
            "=100.64.0.1",
            "for=\"100.64.0.1\", ",
        ] {
            assert_eq!(
                via(Forwarded, &[("forwarded", v)]),
                Err(ForwardingError::Malformed(Forwarded)),
                "{v}"
            );
        }
        for v in [
            "",
            "100.64.0.1,",
            "host.example",
            "100.64.0.1:x",
            "fe80::1%eth0",
        ] {
            assert_eq!(
                via(XForwardedFor, &[("x-forwarded-for", v)]),
                Err(ForwardingError::Malformed(XForwardedFor)),
                "{v:?}"
            );
        }
    }

    #[test]
    fn quoted_strings_may_hide_separators_but_not_a_second_hop() {
        // A quoted value with `,` and `;` is one value, not two elements.
        assert_eq!(
            via(
                Forwarded,
                &[("forwarded", "for=100.64.0.9;by=\"a,b;c\\\"d\"")]
            ),
            addr("100.64.0.9", None)
        );
        assert_eq!(
            via(
                Forwarded,
                &[("forwarded", "for=\"100.64.0.9:1,for=100.64.0.1\"")]
            ),
            Err(ForwardingError::Malformed(Forwarded))
        );
        // An obfuscated port hides the port only.
        assert_eq!(
            via(Forwarded, &[("forwarded", "for=\"100.64.0.9:_p1\"")]),
            addr("100.64.0.9", None)
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let a = client_address(
            "[::ffff:10.0.0.2]:1".parse().unwrap(),
            &HeaderMap::new(),
            &[],
        );
        assert_eq!(a, addr("10.0.0.2", Some(1)));
        // A mapped proxy peer is trusted as its IPv4 address, and a mapped hop is IPv4.
        let h = headers(&[("forwarded", "for=\"[::ffff:100.64.0.1]:9\"")]);
        let a = client_address(
            "[::ffff:10.0.0.2]:1".parse().unwrap(),
            &h,
            &proxies(&[("10.0.0.0/8", Forwarded)]),
        );
        assert_eq!(a, addr("100.64.0.1", Some(9)));
        assert_eq!(
            via(XForwardedFor, &[("x-forwarded-for", "::ffff:100.64.0.1")]),
            addr("100.64.0.1", None)
        );
    }
}
