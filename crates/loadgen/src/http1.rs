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

/// One keep-alive connection to one server, opened on first use and reopened when the server
/// closes it.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    out: Vec<u8>,
    buf: Vec<u8>,
}

/// How long one request may take before it counts as an error.
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEADERS: usize = 32;
const MAX_HEAD_BYTES: usize = 64 * 1024;

impl Conn {
    /// `base` is `http://host:port` (a name is resolved once, here).
    pub fn new(base: &str) -> Result<Self, String> {
        let url = url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!("{base}: loadgen measures over plain http:// only"));
        }
        let addr = url
            .socket_addrs(|| Some(80))
            .map_err(|e| format!("{base}: {e}"))?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{base}: no address"))?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        Ok(Self {
            addr,
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
        match tokio::time::timeout(TIMEOUT, self.exchange()).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(Failure::BeforeAnswer(_))) if reused => {
                self.stream = None;
                match tokio::time::timeout(TIMEOUT, self.exchange()).await {
                    Ok(r) => r.map_err(Failure::into_string),
                    Err(_) => self.timed_out(),
                }
            }
            Ok(Err(e)) => {
                self.stream = None;
                Err(e.into_string())
            }
            Err(_) => self.timed_out(),
        }
    }

    fn timed_out(&mut self) -> Result<Response, String> {
        self.stream = None;
        Err(format!("no answer within {} s", TIMEOUT.as_secs()))
    }

    /// Write `self.out`, read one response.
    async fn exchange(&mut self) -> Result<Response, Failure> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|e| Failure::BeforeAnswer(format!("connect {}: {e}", self.addr)))?;
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
        // The head.
        let (status, location, close, framing, head_len) = loop {
            if read_more(stream, &mut self.buf).await? == 0 {
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
                    let mut location = None;
                    let mut close = false;
                    let mut framing = Framing::UntilClose;
                    for h in resp.headers.iter() {
                        let value = std::str::from_utf8(h.value).unwrap_or_default();
                        if h.name.eq_ignore_ascii_case("location") {
                            location = Some(value.to_string());
                        } else if h.name.eq_ignore_ascii_case("content-length") {
                            framing = Framing::Length(value.trim().parse().map_err(|_| {
                                Failure::After(format!("bad Content-Length {value:?}"))
                            })?);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                            && value.to_ascii_lowercase().contains("chunked")
                        {
                            framing = Framing::Chunked;
                        } else if h.name.eq_ignore_ascii_case("connection")
                            && value.eq_ignore_ascii_case("close")
                        {
                            close = true;
                        }
                    }
                    let status = resp.code.unwrap_or(0);
                    break (status, location, close, framing, len);
                }
                Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD_BYTES => continue,
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
                while read_more(stream, &mut self.buf).await? > 0 {}
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
            .map_err(|_| Failure::After(format!("bad chunk size {size_text:?}")))?;
        let data = line_end + 2;
        // The chunk and its CRLF (after the last chunk: the CRLF that ends the trailers, which
        // the benchmark's servers never send).
        while buf.len() < data + size + 2 {
            if read_more(stream, buf).await? == 0 {
                return Err(Failure::After("the chunked body ended early".into()));
            }
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

    #[test]
    fn only_plain_http_is_accepted() {
        assert!(Conn::new("https://127.0.0.1:1").is_err());
        assert!(Conn::new("http://127.0.0.1:1").is_ok());
    }
}
