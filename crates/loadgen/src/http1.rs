//! A minimal HTTP/1.1 client for the measured requests: one keep-alive connection per worker and
//! server, requests written from a reused buffer, responses parsed with `httparse`.
//!
//! Why not `reqwest` here: loadgen shares the machine's cores with the servers it measures, so
//! every microsecond it spends per request is taken from them. A shared `reqwest` client (pool
//! lock, header maps, body streams, redirect policy) cost loadgen about 50 µs of CPU per request,
//! a quarter of the machine at 3,000 flows/s; this client costs a fraction of that
//! (docs/performance.md). It speaks only what the benchmark needs: plain `http://`, bodies with
//! `Content-Length` or chunked, `Connection: close`. Set-up requests (discovery, JWKS) still use
//! `reqwest`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status, the `Location` header (redirects are not followed), the body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    /// A short description for the error samples of the report.
    pub fn describe(&self) -> String {
        let body: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(160)
            .collect();
        format!("HTTP {}: {body}", self.status)
    }
}

/// Requests sent a second time because a kept-alive connection turned out closed before any of
/// the answer arrived. The run reports it: a server that drops connections mid-request (a panic,
/// say) shows up here instead of hiding behind the resend.
pub static RESENT: AtomicU64 = AtomicU64::new(0);

/// One keep-alive connection to one server, opened on first use and reopened when the server
/// closes it.
pub struct Conn {
    /// Every address the name resolved to, tried in order on connect.
    addrs: Vec<SocketAddr>,
    host: String,
    stream: Option<TcpStream>,
    out: Vec<u8>,
    buf: Vec<u8>,
}

/// How long one request may take before it counts as an error.
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEADERS: usize = 32;
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Larger bodies are an error, not an allocation (none of the measured answers is over 4 KiB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

impl Conn {
    /// `base` is `http://host:port` (a name is resolved once, here).
    pub fn new(base: &str) -> Result<Self, String> {
        let url = url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!("{base}: loadgen measures over plain http:// only"));
        }
        let addrs = url
            .socket_addrs(|| Some(80))
            .map_err(|e| format!("{base}: {e}"))?;
        if addrs.is_empty() {
            return Err(format!("{base}: no address"));
        }
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        Ok(Self {
            addrs,
            host,
            stream: None,
            out: Vec::with_capacity(2048),
            buf: Vec::with_capacity(8192),
        })
    }

    pub async fn get(&mut self, path: &str) -> Result<Response, String> {
        self.request("GET", path, &[], b"").await
    }

    /// `headers`: extra `(name, value)` pairs; `Content-Length` is added.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        self.request("POST", path, headers, body).await
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        self.out.clear();
        self.out.extend_from_slice(method.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(path.as_bytes());
        self.out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.out.extend_from_slice(self.host.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        if method == "POST" {
            self.out.extend_from_slice(b"Content-Length: ");
            self.out
                .extend_from_slice(body.len().to_string().as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(body);

        // A kept-alive connection may have been closed by the server since its last use (idle
        // timeout): if it fails before any byte of the answer arrived, send once more on a fresh
        // one. A fresh connection that fails is an error.
        let reused = self.stream.is_some();
        let result = match self.attempt().await {
            Err(Failure::BeforeAnswer(_)) if reused => {
                RESENT.fetch_add(1, Ordering::Relaxed);
                self.stream = None;
                self.attempt().await
            }
            other => other,
        };
        // After any failure the connection's state is unknown (part of an answer may be left
        // unread): never reuse it.
        result.map_err(|e| {
            self.stream = None;
            e.into_string()
        })
    }

    async fn attempt(&mut self) -> Result<Response, Failure> {
        tokio::time::timeout(TIMEOUT, self.exchange())
            .await
            .unwrap_or_else(|_| {
                Err(Failure::After(format!(
                    "no answer within {} s",
                    TIMEOUT.as_secs()
                )))
            })
    }

    async fn connect(&self) -> Result<TcpStream, Failure> {
        let mut last = None;
        for addr in &self.addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(format!("connect {addr}: {e}")),
            }
        }
        Err(Failure::BeforeAnswer(last.unwrap_or_default()))
    }

    /// Write `self.out`, read one response.
    async fn exchange(&mut self) -> Result<Response, Failure> {
        if self.stream.is_none() {
            let s = self.connect().await?;
            s.set_nodelay(true)
                .map_err(|e| Failure::BeforeAnswer(e.to_string()))?;
            self.stream = Some(s);
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream
            .write_all(&self.out)
            .await
            .map_err(|e| Failure::BeforeAnswer(format!("send: {e}")))?;
        self.buf.clear();
        // The head (1xx interim answers are skipped).
        let mut need_more = true;
        let (status, location, close, framing, head_len) = loop {
            if need_more && read_more(stream, &mut self.buf).await? == 0 {
                return Err(if self.buf.is_empty() {
                    Failure::BeforeAnswer("the server closed the connection".into())
                } else {
                    Failure::After("the server closed the connection mid-answer".into())
                });
            }
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.unwrap_or(0);
                    if (100..200).contains(&status) {
                        self.buf.drain(..len);
                        need_more = self.buf.is_empty();
                        continue;
                    }
                    let mut location = None;
                    let mut close = false;
                    let mut length = None;
                    let mut chunked = false;
                    for h in resp.headers.iter() {
                        let value = std::str::from_utf8(h.value).unwrap_or_default();
                        let has_token = |token: &str| {
                            value
                                .split(',')
                                .any(|t| t.trim().eq_ignore_ascii_case(token))
                        };
                        if h.name.eq_ignore_ascii_case("location") {
                            location = Some(value.to_string());
                        } else if h.name.eq_ignore_ascii_case("content-length") {
                            let n: usize = value.trim().parse().map_err(|_| {
                                Failure::After(format!("bad Content-Length {value:?}"))
                            })?;
                            if n > MAX_BODY_BYTES {
                                return Err(Failure::After(format!("body of {n} bytes")));
                            }
                            length = Some(n);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked |= has_token("chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            close |= has_token("close");
                        }
                    }
                    // RFC 9112 §6.3: no body for 204 and 304; Transfer-Encoding wins over
                    // Content-Length.
                    let framing = if status == 204 || status == 304 {
                        Framing::Length(0)
                    } else if chunked {
                        Framing::Chunked
                    } else if let Some(n) = length {
                        Framing::Length(n)
                    } else {
                        Framing::UntilClose
                    };
                    break (status, location, close, framing, len);
                }
                Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD_BYTES => {
                    need_more = true;
                    continue;
                }
                Ok(httparse::Status::Partial) => {
                    return Err(Failure::After("response head too large".into()))
                }
                Err(e) => return Err(Failure::After(format!("bad response: {e}"))),
            }
        };
        // The body.
        let body = match framing {
            Framing::Length(n) => {
                while self.buf.len() < head_len + n {
                    if read_more(stream, &mut self.buf).await? == 0 {
                        return Err(Failure::After("the body ended early".into()));
                    }
                }
                self.buf[head_len..head_len + n].to_vec()
            }
            Framing::Chunked => dechunk(stream, &mut self.buf, head_len).await?,
            Framing::UntilClose => {
                while read_more(stream, &mut self.buf).await? > 0 {
                    if self.buf.len() > head_len + MAX_BODY_BYTES {
                        return Err(Failure::After("body too large".into()));
                    }
                }
                self.stream = None;
                self.buf[head_len..].to_vec()
            }
        };
        if close {
            self.stream = None;
        }
        Ok(Response {
            status,
            location,
            body,
        })
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

enum Failure {
    /// Nothing of an answer arrived: safe to send again on a new connection.
    BeforeAnswer(String),
    After(String),
}

impl Failure {
    fn into_string(self) -> String {
        match self {
            Failure::BeforeAnswer(s) | Failure::After(s) => s,
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, Failure> {
    let empty = buf.is_empty();
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(8192);
    }
    stream.read_buf(buf).await.map_err(|e| {
        if empty {
            Failure::BeforeAnswer(format!("receive: {e}"))
        } else {
            Failure::After(format!("receive: {e}"))
        }
    })
}

/// Decode a chunked body that starts at `buf[start..]`, reading more as needed.
async fn dechunk(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    let mut pos = start;
    loop {
        let line_end = loop {
            if let Some(i) = buf[pos..].windows(2).position(|w| w == b"\r\n") {
                break pos + i;
            }
            if read_more(stream, buf).await? == 0 {
                return Err(Failure::After("the chunked body ended early".into()));
            }
        };
        let size_text = std::str::from_utf8(&buf[pos..line_end]).unwrap_or_default();
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .ok()
            .filter(|n| body.len() + n <= MAX_BODY_BYTES)
            .ok_or_else(|| Failure::After(format!("bad chunk size {size_text:?}")))?;
        let data = line_end + 2;
        // The chunk and its CRLF (after the last chunk: the CRLF that ends the trailers, which
        // the benchmark's servers never send).
        while buf.len() < data + size + 2 {
            if read_more(stream, buf).await? == 0 {
                return Err(Failure::After("the chunked body ended early".into()));
            }
        }
        if &buf[data + size..data + size + 2] != b"\r\n" {
            return Err(Failure::After("a chunk does not end in CRLF".into()));
        }
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&buf[data..data + size]);
        pos = data + size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request on a connection with the next canned response, then
    /// closes the connection after `per_connection` of them.
    async fn canned(answers: Vec<&'static str>, per_connection: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                for _ in 0..per_connection {
                    let mut req = Vec::new();
                    // Read one request head (the tests' requests fit in one read, and POST
                    // bodies here are tiny and arrive with the head).
                    let mut chunk = [0u8; 4096];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        req.extend_from_slice(&chunk[..n]);
                    }
                    let Some(a) = answers.next() else { return };
                    s.write_all(a.as_bytes()).await.unwrap();
                }
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn reads_length_chunked_and_location_and_reconnects_after_a_close() {
        let base = canned(
            vec![
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                "HTTP/1.1 302 Found\r\nLocation: http://x/cb?code=abc\r\ncontent-length: 0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            ],
            2,
        )
        .await;
        let mut c = Conn::new(&base).unwrap();
        let r = c.get("/a").await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = c
            .post("/b", &[("Content-Type", "text/plain")], b"x")
            .await
            .unwrap();
        assert_eq!(r.status, 302);
        assert_eq!(r.location.as_deref(), Some("http://x/cb?code=abc"));
        // The server closed the first connection after two answers: the third request is sent
        // again on a new one.
        let r = c.get("/c").await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
    }

    #[tokio::test]
    async fn a_truncated_body_is_an_error() {
        let base = canned(
            vec!["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],
            1,
        )
        .await;
        let mut c = Conn::new(&base).unwrap();
        let e = c.get("/").await.unwrap_err();
        assert!(e.contains("ended early"), "{e}");
    }

    #[tokio::test]
    async fn framing_follows_rfc_9112() {
        let base = canned(
            vec![
                // An interim answer, then one without a body.
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                // Transfer-Encoding wins over Content-Length.
                "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
                // `close` among other connection options.
                "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\nx",
            ],
            3,
        )
        .await;
        let mut c = Conn::new(&base).unwrap();
        let r = c.get("/").await.unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        let r = c.get("/").await.unwrap();
        assert_eq!(r.body, b"ab");
        let r = c.get("/").await.unwrap();
        assert_eq!(r.body, b"x");
        assert!(c.stream.is_none(), "closed as the server asked");
    }

    #[tokio::test]
    async fn absurd_sizes_and_broken_chunks_are_errors_not_panics() {
        for answer in [
            "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
        ] {
            let base = canned(vec![answer], 1).await;
            let mut c = Conn::new(&base).unwrap();
            assert!(c.get("/").await.is_err(), "{answer:?}");
            assert!(c.stream.is_none(), "a failed connection is not reused");
        }
    }

    #[test]
    fn only_plain_http_is_accepted() {
        assert!(Conn::new("https://127.0.0.1:1").is_err());
        assert!(Conn::new("http://127.0.0.1:1").is_ok());
    }
}
