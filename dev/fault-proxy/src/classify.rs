//! Which AWS service and operation a request is for, from what the SDK puts on the wire: the SigV4
//! credential scope names the service for every protocol; `X-Amz-Target` covers unsigned requests
//! of the JSON protocols.

use hyper::{HeaderMap, Method, Uri};

/// The service of a request nothing identifies.
pub const UNKNOWN_SERVICE: &str = "unknown";

/// The service (SigV4 signing name, lowercase) and operation a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: String,
    /// `X-Amz-Target`'s operation (`PutItem`), else `METHOD /path` (REST protocols).
    pub operation: String,
}

pub fn classify(method: &Method, uri: &Uri, headers: &HeaderMap) -> Target {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let amz_target = header("x-amz-target");
    let service = header("authorization")
        .and_then(service_from_authorization)
        .or_else(|| {
            amz_target
                .and_then(service_from_amz_target)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());
    let operation = match amz_target.and_then(|t| t.split_once('.')) {
        Some((_, op)) if !op.is_empty() => op.to_owned(),
        _ => format!("{method} {}", uri.path()),
    };
    Target { service, operation }
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/dynamodb/aws4_request, ...` → `dynamodb`.
fn service_from_authorization(value: &str) -> Option<String> {
    let (_, rest) = value.split_once("Credential=")?;
    let credential = rest.split([',', ' ']).next()?;
    let scope: Vec<&str> = credential.split('/').collect();
    // AKID / date / region / service / aws4_request; taken from the end, as nothing else is fixed.
    let service = match scope.as_slice() {
        [.., service, "aws4_request"] if scope.len() >= 5 => *service,
        _ => return None,
    };
    let plausible = !service.is_empty()
        && service.len() <= 64
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plausible.then(|| service.to_ascii_lowercase())
}

fn service_from_amz_target(target: &str) -> Option<&'static str> {
    const PREFIXES: [(&str, &str); 4] = [
        ("DynamoDB_20120810.", "dynamodb"),
        ("AmazonEC2ContainerServiceV20141113.", "ecs"),
        ("AWSEvents.", "events"),
        ("AmazonSQS.", "sqs"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| target.starts_with(prefix))
        .map(|(_, service)| *service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn target(method: &str, uri: &str, headers: &[(&'static str, &[u8])]) -> Target {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        classify(&method.parse().unwrap(), &uri.parse().unwrap(), &map)
    }

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abcdef"
        )
    }

    #[test]
    fn the_credential_scope_names_the_service() {
        for service in ["dynamodb", "ecs", "securityhub", "events", "sqs"] {
            let a = auth(service);
            let t = target("POST", "/", &[("authorization", a.as_bytes())]);
            assert_eq!(t.service, service);
        }
        // The scope wins over a contradicting target header.
        let a = auth("events");
        let t = target(
            "POST",
            "/",
            &[
                ("authorization", a.as_bytes()),
                ("x-amz-target", b"DynamoDB_20120810.PutItem"),
            ],
        );
        assert_eq!(t.service, "events");
        assert_eq!(t.operation, "PutItem");
    }

    #[test]
    fn the_target_prefix_is_the_fallback() {
        for (target_header, service, op) in [
            ("DynamoDB_20120810.GetItem", "dynamodb", "GetItem"),
            (
                "AmazonEC2ContainerServiceV20141113.ListTasks",
                "ecs",
                "ListTasks",
            ),
            ("AWSEvents.PutEvents", "events", "PutEvents"),
            ("AmazonSQS.SendMessage", "sqs", "SendMessage"),
        ] {
            let t = target("POST", "/", &[("x-amz-target", target_header.as_bytes())]);
            assert_eq!((t.service.as_str(), t.operation.as_str()), (service, op));
        }
    }

    #[test]
    fn rest_requests_are_named_by_method_and_path() {
        let a = auth("securityhub");
        let t = target(
            "POST",
            "/findings/import?x=1",
            &[("authorization", a.as_bytes())],
        );
        assert_eq!(t.service, "securityhub");
        assert_eq!(t.operation, "POST /findings/import");
    }

    #[test]
    fn anything_else_is_unknown_without_panicking() {
        for headers in [
            vec![],
            vec![("authorization", b"Basic dXNlcjpwYXNz".as_slice())],
            vec![("authorization", b"AWS4-HMAC-SHA256 Credential=".as_slice())],
            vec![(
                "authorization",
                b"Credential=a/b/c/d e/aws4_request".as_slice(),
            )],
            vec![(
                "authorization",
                b"Credential=a/b/c/../aws4_request".as_slice(),
            )],
            vec![("authorization", b"Credential=/aws4_request".as_slice())],
            vec![(
                "authorization",
                b"\xff\xfe Credential=a/b/c/dynamodb/aws4_request".as_slice(),
            )],
            vec![("x-amz-target", b"Unheard.Of".as_slice())],
        ] {
            let t = target("GET", "/", &headers);
            assert_eq!(t.service, UNKNOWN_SERVICE, "{headers:?}");
        }
        assert_eq!(
            target("GET", "/", &[("x-amz-target", b"NoDot")]).operation,
            "GET /"
        );
    }
}
