//! The Redis a URL names: one node (`redis://`, `rediss://`) or a cluster (`redis+cluster://`,
//! `rediss+cluster://`). Errors never quote the URL: it may carry a password.

use redis::cluster::ClusterClientBuilder;
use redis::Client;

use crate::StoreError;

/// What [`Target::parse`] accepts, for error messages.
pub(crate) const URL_FORMS: &str = "redis://[user:password@]host[:port][/db], rediss://… (TLS), \
     redis+cluster://[user:password@]host:port[,host:port…] or rediss+cluster://… (TLS)";

/// A parsed store URL.
pub(super) enum Target {
    Node(Box<Client>),
    /// The seed nodes, one `redis://` / `rediss://` URL each (checked); the client finds the
    /// others.
    Cluster(Vec<String>),
}

impl Target {
    /// The target and its `host:port` list for logs (no user, no password).
    pub(super) fn parse(url: &str) -> Result<(Self, String), StoreError> {
        let invalid =
            || StoreError::Unavailable(format!("invalid Redis URL: expected {URL_FORMS}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
        let node_scheme = match scheme.to_ascii_lowercase().as_str() {
            "redis" | "rediss" => {
                // The redis crate's parse errors may quote the URL.
                let client = Client::open(url).map_err(|_| invalid())?;
                let addr = client.get_connection_info().addr().to_string();
                return Ok((Self::Node(Box::new(client)), addr));
            }
            "redis+cluster" => "redis",
            "rediss+cluster" => "rediss",
            _ => return Err(invalid()),
        };
        // `#insecure` (TLS without certificate verification, for tests) as on `rediss://`.
        let (rest, fragment) = match rest.split_once('#') {
            Some((rest, "insecure")) if node_scheme == "rediss" => (rest, "#insecure"),
            Some(_) => return Err(invalid()),
            None => (rest, ""),
        };
        // A cluster has one database (0): no path other than `/` or `/0`, no query.
        let authority = match rest.split_once('/') {
            Some((authority, "" | "0")) => authority,
            Some(_) => return Err(invalid()),
            None => rest,
        };
        if authority.contains('?') {
            return Err(invalid());
        }
        // The password may contain `@` only percent-encoded, as in any URL: the last `@` ends it.
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
            None => (String::new(), authority),
        };
        let hosts: Vec<&str> = hosts.split(',').collect();
        if hosts.iter().any(|h| h.is_empty()) {
            return Err(invalid());
        }
        let nodes: Vec<String> = hosts
            .iter()
            .map(|host| format!("{node_scheme}://{userinfo}{host}/{fragment}"))
            .collect();
        // Checks every node URL (and that they agree on user, password and TLS) without
        // connecting.
        ClusterClientBuilder::new(nodes.clone())
            .build()
            .map_err(|_| invalid())?;
        Ok((Self::Cluster(nodes), hosts.join(",")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<(Target, String), String> {
        Target::parse(url).map_err(|e| e.to_string())
    }

    #[test]
    fn single_node_urls_give_one_node() {
        for (url, addr) in [
            ("redis://127.0.0.1:6379/0", "127.0.0.1:6379"),
            (
                "rediss://user:pw@redis.internal:6380",
                "redis.internal:6380",
            ),
        ] {
            let (target, shown) = parse(url).unwrap();
            assert!(matches!(target, Target::Node(_)));
            assert_eq!(shown, addr);
        }
    }

    #[test]
    fn cluster_urls_list_their_seed_nodes_without_the_password() {
        for (url, addr) in [
            ("redis+cluster://10.0.0.1:7000", "10.0.0.1:7000"),
            (
                "redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7000/",
                "10.0.0.1:7000,10.0.0.2:7000",
            ),
            (
                "REDISS+CLUSTER://nv:s3cret@a.internal:7000,[::1]:7001/0#insecure",
                "a.internal:7000,[::1]:7001",
            ),
        ] {
            let (target, shown) = parse(url).unwrap();
            assert!(matches!(target, Target::Cluster(_)), "{url}");
            assert_eq!(shown, addr);
        }
    }

    #[test]
    fn malformed_cluster_urls_are_refused_without_echoing_them() {
        for url in [
            "redis+cluster://",
            "redis+cluster://:s3cret@10.0.0.1:7000,,10.0.0.2:7000",
            "redis+cluster://:s3cret@10.0.0.1:7000/3",
            "redis+cluster://:s3cret@10.0.0.1:7000?protocol=3",
            "redis+cluster://:s3cret@10.0.0.1:7000#insecure",
            "redis+cluster://:s3cret@10.0.0.1:notaport",
            "redis+sentinel://:s3cret@10.0.0.1:26379",
        ] {
            let Err(message) = parse(url) else {
                panic!("accepted {url}");
            };
            assert!(message.contains("redis+cluster://"), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }
}
