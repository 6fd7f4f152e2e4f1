//! The client's address, for throttling logins and showing where a session or token was used. By default the TCP peer. Behind a reverse
//! proxy every peer is the proxy, so `TRUSTED_CLIENT_IP_HEADER` (opt-in) names the header the
//! proxy sets, and its last address (the one the proxy itself appended) is used. Only set it
//! when clients cannot reach the service except through that proxy: otherwise they choose
//! their own address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderName;
use axum::http::request::Parts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The header a trusted proxy sets (`TRUSTED_CLIENT_IP_HEADER`), if any.
#[derive(Debug, Clone, Default)]
pub struct TrustedClientIpHeader(pub Option<HeaderName>);

impl<S> FromRequestParts<S> for ClientAddress
where
    S: Send + Sync,
    TrustedClientIpHeader: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(client_address(
            parts,
            &TrustedClientIpHeader::from_ref(state),
        ))
    }
}

/// The request's client: the trusted header's last address when one is set, else the peer.
pub fn client_address(parts: &Parts, trusted: &TrustedClientIpHeader) -> ClientAddress {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let from_header = trusted
        .0
        .as_ref()
        .and_then(|name| last_address(parts.headers.get_all(name).iter()));
    ClientAddress(
        from_header
            .or(peer)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    )
}

/// The last address in comma-separated header values (`X-Forwarded-For: a, b, c` → c).
fn last_address<'a>(
    mut values: impl DoubleEndedIterator<Item = &'a axum::http::HeaderValue>,
) -> Option<IpAddr> {
    let last_value = values.next_back()?.to_str().ok()?;
    let last = last_value.rsplit(',').next()?.trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_proxys_own_entry_is_the_last_one() {
        let values = [
            HeaderValue::from_static("6.6.6.6"),
            HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
        ];
        assert_eq!(
            last_address(values.iter()),
            Some("198.51.100.7".parse().unwrap())
        );
        let bad = [HeaderValue::from_static("not an address")];
        assert_eq!(last_address(bad.iter()), None);
        let with_port = [HeaderValue::from_static("[2001:db8::1]:443")];
        assert_eq!(
            last_address(with_port.iter()),
            Some("2001:db8::1".parse().unwrap())
        );
    }
}
