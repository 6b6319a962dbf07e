//! Which Security Hub failures are worth retrying at all; the backoff between attempts is the shared
//! [`RetryPolicy`].

use aws_sdk_securityhub::error::{ProvideErrorMetadata, SdkError};

pub use vigil_runtime::RetryPolicy;

/// Whether a `FailedFindings` error code (or a whole-call error code) may succeed if sent again.
/// Throttling, internal and unknown codes: yes. Input validation and access codes: no, they are
/// permanent for that finding.
pub fn is_retryable_code(code: &str) -> bool {
    const PERMANENT_PREFIXES: &[&str] = &["Invalid", "Validation", "Malformed", "AccessDenied"];
    const PERMANENT: &[&str] = &[
        "ValidationException",
        "SerializationException",
        "UnrecognizedClientException",
        "NotAuthorized",
        "MissingAuthenticationToken",
        "ResourceNotFoundException",
        "FindingTooLarge",
    ];
    !(PERMANENT_PREFIXES.iter().any(|p| code.starts_with(p))
        || PERMANENT.contains(&code)
        || code.contains("Validation"))
}

/// Whether a failed BatchImportFindings call should be retried whole: timeouts, dispatch (connection)
/// and unparseable-response failures, HTTP 429 and 5xx, throttling codes
/// (`TooManyRequestsException`, `LimitExceededException`, …) and unknown codes. A request that could
/// not be built, or one rejected for its input or access, is not.
pub fn is_retryable_call<E: ProvideErrorMetadata, R: HttpStatus>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status_code();
            status == 429 || status >= 500 || s.err().code().is_none_or(is_retryable_code)
        }
        _ => true,
    }
}

/// The HTTP status of a raw response (implemented for the SDK's `HttpResponse`).
pub trait HttpStatus {
    /// The response's HTTP status code (e.g. 429, 503).
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_securityhub::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_securityhub::error::ErrorMetadata;

    #[test]
    fn retryable_codes() {
        for code in [
            "ThrottlingException",
            "TooManyRequestsException",
            "LimitExceededException",
            "InternalException",
            "InternalServerError",
            "ServiceUnavailable",
            "SomethingNew",
            "",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in [
            "InvalidInput",
            "InvalidInputException",
            "InvalidAccessException",
            "ValidationException",
            "FindingValidationFailed",
            "MalformedFinding",
            "AccessDeniedException",
        ] {
            assert!(!is_retryable_code(code), "{code}");
        }
    }

    #[derive(Debug)]
    struct Status(u16);
    impl HttpStatus for Status {
        fn status_code(&self) -> u16 {
            self.0
        }
    }

    fn service(code: &str, status: u16) -> SdkError<ErrorMetadata, Status> {
        SdkError::service_error(ErrorMetadata::builder().code(code).build(), Status(status))
    }

    #[test]
    fn retryable_calls() {
        assert!(is_retryable_call(&service("TooManyRequestsException", 429)));
        assert!(is_retryable_call(&service("LimitExceededException", 400)));
        assert!(is_retryable_call(&service("InternalException", 500)));
        assert!(is_retryable_call(&service("InvalidInputException", 503)));
        assert!(!is_retryable_call(&service("InvalidInputException", 400)));
        assert!(!is_retryable_call(&service("InvalidAccessException", 401)));
        let timeout: SdkError<ErrorMetadata, Status> = SdkError::timeout_error("slow");
        assert!(is_retryable_call(&timeout));
        let construction: SdkError<ErrorMetadata, Status> =
            SdkError::construction_failure("bad input");
        assert!(!is_retryable_call(&construction));
    }
}
