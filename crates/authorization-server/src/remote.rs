//! Key documents this server fetches — a client's `jwks_uri`, the resource server's JWKS — through
//! the shared cache (`server_kit::remote`: single flight, back-off, stale fallback, size cap),
//! with this server's policy.

use std::sync::Arc;

use async_trait::async_trait;
use nv_store::Clock;
use server_kit::remote::{get_json, CachePolicy, RemoteDocument, Source};

/// Fetched documents are used five minutes; while refetches fail the last good one keeps working
/// for an hour more, so a key host's short outage does not break logins, but a key its owner
/// withdrew does not live on indefinitely. An unknown `kid` refetches at most every 10 s.
pub const POLICY: CachePolicy = CachePolicy {
    ttl: 300,
    max_stale: Some(3600),
    refresh_min_interval: 10,
    max_backoff: 60,
};

/// Largest accepted key document.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Turns the fetched JSON into the document's type.
pub type Parser<T> = Box<dyn Fn(&serde_json::Value) -> Result<T, String> + Send + Sync>;

/// A JSON document at a URL.
struct JsonAt<T> {
    http: reqwest::Client,
    uri: String,
    parse: Parser<T>,
}

#[async_trait]
impl<T: Send + Sync + 'static> Source<T> for JsonAt<T> {
    async fn fetch(&self) -> Result<T, String> {
        let doc = get_json(&self.http, &self.uri, MAX_DOCUMENT_BYTES).await?;
        // Named without its query, which may carry credentials.
        (self.parse)(&doc).map_err(|e| format!("{}: {e}", server_kit::remote::shown_url(&self.uri)))
    }
}

/// The document at `uri`, parsed by `parse`, cached with [`POLICY`].
pub fn document<T: Send + Sync + 'static>(
    uri: String,
    parse: Parser<T>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
) -> RemoteDocument<T> {
    RemoteDocument::new(Box::new(JsonAt { http, uri, parse }), POLICY, clock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering;

    /// Client `jwks_uri`s are https in practice: the HTTP client must speak TLS (built alone, the
    /// crate once had no TLS feature and answered "scheme not supported" without connecting).
    #[tokio::test]
    async fn an_https_document_is_fetched_over_tls() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connected = Arc::new(AtomicBool::new(false));
        let seen = connected.clone();
        std::thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                seen.store(true, Ordering::SeqCst);
                // Not a TLS server hello: the handshake fails.
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            }
        });
        let doc: RemoteDocument<serde_json::Value> = document(
            format!("https://127.0.0.1:{port}/jwks"),
            Box::new(|v| Ok(v.clone())),
            reqwest::Client::new(),
            Arc::new(nv_store::SystemClock),
        );
        let err = doc.get().await.unwrap_err();
        assert!(connected.load(Ordering::SeqCst), "no connection: {err}");
        assert!(!err.to_string().contains("scheme"), "{err}");
    }
}
