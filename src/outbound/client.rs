//! `OutboundClient`: the one way the service calls customers' endpoints. One pooled HTTP/1
//! client per use (hyper's, TLS by rustls with the webpki roots), with that use's timeouts and
//! response cap, the guarded resolver, no proxies and no redirects (hyper follows none); every
//! call returns an `Exchange` recording exactly what was sent and what came back (or why
//! nothing did).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::{Host, Url};

use super::ip_ranges::is_public;
use super::resolver::{GuardedResolver, NameLookup, ResolveRefusal};
use super::signature::sign_hex;
use super::url_guard::OutboundPolicy;

/// Timeouts and limits for one kind of outbound call.
#[derive(Debug, Clone, Copy)]
pub struct UseProfile {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    /// At most this many response body bytes are read; the rest is never downloaded.
    pub body_cap: usize,
}

/// Sidebar data: the agent is waiting (spec: 2 s connect, 3 s total).
pub const SIDEBAR: UseProfile = UseProfile {
    connect_timeout: Duration::from_secs(2),
    total_timeout: Duration::from_secs(3),
    body_cap: 256 * 1024,
};

/// Webhook deliveries (spec: 5 s); the response is kept for the delivery log.
pub const WEBHOOK: UseProfile = UseProfile {
    connect_timeout: Duration::from_secs(5),
    total_timeout: Duration::from_secs(5),
    body_cap: 64 * 1024,
};

pub const USER_AGENT_VALUE: &str = concat!("therethere/", env!("CARGO_PKG_VERSION"));

/// How to sign a request: the header's name and the secret's bytes.
pub struct Signing<'a> {
    pub header: &'static str,
    pub secret: &'a [u8],
}

/// The request exactly as sent.
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// The response as received, its body cut at the profile's cap.
#[derive(Debug, Clone)]
pub struct Received {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The body went on past the cap; only the first `body_cap` bytes are here.
    pub truncated: bool,
}

impl Received {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundFailure {
    /// The target is not allowed (private address, plain http); nothing was sent.
    #[error("refused: {0}")]
    Refused(String),
    #[error("timed out")]
    TimedOut,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: SentRequest,
    pub outcome: Result<Received, OutboundFailure>,
    pub duration: Duration,
}

impl Exchange {
    /// A 2xx response. Redirects (3xx) are never followed and count as failures.
    pub fn is_success(&self) -> bool {
        self.outcome.as_ref().is_ok_and(Received::is_success)
    }
}

type Connector = HttpsConnector<HttpConnector<GuardedResolver>>;

#[derive(Clone)]
pub struct OutboundClient {
    http: Client<Connector, Full<Bytes>>,
    profile: UseProfile,
    policy: OutboundPolicy,
}

impl OutboundClient {
    pub fn new(profile: UseProfile, policy: OutboundPolicy, lookup: Arc<dyn NameLookup>) -> Self {
        let mut tcp = HttpConnector::new_with_resolver(GuardedResolver {
            lookup,
            allow_private: policy.allow_private,
        });
        // The TLS layer below takes https; the scheme rule is `refusal`'s.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(profile.connect_timeout));
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("rustls' default protocol versions suit its ring provider")
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_timer(TokioTimer::new())
            .build(connector);
        OutboundClient {
            http,
            profile,
            policy,
        }
    }

    pub fn profile(&self) -> UseProfile {
        self.profile
    }

    /// POSTs `body` as JSON to `url`, signed if `signing` is given, with `extra` headers.
    pub async fn post_json(
        &self,
        url: &Url,
        body: Bytes,
        signing: Option<Signing<'_>>,
        extra: HeaderMap,
    ) -> Exchange {
        let started = Instant::now();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if let Some(signing) = &signing {
            let value = HeaderValue::from_str(&sign_hex(signing.secret, &body))
                .expect("hex is a valid header value");
            headers.insert(HeaderName::from_static(signing.header), value);
        }
        headers.extend(extra);
        let mut recorded: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        recorded.push((CONTENT_LENGTH.as_str().to_string(), body.len().to_string()));
        let request = SentRequest {
            url: url.to_string(),
            headers: recorded,
            body: body.clone(),
        };

        let outcome = match self.refusal(url) {
            Some(reason) => Err(OutboundFailure::Refused(reason)),
            None => self.send(url, headers, body).await,
        };
        Exchange {
            request,
            outcome,
            duration: started.elapsed(),
        }
    }

    /// Sends the POST and reads the answer, all of it within the profile's total timeout
    /// (connecting, sending, and reading the body).
    async fn send(
        &self,
        url: &Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Received, OutboundFailure> {
        let call = build_request(url, headers, body)?;
        tokio::time::timeout(self.profile.total_timeout, async {
            let response = self.http.request(call).await.map_err(classify)?;
            read_capped(response, self.profile.body_cap).await
        })
        .await
        .unwrap_or(Err(OutboundFailure::TimedOut))
    }

    /// Checks the connector cannot make for us: it skips the resolver for IP-literal hosts.
    fn refusal(&self, url: &Url) -> Option<String> {
        if url.scheme() != "https" && !(url.scheme() == "http" && self.policy.allow_http) {
            return Some("must be an https:// URL".into());
        }
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        match literal {
            Some(ip) if !self.policy.allow_private && !is_public(ip) => {
                Some("points to a private, loopback or reserved address".into())
            }
            _ => None,
        }
    }
}

fn build_request(
    url: &Url,
    headers: HeaderMap,
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, OutboundFailure> {
    let uri = http::Uri::try_from(url.as_str())
        .map_err(|e| OutboundFailure::Other(format!("the URL cannot be sent: {e}")))?;
    let mut request = http::Request::post(uri)
        .body(Full::new(body))
        .map_err(|e| OutboundFailure::Other(format!("the request cannot be built: {e}")))?;
    *request.headers_mut() = headers;
    Ok(request)
}

async fn read_capped(
    response: http::Response<Incoming>,
    cap: usize,
) -> Result<Received, OutboundFailure> {
    let (head, mut incoming) = response.into_parts();
    let headers = super::response_headers::bound(
        head.headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    );
    let mut body: Vec<u8> = Vec::new();
    let mut truncated = false;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| OutboundFailure::Other(innermost(&e)))?;
        let Ok(chunk) = frame.into_data() else {
            continue; // trailers
        };
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            // Dropping the body closes the connection: the rest is never downloaded.
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Received {
        status: head.status.as_u16(),
        reason: head.status.canonical_reason().unwrap_or("").to_string(),
        headers,
        body: Bytes::from(body),
        truncated,
    })
}

/// Names a client error by what the receiver's owner can act on.
fn classify(err: hyper_util::client::legacy::Error) -> OutboundFailure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(refusal) = e.downcast_ref::<ResolveRefusal>() {
            return OutboundFailure::Refused(refusal.to_string());
        }
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return OutboundFailure::TimedOut;
        }
        source = e.source();
    }
    if err.is_connect() {
        OutboundFailure::Connect(innermost(&err))
    } else {
        OutboundFailure::Other(innermost(&err))
    }
}

/// The root cause's words ("Connection refused (os error 111)"), not the wrappers'.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}
