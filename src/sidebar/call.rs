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
pub type FetchOutcome = Result<Vec<Value>, String>;

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
pub fn judge_exchange(exchange: &Exchange) -> Result<Answer, String> {
    let received = exchange.outcome.as_ref().map_err(|failure| match failure {
        OutboundFailure::TimedOut => "timed out".to_string(),
        other => other.to_string(),
    })?;
    if !received.is_success() {
        return Err(format!("the endpoint answered HTTP {}", received.status));
    }
    if received.truncated {
        return Err(format!(
            "the response is larger than {} KiB",
            received.body.len() / 1024
        ));
    }
    read_answer(&received.body).map_err(|e| e.to_string())
}
