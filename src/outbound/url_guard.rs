//! The rules a customer-typed destination URL must pass when it is saved: https only, no
//! credentials, a real public host name or address. Numeric host tricks (`127.1`,
//! `2130706433`, `0x7f.1`) are judged after WHATWG parsing, exactly as a resolver reads them.

use std::net::IpAddr;

use url::{Host, Url};

use super::ip_ranges::is_public;
use super::resolver::NameLookup;

/// What outbound calls may reach. Both switches are for development and tests only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Private, loopback and internal targets (`OUTBOUND_ALLOW_PRIVATE`).
    pub allow_private: bool,
    /// Plain `http://` (`OUTBOUND_ALLOW_HTTP`).
    pub allow_http: bool,
}

pub const MAX_URL_LENGTH: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRejection {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_URL_LENGTH} characters")]
    TooLong,
    #[error("is not a valid URL")]
    Invalid,
    #[error("must be an https:// URL")]
    HttpsOnly,
    #[error("must be an http:// or https:// URL")]
    HttpOrHttpsOnly,
    #[error("must not contain a username or password")]
    Credentials,
    #[error("must include a host name")]
    NoHost,
    #[error("points to a local or internal host name")]
    LocalName,
    #[error("must use a fully qualified domain name, like hooks.example.com")]
    NotFullyQualified,
    #[error("points to a private, loopback or reserved address")]
    PrivateAddress,
    #[error("resolves to a private address")]
    ResolvesToPrivate,
    #[error("does not resolve to any address")]
    DoesNotResolve,
}

impl UrlRejection {
    /// A sentence for a form or an API field error.
    pub fn message(&self) -> String {
        format!("The URL {self}.")
    }
}

/// Trims, adds `https://` when no scheme is given, and applies every rule that needs no DNS.
pub fn parse_destination_url(raw: &str, policy: OutboundPolicy) -> Result<Url, UrlRejection> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(UrlRejection::Empty);
    }
    if raw.len() > MAX_URL_LENGTH {
        return Err(UrlRejection::TooLong);
    }
    let with_scheme = if has_scheme(raw) {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|_| UrlRejection::Invalid)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        _ if policy.allow_http => return Err(UrlRejection::HttpOrHttpsOnly),
        _ => return Err(UrlRejection::HttpsOnly),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRejection::Credentials);
    }
    url.set_fragment(None);
    match url.host() {
        None => return Err(UrlRejection::NoHost),
        Some(Host::Domain(domain)) => check_domain(domain, policy)?,
        Some(Host::Ipv4(ip)) => check_address(IpAddr::V4(ip), policy)?,
        Some(Host::Ipv6(ip)) => check_address(IpAddr::V6(ip), policy)?,
    }
    if url.port() == Some(0) {
        return Err(UrlRejection::Invalid);
    }
    Ok(url)
}

/// The save-time check: the syntax rules, then every address the host resolves to must be
/// public (a name with one private answer among public ones is refused too).
pub async fn validate_destination_url(
    raw: &str,
    policy: OutboundPolicy,
    lookup: &dyn NameLookup,
) -> Result<Url, UrlRejection> {
    let url = parse_destination_url(raw, policy)?;
    if policy.allow_private {
        return Ok(url);
    }
    if let Some(Host::Domain(domain)) = url.host() {
        let ips = lookup
            .lookup(domain.trim_end_matches('.'))
            .await
            .map_err(|_| UrlRejection::DoesNotResolve)?;
        if ips.is_empty() {
            return Err(UrlRejection::DoesNotResolve);
        }
        if !ips.iter().all(|ip| is_public(*ip)) {
            return Err(UrlRejection::ResolvesToPrivate);
        }
    }
    Ok(url)
}

/// True when the input starts with `scheme://`. (`localhost:8080` has no scheme: it would
/// otherwise parse as the scheme "localhost".)
fn has_scheme(raw: &str) -> bool {
    let Some((scheme, _)) = raw.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Names that always mean "this machine" or "the local network".
const LOCAL_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
    "metadata.google.internal",
];
const LOCAL_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".home.arpa",
    ".lan",
    ".corp",
];

fn check_domain(domain: &str, policy: OutboundPolicy) -> Result<(), UrlRejection> {
    if policy.allow_private {
        return Ok(());
    }
    let name = domain.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Err(UrlRejection::NoHost);
    }
    if LOCAL_NAMES.contains(&name.as_str()) || LOCAL_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Err(UrlRejection::LocalName);
    }
    // A single label is completed by the resolver's search domains: an internal host.
    if !name.contains('.') {
        return Err(UrlRejection::NotFullyQualified);
    }
    Ok(())
}

fn check_address(ip: IpAddr, policy: OutboundPolicy) -> Result<(), UrlRejection> {
    if policy.allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(UrlRejection::PrivateAddress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::resolver::StaticLookup;

    const STRICT: OutboundPolicy = OutboundPolicy {
        allow_private: false,
        allow_http: false,
    };

    fn lookup() -> StaticLookup {
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let private: IpAddr = "10.0.0.5".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        let v6_loopback: IpAddr = "::1".parse().unwrap();
        StaticLookup::new(&[
            ("hooks.example.com", &[public]),
            ("example.com", &[public]),
            ("xn--bcher-kva.example", &[public]),
            ("api.example.co.uk", &[public]),
            ("rebind.example.net", &[loopback]),
            ("intranet.example.net", &[private]),
            ("mixed.example.net", &[public, private]),
            ("metadata.example.net", &[metadata]),
            ("v6.example.net", &[v6_loopback]),
            ("127.0.0.1.nip.io", &[loopback]),
        ])
    }

    async fn check(raw: &str) -> Result<Url, UrlRejection> {
        validate_destination_url(raw, STRICT, &lookup()).await
    }

    #[tokio::test]
    async fn hostile_urls_are_refused_with_their_reason() {
        use UrlRejection::*;
        let cases: &[(&str, UrlRejection)] = &[
            ("", Empty),
            ("   ", Empty),
            ("http://hooks.example.com/", HttpsOnly),
            ("ftp://hooks.example.com/", HttpsOnly),
            ("file:///etc/passwd", HttpsOnly),
            ("gopher://hooks.example.com/", HttpsOnly),
            ("javascript://hooks.example.com/%0aalert(1)", HttpsOnly),
            ("https://user:pass@hooks.example.com/", Credentials),
            ("https://user@hooks.example.com/", Credentials),
            ("https://hooks.example.com@127.0.0.1/", Credentials),
            ("https://", Invalid),
            ("https://exa mple.com/", Invalid),
            ("https://[::1/", Invalid),
            ("https://localhost/", LocalName),
            ("localhost:8080/hook", LocalName),
            ("https://LOCALHOST./", LocalName),
            ("https://api.localhost/", LocalName),
            ("https://printer.local/", LocalName),
            (
                "https://metadata.google.internal/computeMetadata/v1/",
                LocalName,
            ),
            ("https://db.internal/", LocalName),
            ("https://router.home.arpa/", LocalName),
            ("https://intranet/", NotFullyQualified),
            ("https://127.0.0.1/", PrivateAddress),
            ("127.0.0.1", PrivateAddress),
            ("https://127.1/", PrivateAddress),
            ("https://127.0.1/", PrivateAddress),
            ("https://2130706433/", PrivateAddress),
            ("https://0x7f000001/", PrivateAddress),
            ("https://0x7f.1/", PrivateAddress),
            ("https://0177.0.0.1/", PrivateAddress),
            ("https://0177.1/", PrivateAddress),
            ("https://%31%32%37.0.0.1/", PrivateAddress),
            ("https://１２７.０.０.１/", PrivateAddress),
            ("https://127.0.0.1./", PrivateAddress),
            ("https://0.0.0.0/", PrivateAddress),
            ("https://0/", PrivateAddress),
            ("https://10.0.0.1/", PrivateAddress),
            ("https://172.16.5.4/", PrivateAddress),
            ("https://192.168.0.1:8443/", PrivateAddress),
            ("https://169.254.169.254/latest/meta-data/", PrivateAddress),
            ("https://100.64.0.1/", PrivateAddress),
            ("https://198.18.0.1/", PrivateAddress),
            ("https://192.0.2.1/", PrivateAddress),
            ("https://224.0.0.1/", PrivateAddress),
            ("https://255.255.255.255/", PrivateAddress),
            ("https://240.0.0.1/", PrivateAddress),
            ("https://[::1]/", PrivateAddress),
            ("https://[::]/", PrivateAddress),
            ("https://[::ffff:127.0.0.1]/", PrivateAddress),
            ("https://[::ffff:7f00:1]/", PrivateAddress),
            ("https://[::127.0.0.1]/", PrivateAddress),
            ("https://[64:ff9b::127.0.0.1]/", PrivateAddress),
            ("https://[2002:7f00:1::]/", PrivateAddress),
            ("https://[fe80::1]/", PrivateAddress),
            ("https://[fd00:ec2::254]/", PrivateAddress),
            ("https://[fc00::1]/", PrivateAddress),
            ("https://[ff02::1]/", PrivateAddress),
            ("https://[2001:db8::1]/", PrivateAddress),
            ("https://rebind.example.net/", ResolvesToPrivate),
            ("https://intranet.example.net/", ResolvesToPrivate),
            ("https://mixed.example.net/", ResolvesToPrivate),
            ("https://metadata.example.net/", ResolvesToPrivate),
            ("https://v6.example.net/", ResolvesToPrivate),
            ("https://127.0.0.1.nip.io/", ResolvesToPrivate),
            ("https://does-not-exist.example.org/", DoesNotResolve),
        ];
        assert!(cases.len() >= 40);
        for (raw, expected) in cases {
            assert_eq!(check(raw).await.as_ref().err(), Some(expected), "{raw:?}");
        }
    }

    #[tokio::test]
    async fn public_urls_pass_and_are_normalised() {
        let cases: &[(&str, &str)] = &[
            ("https://hooks.example.com/", "https://hooks.example.com/"),
            (
                "  hooks.example.com/webhooks  ",
                "https://hooks.example.com/webhooks",
            ),
            (
                "https://hooks.example.com:8443/a/b?x=1&y=2",
                "https://hooks.example.com:8443/a/b?x=1&y=2",
            ),
            (
                "HTTPS://Hooks.Example.COM/Path",
                "https://hooks.example.com/Path",
            ),
            (
                "https://hooks.example.com/#fragment",
                "https://hooks.example.com/",
            ),
            ("https://bücher.example/", "https://xn--bcher-kva.example/"),
            (
                "https://api.example.co.uk/v1/hooks?token=abc",
                "https://api.example.co.uk/v1/hooks?token=abc",
            ),
            ("https://example.com", "https://example.com/"),
            ("https://8.8.8.8/hook", "https://8.8.8.8/hook"),
            (
                "https://[2606:4700:4700::1111]/hook",
                "https://[2606:4700:4700::1111]/hook",
            ),
            ("example.com:443/x", "https://example.com/x"),
        ];
        for (raw, normalised) in cases {
            let url = check(raw)
                .await
                .unwrap_or_else(|e| panic!("{raw:?} was refused: {e}"));
            assert_eq!(url.as_str(), *normalised);
        }
    }

    #[tokio::test]
    async fn development_switches_open_http_and_private_targets() {
        let dev = OutboundPolicy {
            allow_private: true,
            allow_http: true,
        };
        let empty = StaticLookup::default();
        for raw in [
            "http://127.0.0.1:9000/hook",
            "http://localhost:3000",
            "https://10.0.0.1/",
            "receiver:8080",
        ] {
            assert!(
                validate_destination_url(raw, dev, &empty).await.is_ok(),
                "{raw}"
            );
        }
        assert_eq!(
            validate_destination_url("ftp://127.0.0.1/", dev, &empty)
                .await
                .unwrap_err(),
            UrlRejection::HttpOrHttpsOnly
        );
    }

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(
            UrlRejection::HttpsOnly.message(),
            "The URL must be an https:// URL."
        );
        assert_eq!(
            UrlRejection::ResolvesToPrivate.message(),
            "The URL resolves to a private address."
        );
    }
}
