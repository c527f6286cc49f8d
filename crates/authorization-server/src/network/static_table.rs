use async_trait::async_trait;
use nv_store::StoreError;
use nv_token::PhoneNumber;

use super::{ClientAddr, IdentityResolver};
use crate::config::StaticEntry;

/// The static IP table from configuration. The most specific row wins: the longest prefix, and
/// among equal prefixes a row with a port range before one without (CGNAT: many subscribers
/// share one public address, each with its own port block).
pub struct StaticTable {
    rows: Vec<StaticEntry>,
}

impl StaticTable {
    pub fn new(mut rows: Vec<StaticEntry>) -> Self {
        rows.sort_by_key(|r| (std::cmp::Reverse(r.network.prefix_len()), r.ports.is_none()));
        Self { rows }
    }

    pub fn lookup(&self, addr: &ClientAddr) -> Option<&PhoneNumber> {
        self.rows
            .iter()
            .filter(|r| r.network.contains(&addr.ip))
            .find(|r| match (r.ports, addr.port) {
                (None, _) => true,
                (Some(range), Some(port)) => range.contains(port),
                // A port-range row cannot match when the source port is unknown.
                (Some(_), None) => false,
            })
            .map(|r| &r.msisdn)
    }
}

#[async_trait]
impl IdentityResolver for StaticTable {
    async fn resolve(
        &self,
        addr: &ClientAddr,
        _at: i64,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        Ok(self.lookup(addr).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_ip_or_net, PortRange};

    fn row(net: &str, ports: Option<&str>, msisdn: &str) -> StaticEntry {
        StaticEntry {
            network: parse_ip_or_net(net).unwrap(),
            ports: ports.map(|p| p.parse::<PortRange>().unwrap()),
            msisdn: msisdn.parse().unwrap(),
        }
    }

    fn at(ip: &str, port: Option<u16>) -> ClientAddr {
        ClientAddr {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn most_specific_row_wins_and_port_ranges_split_a_cgnat_address() {
        let t = StaticTable::new(vec![
            row("100.64.0.0/10", None, "+99000000001"),
            row("100.64.0.1", Some("1024-2047"), "+99000000002"),
            row("100.64.0.1", Some("2048-3071"), "+99000000003"),
            row("2001:db8:1::/48", None, "+99000000004"),
            row("10.0.0.7", None, "+99000000005"),
        ]);
        let n = |ip, port| t.lookup(&at(ip, port)).map(|n| n.as_str().to_owned());
        assert_eq!(n("100.64.0.1", Some(1500)).as_deref(), Some("+99000000002"));
        assert_eq!(n("100.64.0.1", Some(2048)).as_deref(), Some("+99000000003"));
        assert_eq!(n("100.64.0.1", Some(9000)).as_deref(), Some("+99000000001"));
        assert_eq!(n("100.64.0.1", None).as_deref(), Some("+99000000001"));
        assert_eq!(
            n("2001:db8:1:ffff::5", Some(1)).as_deref(),
            Some("+99000000004")
        );
        assert_eq!(n("10.0.0.7", Some(1)).as_deref(), Some("+99000000005"));
        assert_eq!(n("10.0.0.8", Some(1)), None);
        assert_eq!(n("2001:db8:2::1", None), None);
    }
}
