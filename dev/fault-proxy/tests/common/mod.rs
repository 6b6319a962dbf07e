//! A raw HTTP/1.1 upstream and client on loopback, so tests see the exact bytes on each side of the
//! proxy (a hyper peer would normalize them).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Records every request's bytes and answers each with the same canned response.
pub struct RawUpstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawUpstream {
    pub async fn start(response: &[u8]) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let response = response.to_vec();
        let log = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let response = response.clone();
                tokio::spawn(async move {
                    while let Some(request) = read_message(&mut stream).await {
                        log.lock().unwrap().push(request);
                        if stream.write_all(&response).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        RawUpstream {
            addr,
            received,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One message (head plus a `Content-Length` body) from the stream; `None` at EOF or on error.
pub async fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(buf.len(), head_end + length, "no pipelining in these tests");
    Some(buf)
}

/// What a raw client got back for one request on a fresh connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Response(Vec<u8>),
    /// The connection ended (EOF or reset) before a single byte of response.
    Closed,
}

impl Reply {
    pub fn status(&self) -> Option<u16> {
        match self {
            Reply::Response(bytes) => std::str::from_utf8(bytes.get(9..12)?).ok()?.parse().ok(),
            Reply::Closed => None,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Reply::Response(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Reply::Closed => String::new(),
        }
    }
}

/// Sends `request` on `stream` and reads one response, or notes that none came.
pub async fn exchange_on(stream: &mut TcpStream, request: &[u8]) -> Reply {
    stream.write_all(request).await.unwrap();
    match read_message(stream).await {
        Some(bytes) => Reply::Response(bytes),
        None => Reply::Closed,
    }
}

pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let reply = exchange_on(&mut stream, request).await;
    if reply == Reply::Closed {
        // A real close: nothing more arrives (read_message already saw EOF or a reset).
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "bytes after close: {rest:?}");
    }
    reply
}

/// A SigV4-signed-looking JSON request for `service`.
pub fn signed_request(service: &str, target: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\n\
         Host: 127.0.0.1\r\n\
         X-Amz-Target: {target}\r\n\
         Content-Type: application/x-amz-json-1.0\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0123abcd\r\n\
         X-Amz-Date: 20261129T120000Z\r\n\
         Content-Length: {}\r\n\
         \r\n\
         {body}",
        body.len()
    )
    .into_bytes()
}

/// Mixed-case names and no `Date`, so a proxy that lowercased names or added a date would show.
pub const UPSTREAM_OK: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: Server\r\n\
Content-Type: application/x-amz-json-1.0\r\n\
x-amzn-RequestId: UPSTREAM0000000000000000000000000000000000000000000\r\n\
x-amz-crc32: 2745614147\r\n\
Content-Length: 2\r\n\
\r\n\
{}";
