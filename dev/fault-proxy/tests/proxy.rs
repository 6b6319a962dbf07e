//! The proxy between a raw client and a raw upstream: what is forwarded, what comes back, and when
//! nothing does.

mod common;

use common::{RawUpstream, Reply, UPSTREAM_OK, exchange, exchange_on, signed_request};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use vigil_fault_proxy::{FaultKind, FaultPlan, FaultProxy, FaultRates};

const PUT_ITEM: &str = "DynamoDB_20120810.PutItem";

fn dynamodb(kind: FaultKind) -> FaultPlan {
    FaultPlan::none().service("dynamodb", FaultRates::always(kind))
}

fn put_item() -> Vec<u8> {
    signed_request(
        "dynamodb",
        PUT_ITEM,
        r#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#,
    )
}

#[tokio::test]
async fn without_faults_requests_and_responses_pass_byte_for_byte() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let proxy = FaultProxy::start(&upstream.endpoint(), FaultPlan::none()).unwrap();
    // Mixed header case, a query string, a non-ASCII body, and two requests on one connection.
    let body = "{\"pk\":{\"S\":\"été\"}}";
    let first = format!(
        "POST /some/path?x=1&y=%2F HTTP/1.1\r\n\
Host: 127.0.0.1:1234\r\n\
X-Amz-Target: DynamoDB_20120810.PutItem\r\n\
content-type: application/x-amz-json-1.0\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=ab\r\n\
X-Amz-Date: 20261129T000000Z\r\n\
x-amz-user-agent: aws-sdk-rust/1.3 os/linux\r\n\
Content-Length: {}\r\n\
\r\n\
{body}",
        body.len()
    )
    .into_bytes();
    let second = put_item();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(
        exchange_on(&mut stream, &first).await,
        Reply::Response(UPSTREAM_OK.to_vec())
    );
    assert_eq!(
        exchange_on(&mut stream, &second).await,
        Reply::Response(UPSTREAM_OK.to_vec())
    );
    assert_eq!(*upstream.received.lock().unwrap(), vec![first, second]);

    let stats = proxy.stats();
    assert_eq!(
        (stats.requests("dynamodb"), stats.forwarded("dynamodb")),
        (2, 2)
    );
    assert_eq!(stats.total_injected(), 0);
    assert_eq!(stats.service("dynamodb").unwrap().operations["PutItem"], 2);
}

#[tokio::test]
async fn drop_before_apply_closes_without_a_status_line_and_forwards_nothing() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let proxy =
        FaultProxy::start(&upstream.endpoint(), dynamodb(FaultKind::DropBeforeApply)).unwrap();
    assert_eq!(exchange(proxy.addr(), &put_item()).await, Reply::Closed);
    assert_eq!(upstream.count(), 0);
    let stats = proxy.stats();
    assert_eq!(stats.injected("dynamodb", FaultKind::DropBeforeApply), 1);
    assert_eq!(stats.forwarded("dynamodb"), 0);
}

#[tokio::test]
async fn drop_after_apply_forwards_then_closes_without_a_status_line() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let proxy =
        FaultProxy::start(&upstream.endpoint(), dynamodb(FaultKind::DropAfterApply)).unwrap();
    assert_eq!(exchange(proxy.addr(), &put_item()).await, Reply::Closed);
    assert_eq!(*upstream.received.lock().unwrap(), vec![put_item()]);
    let stats = proxy.stats();
    assert_eq!(stats.injected("dynamodb", FaultKind::DropAfterApply), 1);
    assert_eq!(stats.forwarded("dynamodb"), 1);
}

#[tokio::test]
async fn server_error_after_apply_forwards_and_answers_500() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let proxy = FaultProxy::start(
        &upstream.endpoint(),
        dynamodb(FaultKind::ServerErrorAfterApply),
    )
    .unwrap();
    let reply = exchange(proxy.addr(), &put_item()).await;
    assert_eq!(reply.status(), Some(500), "{}", reply.text());
    assert!(
        reply.text().contains("#InternalServerError"),
        "{}",
        reply.text()
    );
    let text = reply.text().to_ascii_lowercase();
    assert!(
        text.contains("\r\nx-amzn-requestid: vigil-fault-"),
        "{text}"
    );
    assert!(
        text.contains("\r\nx-vigil-fault: servererrorafterapply\r\n"),
        "{text}"
    );
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn server_errors_and_throttles_are_answered_without_forwarding() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let plan =
        dynamodb(FaultKind::ServerError).service("ecs", FaultRates::always(FaultKind::Throttle));
    let proxy = FaultProxy::start(&upstream.endpoint(), plan).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(exchange(proxy.addr(), &put_item()).await.status());
    }
    assert!(
        statuses.iter().all(|s| matches!(s, Some(500 | 503))),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&Some(500)) && statuses.contains(&Some(503)),
        "{statuses:?}"
    );

    let list_tasks = signed_request("ecs", "AmazonEC2ContainerServiceV20141113.ListTasks", "{}");
    let reply = exchange(proxy.addr(), &list_tasks).await;
    assert_eq!(reply.status(), Some(400));
    assert!(
        reply
            .text()
            .contains(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
    );
    assert_eq!(upstream.count(), 0);
    assert_eq!(proxy.stats().injected("ecs", FaultKind::Throttle), 1);
}

#[tokio::test]
async fn latency_delays_its_request_by_at_least_the_drawn_duration() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let slow = FaultRates::always(FaultKind::Latency)
        .with_latency(Duration::from_millis(150), Duration::from_millis(150));
    let proxy = FaultProxy::start(
        &upstream.endpoint(),
        FaultPlan::none().service("dynamodb", slow),
    )
    .unwrap();
    let started = Instant::now();
    let reply = exchange(proxy.addr(), &put_item()).await;
    assert_eq!(reply, Reply::Response(UPSTREAM_OK.to_vec()));
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn latency_on_one_connection_does_not_hold_up_another() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let stuck = FaultRates::always(FaultKind::Latency)
        .with_latency(Duration::from_secs(600), Duration::from_secs(600));
    let proxy = FaultProxy::start(
        &upstream.endpoint(),
        FaultPlan::none().service("ecs", stuck),
    )
    .unwrap();
    let addr = proxy.addr();
    let slow = tokio::spawn(async move {
        let list_tasks =
            signed_request("ecs", "AmazonEC2ContainerServiceV20141113.ListTasks", "{}");
        exchange(addr, &list_tasks).await
    });
    // Wait (bounded) until the slow request is inside the proxy, so the fast one comes after it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.stats().requests("ecs") == 0 {
        assert!(
            Instant::now() < deadline,
            "the slow request never reached the proxy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Bounded, so a proxy that serialized requests fails here instead of hanging for 600 s.
    let fast = tokio::time::timeout(Duration::from_secs(30), exchange(addr, &put_item())).await;
    assert_eq!(fast.ok(), Some(Reply::Response(UPSTREAM_OK.to_vec())));
    assert!(!slow.is_finished(), "the 600 s request finished early");
    assert_eq!(upstream.count(), 1);
    slow.abort();
    proxy.shutdown().await;
}

#[tokio::test]
async fn stats_account_for_every_request_at_the_planned_rate() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let rates = FaultRates::uniform(0.2).with_latency(Duration::ZERO, Duration::from_millis(1));
    let proxy = FaultProxy::start(&upstream.endpoint(), FaultPlan::new(rates, 2026)).unwrap();
    let mut closed = 0;
    for _ in 0..500 {
        if exchange(proxy.addr(), &put_item()).await == Reply::Closed {
            closed += 1;
        }
    }
    let stats = proxy.stats();
    let s = stats.service("dynamodb").unwrap();
    println!("{}", serde_json::to_string(&stats).unwrap());
    assert_eq!(s.requests, 500);
    assert!((60..=140).contains(&s.total_injected()), "{s:?}");
    for kind in FaultKind::ALL {
        assert!(s.injected_of(kind) > 0, "{kind:?} never injected: {s:?}");
    }
    let not_forwarded = s.injected_of(FaultKind::ServerError)
        + s.injected_of(FaultKind::Throttle)
        + s.injected_of(FaultKind::DropBeforeApply);
    assert_eq!(s.forwarded, 500 - not_forwarded);
    assert_eq!(s.forwarded as usize, upstream.count());
    assert_eq!(
        closed,
        s.injected_of(FaultKind::DropBeforeApply) + s.injected_of(FaultKind::DropAfterApply)
    );
}

#[tokio::test]
async fn the_same_seed_replays_the_same_faults() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let plan = FaultPlan::new(
        FaultRates::none()
            .with(FaultKind::ServerError, 0.2)
            .with(FaultKind::Throttle, 0.2)
            .with(FaultKind::DropBeforeApply, 0.2),
        77,
    );
    let proxy = FaultProxy::start(&upstream.endpoint(), plan.clone()).unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        proxy.set_plan(plan.clone());
        let mut run = Vec::new();
        for _ in 0..60 {
            run.push(exchange(proxy.addr(), &put_item()).await.status());
        }
        runs.push(run);
    }
    assert_eq!(runs[0], runs[1]);
    for outcome in [Some(200), Some(400), None] {
        assert!(
            runs[0].contains(&outcome),
            "{outcome:?} missing from {:?}",
            runs[0]
        );
    }
    proxy.set_plan(plan.with_seed(78));
    let mut other = Vec::new();
    for _ in 0..60 {
        other.push(exchange(proxy.addr(), &put_item()).await.status());
    }
    assert_ne!(runs[0], other);
}

#[tokio::test]
async fn set_plan_and_reset_stats_take_effect_at_once() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let down = FaultPlan::none().service("events", FaultRates::always(FaultKind::ServerError));
    let proxy = FaultProxy::start(&upstream.endpoint(), down).unwrap();
    let put_events = signed_request("events", "AWSEvents.PutEvents", r#"{"Entries":[]}"#);
    assert!(matches!(
        exchange(proxy.addr(), &put_events).await.status(),
        Some(500 | 503)
    ));
    assert_eq!(
        proxy
            .plan()
            .rates_for("events")
            .rate(FaultKind::ServerError),
        1.0
    );

    proxy.set_plan(FaultPlan::none());
    assert_eq!(
        exchange(proxy.addr(), &put_events).await.status(),
        Some(200)
    );
    assert_eq!(proxy.stats().requests("events"), 2);
    proxy.reset_stats();
    assert_eq!(proxy.stats().total_requests(), 0);
}

#[tokio::test]
async fn malformed_requests_get_400_or_a_close_and_the_proxy_keeps_serving() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let proxy = FaultProxy::start(&upstream.endpoint(), FaultPlan::uniform(0.5, 1)).unwrap();
    let garbage: [&[u8]; 5] = [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
        b"POST / HTTP/1.1\r\nAuthorization: \xff\xfe Credential=a/b/c/\xff/aws4_request\r\nX-Amz-Target: \xc3\r\nContent-Length: 0\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
    ];
    for request in garbage {
        let reply = exchange(proxy.addr(), request).await;
        // Invalid UTF-8 in header values is legal HTTP: it may be forwarded (200) or faulted.
        assert!(
            matches!(reply.status(), Some(200 | 400 | 500 | 503)) || reply == Reply::Closed,
            "{request:?}: {}",
            reply.text()
        );
        if request.starts_with(b"NOT") || request.starts_with(b"\x00") {
            assert!(
                matches!(reply.status(), Some(400) | None),
                "{}",
                reply.text()
            );
        }
    }
    proxy.set_plan(FaultPlan::none());
    assert_eq!(
        exchange(proxy.addr(), &put_item()).await,
        Reply::Response(UPSTREAM_OK.to_vec())
    );
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let proxy = FaultProxy::start(&upstream.endpoint(), FaultPlan::none()).unwrap();
    let addr = proxy.addr();
    assert_eq!(
        proxy.endpoint(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    assert_eq!(exchange(addr, &put_item()).await.status(), Some(200));
    proxy.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
