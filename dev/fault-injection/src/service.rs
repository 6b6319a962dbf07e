//! The services a client can be for, and the error responses injected in each one's own protocol, so the SDK parses them as that service's
//! errors and its retry classifier sees exactly what AWS would send.
//!
//! Where the SDK finds the code: awsJson1_0/1_1 read `__type` (namespace before `#` stripped) or
//! `x-amzn-ErrorType`; restJson1 (Security Hub) reads the `x-amzn-ErrorType` header, its `Code` body
//! member is only what the service also sends; SQS is awsQuery-compatible and takes the code from
//! `x-amzn-query-error` when present.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde::Serialize;

/// The AWS service a client is for; serializes as its SigV4 signing name (`"dynamodb"`, `"events"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum Service {
    /// Amazon DynamoDB (awsJson1_0).
    DynamoDb,
    /// Amazon ECS (awsJson1_1).
    Ecs,
    /// Amazon EventBridge (awsJson1_1), signing name `events`.
    #[serde(rename = "events")]
    #[strum(serialize = "events")]
    EventBridge,
    /// AWS Security Hub (restJson1).
    SecurityHub,
    /// Amazon SQS (awsJson1_0, awsQuery-compatible).
    Sqs,
}

impl Service {
    /// Every service.
    pub const ALL: &'static [Service] = <Service as strum::VariantArray>::VARIANTS;

    /// The SigV4 signing name, as in [`FaultStats`](crate::FaultStats)' JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsJson1_0 with the model namespace in `__type`; `query` when awsQuery-compatible (SQS).
    Json10 {
        namespace: &'static str,
        query: bool,
    },
    Json11,
    /// Also names the code in `x-amzn-ErrorType`, where the SDK reads it.
    RestJson1,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service's protocol and its error codes and messages.
struct Wire {
    protocol: Protocol,
    throttle: (&'static str, &'static str),
    /// The other throttling error, chosen by [`crate::plan::Fault::alternate`].
    throttle_alternate: (&'static str, &'static str),
    internal: (&'static str, &'static str),
}

const RATE_EXCEEDED: &str = "Rate exceeded";
const THROTTLING: (&str, &str) = ("ThrottlingException", RATE_EXCEEDED);
const UNAVAILABLE: (&str, &str) = (
    "ServiceUnavailable",
    "Service is unavailable. Please try again later.",
);

fn wire(service: Service) -> Wire {
    match service {
        Service::DynamoDb => Wire {
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
        },
        Service::Sqs => Wire {
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
        },
        // ECS's model names its 500 `ServerException`.
        Service::Ecs => Wire {
            protocol: Protocol::Json11,
            throttle: THROTTLING,
            throttle_alternate: THROTTLING,
            internal: (
                "ServerException",
                "Service Unavailable. Please try again later.",
            ),
        },
        // EventBridge's model names its 500 `InternalException` (modeled on PutEvents), so the
        // SDK parses it as that variant rather than as an unhandled `InternalFailure`.
        Service::EventBridge => Wire {
            protocol: Protocol::Json11,
            throttle: THROTTLING,
            throttle_alternate: THROTTLING,
            internal: ("InternalException", "Internal service error"),
        },
        Service::SecurityHub => Wire {
            protocol: Protocol::RestJson1,
            throttle: ("TooManyRequestsException", RATE_EXCEEDED),
            throttle_alternate: ("TooManyRequestsException", RATE_EXCEEDED),
            internal: ("InternalException", "Internal service error"),
        },
    }
}

/// The service's throttling error (400, or 429 for Security Hub).
pub(crate) fn throttle(service: Service, alternate: bool, request_id: &str) -> HttpResponse {
    let w = wire(service);
    let (code, message) = if alternate {
        w.throttle_alternate
    } else {
        w.throttle
    };
    let status = match w.protocol {
        Protocol::RestJson1 => 429,
        _ => 400,
    };
    error(&w, status, code, message, request_id)
}

/// The service's internal error (500), or `ServiceUnavailable` (503) when `unavailable`.
pub(crate) fn server_error(service: Service, unavailable: bool, request_id: &str) -> HttpResponse {
    let w = wire(service);
    let (status, (code, message)) = if unavailable {
        (503, UNAVAILABLE)
    } else {
        (500, w.internal)
    };
    error(&w, status, code, message, request_id)
}

/// `request_id` must be a valid header value (the injector makes it `vigil-fault-N`).
fn error(w: &Wire, status: u16, code: &str, message: &str, request_id: &str) -> HttpResponse {
    let (content_type, body) = match w.protocol {
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
    let status = StatusCode::try_from(status).expect("a constant HTTP status");
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    let headers = response.headers_mut();
    headers.insert("x-amzn-RequestId", request_id.to_owned());
    headers.insert("content-type", content_type);
    match w.protocol {
        Protocol::RestJson1 => {
            headers.insert("x-amzn-ErrorType", code.to_owned());
        }
        Protocol::Json10 { query: true, .. } => {
            let party = if status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            };
            headers.insert("x-amzn-query-error", format!("{code};{party}"));
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(response: &HttpResponse) -> (u16, serde_json::Value) {
        let body = response.body().bytes().expect("an in-memory body");
        (
            response.status().as_u16(),
            serde_json::from_slice(body).unwrap(),
        )
    }

    fn header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
        response.headers().get(name)
    }

    #[test]
    fn dynamodb_throttles_as_awsjson10_with_namespaced_type() {
        let response = throttle(Service::DynamoDb, false, "rid-1");
        let (status, body) = parts(&response);
        assert_eq!(status, 400);
        assert_eq!(
            header(&response, "content-type"),
            Some("application/x-amz-json-1.0")
        );
        assert_eq!(header(&response, "x-amzn-requestid"), Some("rid-1"));
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
        );
        let (_, body) = parts(&throttle(Service::DynamoDb, true, "rid-2"));
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#ThrottlingException"
        );
        let (status, body) = parts(&server_error(Service::DynamoDb, false, "r"));
        assert_eq!(
            (status, body["__type"].as_str()),
            (
                500,
                Some("com.amazonaws.dynamodb.v20120810#InternalServerError")
            )
        );
        let (status, body) = parts(&server_error(Service::DynamoDb, true, "r"));
        assert_eq!(
            (status, body["__type"].as_str()),
            (
                503,
                Some("com.amazonaws.dynamodb.v20120810#ServiceUnavailable")
            )
        );
    }

    #[test]
    fn ecs_and_events_use_awsjson11_and_their_modeled_500s() {
        for (service, internal) in [
            (Service::Ecs, "ServerException"),
            (Service::EventBridge, "InternalException"),
        ] {
            let response = throttle(service, false, "r");
            let (status, body) = parts(&response);
            assert_eq!(status, 400);
            assert_eq!(
                header(&response, "content-type"),
                Some("application/x-amz-json-1.1")
            );
            assert_eq!(
                body,
                serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
            );
            let (status, body) = parts(&server_error(service, false, "r"));
            assert_eq!((status, body["__type"].as_str()), (500, Some(internal)));
        }
    }

    #[test]
    fn securityhub_throttles_with_429_and_the_error_type_header() {
        let response = throttle(Service::SecurityHub, false, "r");
        let (status, body) = parts(&response);
        assert_eq!(status, 429);
        assert_eq!(
            header(&response, "x-amzn-errortype"),
            Some("TooManyRequestsException")
        );
        assert_eq!(body["Code"], "TooManyRequestsException");
        let response = server_error(Service::SecurityHub, false, "r");
        assert_eq!(
            (
                response.status().as_u16(),
                header(&response, "x-amzn-errortype")
            ),
            (500, Some("InternalException"))
        );
    }

    #[test]
    fn sqs_carries_the_query_compatible_code() {
        let response = throttle(Service::Sqs, false, "r");
        let (status, body) = parts(&response);
        assert_eq!(status, 400);
        assert_eq!(body["__type"], "com.amazonaws.sqs#RequestThrottled");
        assert_eq!(
            header(&response, "x-amzn-query-error"),
            Some("RequestThrottled;Sender")
        );
        let response = server_error(Service::Sqs, false, "r");
        assert_eq!(
            header(&response, "x-amzn-query-error"),
            Some("InternalError;Receiver")
        );
    }

    #[test]
    fn service_names_are_the_signing_names() {
        for &service in Service::ALL {
            assert_eq!(serde_json::to_value(service).unwrap(), service.as_str());
        }
    }
}
