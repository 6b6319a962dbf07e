//! The server: accepts the SDK's HTTP/1.1 connections on loopback, decides each request's fault,
//! and forwards over one upstream connection per downstream connection.

use crate::classify::{Target, classify};
use crate::plan::{Fault, FaultKind, FaultPlan, FaultSampler};
use crate::response;
use crate::stats::FaultStats;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Marks an injected response (its value is the [`FaultKind`]), for people reading a capture; the
/// SDK ignores it. A relayed response (no fault, or [`FaultKind::Latency`]) never has it.
pub const FAULT_HEADER: &str = "x-vigil-fault";

/// SDK request bodies are small; this only bounds what a broken client can make the proxy buffer.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A running proxy; stopped by [`FaultProxy::shutdown`] or when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    sampler: Mutex<FaultSampler>,
    stats: Mutex<FaultStats>,
    next_request_id: AtomicU64,
}

impl FaultProxy {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime, forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`; `localhost` is accepted). A non-loopback or non-`http` upstream is
    /// an `InvalidInput` error, and so is calling this outside a tokio runtime.
    pub fn start(upstream: &str, plan: FaultPlan) -> io::Result<FaultProxy> {
        let upstream = parse_upstream(upstream)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "FaultProxy::start must be called inside a tokio runtime",
            )
        })?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            upstream,
            sampler: Mutex::new(plan.sampler()),
            stats: Mutex::default(),
            next_request_id: AtomicU64::new(1),
        });
        let task = runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(FaultProxy {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the plan for the requests that follow (e.g. no faults for a final drain); the
    /// random sequence restarts from the new plan's seed.
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.shared.sampler) = plan.sampler();
    }

    pub fn plan(&self) -> FaultPlan {
        lock(&self.shared.sampler).plan().clone()
    }

    pub fn stats(&self) -> FaultStats {
        lock(&self.shared.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = FaultStats::default();
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A poisoned lock only means another request panicked mid-update of plain counters or an RNG;
/// carrying on beats failing every later request.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn parse_upstream(upstream: &str) -> io::Result<SocketAddr> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("upstream {upstream:?}: {why}"),
        )
    };
    let trimmed = upstream.trim();
    let authority = match trimmed.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some(_) => return Err(invalid("only plain http:// is supported")),
        None => trimmed,
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.contains(['/', '@', '?', '#']) {
        return Err(invalid("expected http://HOST:PORT and nothing more"));
    }
    let addr = match authority.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => {
            let port = port.parse().map_err(|_| invalid("bad port"))?;
            SocketAddr::from((Ipv4Addr::LOCALHOST, port))
        }
        _ => authority
            .parse::<SocketAddr>()
            .map_err(|_| invalid("expected a loopback IP address and a port"))?,
    };
    if !addr.ip().is_loopback() {
        return Err(invalid(
            "not a loopback address; the proxy only talks to loopback",
        ));
    }
    if addr.port() == 0 {
        return Err(invalid("port 0"));
    }
    Ok(addr)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owning the connection tasks here means aborting this task (shutdown, drop) ends them all.
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                while connections.try_join_next().is_some() {}
                connections.spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            // E.g. out of file descriptors: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let upstream = Arc::new(UpstreamConnection::default());
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        let upstream = Arc::clone(&upstream);
        async move { shared.handle(&upstream, request).await }
    });
    // Header case preserved and no added `date`, so relayed responses are unchanged. A service
    // error makes hyper close the connection without writing anything: that is how drops happen.
    let _ = http1::Builder::new()
        .preserve_header_case(true)
        .auto_date_header(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The service's error: hyper closes the connection without a response.
#[derive(Debug)]
struct DroppedConnection;

impl fmt::Display for DroppedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedConnection {}

type Reply = Result<Response<Full<Bytes>>, DroppedConnection>;

impl Shared {
    async fn handle(&self, upstream: &UpstreamConnection, request: Request<Incoming>) -> Reply {
        let target = classify(request.method(), request.uri(), request.headers());
        let request_id = format!(
            "vigil-fault-{}",
            self.next_request_id.fetch_add(1, Ordering::Relaxed)
        );
        let (parts, body) = request.into_parts();
        // Buffered whole before anything else, so a forwarded request is complete and a drop
        // closes a connection whose request was fully read (a clean close, not a reset).
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Ok(response::bad_request(
                    "could not read the request body",
                    &request_id,
                ));
            }
        };
        let request = Request::from_parts(parts, Full::new(body));
        let Some(fault) = self.decide(&target) else {
            return Ok(self.relay(upstream, &target, request, &request_id).await);
        };
        let service = target.service.as_str();
        let mut reply = match fault.kind {
            FaultKind::ServerError => Ok(response::server_error(
                service,
                fault.alternate,
                &request_id,
            )),
            FaultKind::Throttle => Ok(response::throttle(service, fault.alternate, &request_id)),
            FaultKind::DropBeforeApply => Err(DroppedConnection),
            FaultKind::Latency => {
                tokio::time::sleep(fault.delay).await;
                Ok(self.relay(upstream, &target, request, &request_id).await)
            }
            FaultKind::ServerErrorAfterApply => {
                let _ = self.forward(upstream, &target, request).await;
                Ok(response::server_error(service, false, &request_id))
            }
            FaultKind::DropAfterApply => {
                let _ = self.forward(upstream, &target, request).await;
                Err(DroppedConnection)
            }
        };
        // Latency relays the real response, which stays unchanged.
        if let (Ok(response), false) = (&mut reply, fault.kind == FaultKind::Latency) {
            let label = HeaderValue::from_static(fault.kind.as_str());
            response.headers_mut().insert(FAULT_HEADER, label);
        }
        reply
    }

    fn decide(&self, target: &Target) -> Option<Fault> {
        let fault = lock(&self.sampler).draw(&target.service);
        lock(&self.stats).record_request(&target.service, &target.operation, fault.map(|f| f.kind));
        fault
    }

    async fn relay(
        &self,
        upstream: &UpstreamConnection,
        target: &Target,
        request: Request<Full<Bytes>>,
        request_id: &str,
    ) -> Response<Full<Bytes>> {
        self.forward(upstream, target, request)
            .await
            .unwrap_or_else(|reason| response::bad_gateway(&reason, request_id))
    }

    async fn forward(
        &self,
        upstream: &UpstreamConnection,
        target: &Target,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Full<Bytes>>, String> {
        let result = upstream.send(self.upstream, request).await;
        let mut stats = lock(&self.stats);
        match result {
            Ok(_) => stats.record_forwarded(&target.service),
            Err(_) => stats.record_upstream_error(&target.service),
        }
        result
    }
}

/// The upstream connection of one downstream connection.
#[derive(Default)]
struct UpstreamConnection {
    sender: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl UpstreamConnection {
    /// Sends the request as it came (method, path, headers with their case, body) and buffers the
    /// whole response, so a forwarded request has been answered, i.e. applied, when this returns.
    async fn send(
        &self,
        addr: SocketAddr,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Full<Bytes>>, String> {
        // hyper serves one request at a time per connection, so taking the sender out and putting
        // it back never races; were it ever to, the other request would just open its own.
        let mut cached = lock(&self.sender).take();
        for _ in 0..2 {
            let mut sender = match cached.take() {
                Some(mut sender) => match sender.ready().await {
                    Ok(()) => sender,
                    Err(_) => connect(addr).await?,
                },
                None => connect(addr).await?,
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map_err(|e| format!("reading the response: {e}"))?
                        .to_bytes();
                    *lock(&self.sender) = Some(sender);
                    return Ok(Response::from_parts(parts, Full::new(body)));
                }
                Err(mut error) => match error.take_message() {
                    // Not written yet (the kept connection had closed): safe to send on a new one.
                    Some(unsent) => request = unsent,
                    None => return Err(format!("sending the request: {}", error.into_error())),
                },
            }
        }
        Err("no upstream connection would take the request".to_owned())
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with {addr}: {e}"))?;
    // Ends when the sender is dropped (with its downstream connection) or the upstream closes.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_plain_http_loopback_upstreams_are_accepted() {
        for ok in [
            "http://127.0.0.1:4566",
            "http://127.0.0.1:4566/",
            "127.0.0.1:4566",
            "HTTP://localhost:4566",
            "http://[::1]:4566",
            "http://127.0.0.2:80",
        ] {
            assert!(parse_upstream(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            parse_upstream("http://localhost:9").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        for bad in [
            "http://10.0.0.1:80",
            "http://192.168.1.1:4566",
            "http://example.com:80",
            "https://127.0.0.1:443",
            "http://127.0.0.1",
            "http://127.0.0.1:0",
            "http://127.0.0.1:4566/path",
            "http://user@127.0.0.1:4566",
            "",
            "::::",
        ] {
            let err = parse_upstream(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn start_outside_a_runtime_is_an_error_not_a_panic() {
        let err = FaultProxy::start("http://127.0.0.1:9", FaultPlan::none()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = FaultProxy::start("http://10.1.2.3:80", FaultPlan::none()).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_502_and_counted() {
        // A port nobody listens on: bind one, note it, free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let proxy =
            FaultProxy::start(&format!("http://127.0.0.1:{port}"), FaultPlan::none()).unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 502"), "{reply}");
        let stats = proxy.stats();
        assert_eq!(
            (stats.requests("unknown"), stats.forwarded("unknown")),
            (1, 0)
        );
        assert_eq!(stats.service("unknown").unwrap().upstream_errors, 1);
        proxy.shutdown().await;
    }
}
