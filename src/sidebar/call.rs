//! The call to a section's endpoint, exactly as the spec describes it (a signed POST of
//! `{"email": ...}`), and the judgement of its answer.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};

use super::items::{Answer, read_answer};
use crate::outbound::client::OutboundClient;
use crate::outbound::signature::SIDEBAR_SIGNATURE_HEADER;
use crate::outbound::{Exchange, OutboundFailure, Signing};

/// What one fetch produced: the `data` items, or why there are none.
pub type FetchOutcome = Result<Vec<Value>, CallFailure>;

/// Why a call gave no usable answer: the `detail` names hosts, statuses and parser errors for
/// admins (settings pages, Test, the log); agents are told only the [`CallFailure::for_agents`]
/// sentence of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    pub kind: FailureKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    TimedOut,
    /// No answer: refused, unreachable, TLS, a URL the rules refuse.
    Unreachable,
    /// An answer that is not 2xx.
    ErrorStatus,
    /// A 2xx answer that is not section data (or too large).
    Unreadable,
    /// Known only by the detail another instance recorded.
    Recorded,
}

impl CallFailure {
    fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        CallFailure {
            kind,
            detail: detail.into(),
        }
    }

    /// The failure another instance recorded as the section's last error.
    pub fn recorded(detail: String) -> Self {
        CallFailure::new(FailureKind::Recorded, detail)
    }

    /// What an agent is shown: no host, status or parser message, which are for admins.
    pub fn for_agents(&self) -> &'static str {
        match self.kind {
            FailureKind::TimedOut => "The endpoint did not answer in time",
            FailureKind::Unreachable => "The endpoint could not be reached",
            FailureKind::ErrorStatus => "The endpoint answered with an error",
            FailureKind::Unreadable => "The endpoint\u{2019}s answer could not be read",
            FailureKind::Recorded => "The section could not be loaded",
        }
    }
}

/// The signed POST to an endpoint with its secret.
pub async fn call_endpoint(
    client: &OutboundClient,
    endpoint_url: &str,
    secret: &[u8],
    email: &str,
) -> Exchange {
    let body =
        Bytes::from(serde_json::to_vec(&json!({ "email": email })).expect("JSON of a string"));
    let url = url::Url::parse(endpoint_url)
        .unwrap_or_else(|_| url::Url::parse("https://invalid.invalid/").unwrap());
    let signing = Signing {
        header: SIDEBAR_SIGNATURE_HEADER,
        secret,
    };
    client
        .post_json(&url, body, Some(signing), HeaderMap::new())
        .await
}

/// Success is a 2xx answer whose body is a JSON object with a `data` array.
pub fn judge_exchange(exchange: &Exchange) -> Result<Answer, CallFailure> {
    let received = exchange.outcome.as_ref().map_err(|failure| match failure {
        OutboundFailure::TimedOut => CallFailure::new(FailureKind::TimedOut, "timed out"),
        other => CallFailure::new(FailureKind::Unreachable, other.to_string()),
    })?;
    if !received.is_success() {
        return Err(CallFailure::new(
            FailureKind::ErrorStatus,
            format!("the endpoint answered HTTP {}", received.status),
        ));
    }
    if received.truncated {
        return Err(CallFailure::new(
            FailureKind::Unreadable,
            format!(
                "the response is larger than {} KiB",
                received.body.len() / 1024
            ),
        ));
    }
    read_answer(&received.body)
        .map_err(|e| CallFailure::new(FailureKind::Unreadable, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_told_the_kind_of_failure_never_its_detail() {
        let tls = CallFailure::new(
            FailureKind::Unreachable,
            "invalid peer certificate: NotValidForName (crm.internal.example)",
        );
        assert_eq!(tls.for_agents(), "The endpoint could not be reached");
        let recorded =
            CallFailure::recorded("the endpoint answered HTTP 503 at crm.example".into());
        assert!(!recorded.for_agents().contains("crm"));
    }
}
