//! Everything the service sends to customers' endpoints goes through here: the URL rules
//! checked at save time, the guarded resolver and client used at send time, and signing.

pub mod client;
pub mod ip_ranges;
pub mod resolver;
pub mod response_headers;
pub mod signature;
pub mod url_guard;

use std::sync::Arc;

pub use client::{Exchange, OutboundClient, OutboundFailure, Received, Signing};
pub use resolver::{NameLookup, StaticLookup, SystemLookup};
pub use url_guard::{OutboundPolicy, UrlRejection};

/// The outbound side of the app: the policy, the name lookup, and a client per use.
#[derive(Clone)]
pub struct Outbound {
    pub policy: OutboundPolicy,
    pub lookup: Arc<dyn NameLookup>,
    pub sidebar: OutboundClient,
    pub webhooks: OutboundClient,
}

impl Outbound {
    pub fn new(policy: OutboundPolicy, lookup: Arc<dyn NameLookup>) -> Self {
        Outbound {
            sidebar: OutboundClient::new(client::SIDEBAR, policy, lookup.clone()),
            webhooks: OutboundClient::new(client::WEBHOOK, policy, lookup.clone()),
            policy,
            lookup,
        }
    }

    /// The save-time check of a customer-typed URL, under this app's policy.
    pub async fn validate_url(&self, raw: &str) -> Result<url::Url, UrlRejection> {
        url_guard::validate_destination_url(raw, self.policy, self.lookup.as_ref()).await
    }
}
