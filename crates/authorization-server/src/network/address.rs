//! The client address, with trusted-proxy rules.
//!
//! Headers like `X-Forwarded-For` are written by whoever sends the request. Believing them from
//! an arbitrary peer would let anyone claim any subscriber's IP and obtain a token for that
//! subscriber's number — the single most important attack on this product. So the headers are
//! read only when the TCP peer is a configured trusted proxy, and then walked from the nearest hop
//! outwards, skipping further trusted proxies: the first untrusted hop is the client (the same
//! rule as RFC 7239 §8.1 describes for chains of proxies).

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

use super::ClientAddr;

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address: a dual-stack listener reports it so.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The device address for a request from `peer` with `headers`.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientAddr {
    let direct = ClientAddr {
        ip: canonical(peer.ip()),
        port: Some(peer.port()),
    };
    if !is_trusted(peer.ip(), trusted) {
        return direct;
    }
    // `Forwarded` (RFC 7239) is preferred: it can carry the source port that CGNAT needs.
    let hops = forwarded_hops(headers).or_else(|| x_forwarded_for_hops(headers));
    let Some(hops) = hops else { return direct };
    let mut client = direct;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(addr) => {
                client = addr;
                if !is_trusted(addr.ip, trusted) {
                    return client;
                }
            }
            // An unparseable or obfuscated hop ("unknown", "_hidden"): stop at the last trusted
            // hop rather than guessing; the result is a proxy address that maps to nobody.
            None => return client,
        }
    }
    client
}

/// Each `for=` of every `Forwarded` header, in order. `None` when there is no such header.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Option<ClientAddr>>> {
    let mut hops = Vec::new();
    let mut any = false;
    for value in headers.get_all("forwarded") {
        any = true;
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| v.trim().trim_matches('"').to_owned())
            });
            hops.push(node.and_then(|n| parse_node(&n)));
        }
    }
    any.then_some(hops)
}

fn x_forwarded_for_hops(headers: &HeaderMap) -> Option<Vec<Option<ClientAddr>>> {
    let mut hops = Vec::new();
    let mut any = false;
    for value in headers.get_all("x-forwarded-for") {
        any = true;
        match value.to_str() {
            Ok(v) => hops.extend(v.split(',').map(|n| parse_node(n.trim()))),
            Err(_) => hops.push(None),
        }
    }
    any.then_some(hops)
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:5678` or a bare IPv6 address.
fn parse_node(s: &str) -> Option<ClientAddr> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(ClientAddr {
            ip: canonical(sa.ip()),
            port: Some(sa.port()),
        });
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>().ok().map(|ip| ClientAddr {
        ip: canonical(ip),
        port: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

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

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    const PROXY: &str = "10.0.0.2:40000";

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "100.64.0.1"),
            ("forwarded", "for=100.64.0.1"),
        ]);
        let a = client_address(
            "203.0.113.9:5555".parse().unwrap(),
            &h,
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(
            a,
            ClientAddr {
                ip: "203.0.113.9".parse().unwrap(),
                port: Some(5555)
            }
        );
    }

    #[test]
    fn a_trusted_proxy_reports_the_client_and_its_port() {
        let h = headers(&[("forwarded", "for=\"100.64.0.1:40001\";proto=https")]);
        let a = client_address(PROXY.parse().unwrap(), &h, &nets(&["10.0.0.0/8"]));
        assert_eq!(
            a,
            ClientAddr {
                ip: "100.64.0.1".parse().unwrap(),
                port: Some(40001)
            }
        );
        let h = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\"")]);
        let a = client_address(PROXY.parse().unwrap(), &h, &nets(&["10.0.0.0/8"]));
        assert_eq!(
            a,
            ClientAddr {
                ip: "2001:db8::1".parse().unwrap(),
                port: Some(4711)
            }
        );
    }

    #[test]
    fn a_client_cannot_prepend_a_spoofed_hop() {
        // The device sends "X-Forwarded-For: <victim>", the proxy appends the real address.
        let h = headers(&[("x-forwarded-for", "198.51.100.77, 100.64.0.9")]);
        let a = client_address(PROXY.parse().unwrap(), &h, &nets(&["10.0.0.0/8"]));
        assert_eq!(a.ip, "100.64.0.9".parse::<IpAddr>().unwrap());
        assert_eq!(a.port, None);
    }

    #[test]
    fn chains_of_trusted_proxies_are_skipped() {
        let h = headers(&[("x-forwarded-for", "100.64.0.9, 10.0.0.3")]);
        let a = client_address(PROXY.parse().unwrap(), &h, &nets(&["10.0.0.0/8"]));
        assert_eq!(a.ip, "100.64.0.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn obfuscated_hops_stop_the_walk() {
        let h = headers(&[("forwarded", "for=unknown")]);
        let a = client_address(PROXY.parse().unwrap(), &h, &nets(&["10.0.0.0/8"]));
        assert_eq!(a.ip, "10.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv4_mapped_peers_are_ipv4() {
        let a = client_address(
            "[::ffff:10.0.0.2]:1".parse().unwrap(),
            &HeaderMap::new(),
            &[],
        );
        assert_eq!(a.ip, "10.0.0.2".parse::<IpAddr>().unwrap());
    }
}
