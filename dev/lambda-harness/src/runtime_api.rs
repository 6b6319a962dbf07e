//! A minimal Lambda Runtime API (2018-06-01) on loopback: the endpoints a function's runtime client
//! calls (`invocation/next`, `invocation/{id}/response`, `invocation/{id}/error`, `init/error`), served
//! with hyper. One invocation is outstanding at a time, as on one Lambda execution environment.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

const PREFIX: &str = "/2018-06-01/runtime";

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    Response(Vec<u8>),
    Error(Vec<u8>),
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>)>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    init_error: Option<String>,
    first_next: Option<Instant>,
    next_id: u64,
}

/// The server: invocations go in with [`RuntimeApi::invoke`]; the function takes them with `next`.
#[derive(Clone)]
pub struct RuntimeApi {
    state: Arc<Mutex<State>>,
    ready: Arc<Notify>,
    pub addr: SocketAddr,
    function_arn: String,
}

impl RuntimeApi {
    pub async fn start(function_arn: String) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let api = RuntimeApi {
            state: Arc::default(),
            ready: Arc::new(Notify::new()),
            addr: listener.local_addr()?,
            function_arn,
        };
        let server = api.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.route(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(api)
    }

    /// Queues one invocation and waits for its outcome.
    pub async fn invoke(&self, payload: Vec<u8>) -> Outcome {
        let (tx, rx) = oneshot::channel();
        {
            let mut s = self.state.lock().expect("state");
            s.next_id += 1;
            let id = format!("req-{:08}", s.next_id);
            s.waiting.insert(id.clone(), tx);
            s.queue.push_back((id, payload));
        }
        self.ready.notify_one();
        rx.await
            .unwrap_or_else(|_| Outcome::Error(b"the runtime API dropped the invocation".to_vec()))
    }

    /// When the function first asked for an invocation (its init is done by then).
    pub fn first_next(&self) -> Option<Instant> {
        self.state.lock().expect("state").first_next
    }

    pub fn init_error(&self) -> Option<String> {
        self.state.lock().expect("state").init_error.clone()
    }

    async fn route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return status(StatusCode::NOT_FOUND);
        };
        match (req.method(), rest) {
            (&Method::GET, "/invocation/next") => self.next().await,
            (&Method::POST, "/init/error") => {
                let body = body_bytes(req).await;
                self.state.lock().expect("state").init_error =
                    Some(String::from_utf8_lossy(&body).into_owned());
                status(StatusCode::ACCEPTED)
            }
            (&Method::POST, r) if r.starts_with("/invocation/") => {
                let tail = &r["/invocation/".len()..];
                let (id, kind) = match tail.rsplit_once('/') {
                    Some((id, kind @ ("response" | "error"))) => (id.to_owned(), kind),
                    _ => return status(StatusCode::NOT_FOUND),
                };
                let body = body_bytes(req).await;
                let waiter = self.state.lock().expect("state").waiting.remove(&id);
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(if kind == "response" {
                            Outcome::Response(body)
                        } else {
                            Outcome::Error(body)
                        });
                        status(StatusCode::ACCEPTED)
                    }
                    None => status(StatusCode::BAD_REQUEST),
                }
            }
            _ => status(StatusCode::NOT_FOUND),
        }
    }

    async fn next(&self) -> Response<Full<Bytes>> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.state.lock().expect("state");
                s.first_next.get_or_insert_with(Instant::now);
                if let Some((id, payload)) = s.queue.pop_front() {
                    let deadline = SystemTime::now()
                        .checked_add(Duration::from_secs(900))
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_millis());
                    return Response::builder()
                        .status(StatusCode::OK)
                        .header("content-type", "application/json")
                        .header("Lambda-Runtime-Aws-Request-Id", &id)
                        .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                        .header("Lambda-Runtime-Invoked-Function-Arn", &self.function_arn)
                        .header(
                            "Lambda-Runtime-Trace-Id",
                            format!("Root=1-00000000-{id:0>24};Parent=0000000000000000;Sampled=0"),
                        )
                        .body(Full::new(Bytes::from(payload)))
                        .expect("a valid response");
                }
            }
            notified.await;
        }
    }
}

async fn body_bytes(req: Request<Incoming>) -> Vec<u8> {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default()
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}
