//! Injected error responses in each service's own protocol, so the SDK parses them as that service's
//! errors and its retry classifier sees exactly what AWS would send.
//!
//! Where the SDK finds the code: awsJson1_0/1_1 read `__type` (namespace before `#` stripped) or
//! `x-amzn-ErrorType`; restJson1 (Security Hub) reads the `x-amzn-ErrorType` header, its `Code` body
//! member is only what the service also sends; SQS is awsQuery-compatible and takes the code from
//! `x-amzn-query-error` when present.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsJson1_0 with the model namespace in `__type`; `query` when awsQuery-compatible (SQS).
    Json10 {
        namespace: &'static str,
        query: bool,
    },
    Json11,
    RestJson1,
}

struct Service {
    protocol: Protocol,
    throttle: (&'static str, &'static str),
    /// The other throttling error, chosen by [`crate::plan::Fault::alternate`].
    throttle_alternate: (&'static str, &'static str),
    internal: (&'static str, &'static str),
    /// Also name the code in `x-amzn-ErrorType` (restJson1, and the unknown-service fallback).
    type_header: bool,
}

const RATE_EXCEEDED: &str = "Rate exceeded";
const UNAVAILABLE: (&str, &str) = (
    "ServiceUnavailable",
    "Service is unavailable. Please try again later.",
);

fn service(name: &str) -> Service {
    let throttling = ("ThrottlingException", RATE_EXCEEDED);
    match name {
        "dynamodb" => Service {
            protocol: Protocol::Json10 {
                namespace: "com.amazonaws.dynamodb.v20120810#",
                query: false,
            },
            throttle: (
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. \
                 Consider increasing your provisioning level with the UpdateTable API.",
            ),
            throttle_alternate: (
                "ThrottlingException",
                "Throughput exceeds the current capacity of your table or index.",
            ),
            internal: ("InternalServerError", "Internal server error"),
            type_header: false,
        },
        "sqs" => Service {
            protocol: Protocol::Json10 {
                namespace: "com.amazonaws.sqs#",
                query: true,
            },
            throttle: ("RequestThrottled", "Request is throttled."),
            throttle_alternate: ("RequestThrottled", "Request is throttled."),
            internal: (
                "InternalError",
                "We encountered an internal error. Please try again.",
            ),
            type_header: false,
        },
        // ECS's model names its 500 `ServerException`.
        "ecs" => Service {
            protocol: Protocol::Json11,
            throttle: throttling,
            throttle_alternate: throttling,
            internal: (
                "ServerException",
                "Service Unavailable. Please try again later.",
            ),
            type_header: false,
        },
        // EventBridge's model names its 500 `InternalException` (modeled on PutEvents), so the
        // SDK parses it as that variant rather than as an unhandled `InternalFailure`.
        "events" => Service {
            protocol: Protocol::Json11,
            throttle: throttling,
            throttle_alternate: throttling,
            internal: ("InternalException", "Internal service error"),
            type_header: false,
        },
        "securityhub" => Service {
            protocol: Protocol::RestJson1,
            throttle: ("TooManyRequestsException", RATE_EXCEEDED),
            throttle_alternate: ("TooManyRequestsException", RATE_EXCEEDED),
            internal: ("InternalException", "Internal service error"),
            type_header: true,
        },
        // Unknown: JSON with the code in both the header and `__type`, which every JSON protocol reads.
        _ => Service {
            protocol: Protocol::Json11,
            throttle: throttling,
            throttle_alternate: throttling,
            internal: (
                "InternalFailure",
                "The request processing has failed because of an unknown error.",
            ),
            type_header: true,
        },
    }
}

/// The service's throttling error (400, or 429 for Security Hub).
pub fn throttle(service_name: &str, alternate: bool, request_id: &str) -> Response<Full<Bytes>> {
    let s = service(service_name);
    let (code, message) = if alternate {
        s.throttle_alternate
    } else {
        s.throttle
    };
    let status = match s.protocol {
        Protocol::RestJson1 => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    };
    error(&s, status, code, message, request_id)
}

/// The service's internal error (500), or `ServiceUnavailable` (503) when `unavailable`.
pub fn server_error(
    service_name: &str,
    unavailable: bool,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let s = service(service_name);
    let (status, (code, message)) = if unavailable {
        (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, s.internal)
    };
    error(&s, status, code, message, request_id)
}

/// What the proxy answers when it cannot reach the upstream: a real fault, not an injected one.
pub fn bad_gateway(reason: &str, request_id: &str) -> Response<Full<Bytes>> {
    plain(
        StatusCode::BAD_GATEWAY,
        &format!("vigil-fault-proxy: upstream failed: {reason}"),
        request_id,
    )
}

/// A request the proxy cannot forward (its body could not be read).
pub fn bad_request(reason: &str, request_id: &str) -> Response<Full<Bytes>> {
    plain(
        StatusCode::BAD_REQUEST,
        &format!("vigil-fault-proxy: {reason}"),
        request_id,
    )
}

fn error(
    s: &Service,
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let (content_type, body) = match s.protocol {
        Protocol::Json10 { namespace, .. } => (
            "application/x-amz-json-1.0",
            serde_json::json!({ "__type": format!("{namespace}{code}"), "message": message }),
        ),
        Protocol::Json11 => (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": message }),
        ),
        Protocol::RestJson1 => (
            "application/json",
            serde_json::json!({ "Code": code, "Message": message }),
        ),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut builder = Response::builder()
        .status(status)
        .header("x-amzn-RequestId", request_id)
        .header("content-type", content_type)
        .header("content-length", body.len());
    if s.type_header {
        builder = builder.header("x-amzn-ErrorType", code);
    }
    if let Protocol::Json10 { query: true, .. } = s.protocol {
        let party = if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        builder = builder.header("x-amzn-query-error", format!("{code};{party}"));
    }
    finish(status, builder, body)
}

fn plain(status: StatusCode, text: &str, request_id: &str) -> Response<Full<Bytes>> {
    let builder = Response::builder()
        .status(status)
        .header("x-amzn-RequestId", request_id)
        .header("content-type", "text/plain; charset=utf-8")
        .header("content-length", text.len());
    finish(status, builder, text.as_bytes().to_vec())
}

/// Headers are built from constants and sanitized values; should one still be invalid, a bare
/// response of the same status is better than a panic in the request path.
fn finish(
    status: StatusCode,
    builder: hyper::http::response::Builder,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = status;
            response
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn parts(response: Response<Full<Bytes>>) -> (u16, hyper::HeaderMap, serde_json::Value) {
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status.as_u16(),
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    fn header<'a>(headers: &'a hyper::HeaderMap, name: &str) -> Option<&'a str> {
        headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn dynamodb_throttles_as_awsjson10_with_namespaced_type() {
        let (status, headers, body) = parts(throttle("dynamodb", false, "rid-1")).await;
        assert_eq!(status, 400);
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/x-amz-json-1.0")
        );
        assert_eq!(header(&headers, "x-amzn-requestid"), Some("rid-1"));
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
        );
        let (_, _, body) = parts(throttle("dynamodb", true, "rid-2")).await;
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#ThrottlingException"
        );
        let (status, _, body) = parts(server_error("dynamodb", false, "r")).await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (
                500,
                Some("com.amazonaws.dynamodb.v20120810#InternalServerError")
            )
        );
        let (status, _, body) = parts(server_error("dynamodb", true, "r")).await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (
                503,
                Some("com.amazonaws.dynamodb.v20120810#ServiceUnavailable")
            )
        );
    }

    #[tokio::test]
    async fn ecs_and_events_use_awsjson11_and_their_modeled_500s() {
        for (service, internal) in [("ecs", "ServerException"), ("events", "InternalException")] {
            let (status, headers, body) = parts(throttle(service, false, "r")).await;
            assert_eq!(status, 400);
            assert_eq!(
                header(&headers, "content-type"),
                Some("application/x-amz-json-1.1")
            );
            assert_eq!(
                body,
                serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
            );
            let (status, _, body) = parts(server_error(service, false, "r")).await;
            assert_eq!((status, body["__type"].as_str()), (500, Some(internal)));
        }
    }

    #[tokio::test]
    async fn securityhub_throttles_with_429_and_the_error_type_header() {
        let (status, headers, body) = parts(throttle("securityhub", false, "r")).await;
        assert_eq!(status, 429);
        assert_eq!(
            header(&headers, "x-amzn-errortype"),
            Some("TooManyRequestsException")
        );
        assert_eq!(body["Code"], "TooManyRequestsException");
        let (status, headers, _) = parts(server_error("securityhub", false, "r")).await;
        assert_eq!(
            (status, header(&headers, "x-amzn-errortype")),
            (500, Some("InternalException"))
        );
    }

    #[tokio::test]
    async fn sqs_carries_the_query_compatible_code() {
        let (status, headers, body) = parts(throttle("sqs", false, "r")).await;
        assert_eq!(status, 400);
        assert_eq!(body["__type"], "com.amazonaws.sqs#RequestThrottled");
        assert_eq!(
            header(&headers, "x-amzn-query-error"),
            Some("RequestThrottled;Sender")
        );
        let (_, headers, _) = parts(server_error("sqs", false, "r")).await;
        assert_eq!(
            header(&headers, "x-amzn-query-error"),
            Some("InternalError;Receiver")
        );
    }

    #[tokio::test]
    async fn unknown_services_get_the_code_in_header_and_body() {
        let (status, headers, body) = parts(throttle("unknown", false, "r")).await;
        assert_eq!(status, 400);
        assert_eq!(
            header(&headers, "x-amzn-errortype"),
            Some("ThrottlingException")
        );
        assert_eq!(body["__type"], "ThrottlingException");
    }

    #[tokio::test]
    async fn a_hostile_request_id_cannot_break_the_response() {
        let response = throttle("ecs", false, "bad\r\nheader");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
