//! Name resolution for outbound calls. `GuardedResolver` is the resolver the client's connector
//! calls: it looks the name up, drops every non-public address, and hands the connector only
//! what passed, so a name that turned private after it was saved (DNS rebinding) is refused at
//! connect time.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

use super::ip_ranges::is_public;

pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns a host name into addresses. The system's resolver in production; tests install a
/// fixed table so that no query leaves the machine.
pub trait NameLookup: Send + Sync + 'static {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a>;
}

/// The operating system's resolver (getaddrinfo: /etc/hosts, then DNS).
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed table of names, for tests: unknown names do not resolve. Its answers can be
/// changed while in use, to play a DNS-rebinding attacker.
#[derive(Default, Clone)]
pub struct StaticLookup {
    table: Arc<std::sync::RwLock<HashMap<String, Vec<IpAddr>>>>,
}

impl StaticLookup {
    pub fn new(entries: &[(&str, &[IpAddr])]) -> Self {
        let lookup = StaticLookup::default();
        for (name, ips) in entries {
            lookup.set(name, ips);
        }
        lookup
    }

    pub fn set(&self, name: &str, ips: &[IpAddr]) {
        self.table
            .write()
            .expect("lookup table lock")
            .insert(name.to_ascii_lowercase(), ips.to_vec());
    }
}

impl NameLookup for StaticLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a> {
        let found = self
            .table
            .read()
            .expect("lookup table lock")
            .get(&host.to_ascii_lowercase())
            .cloned();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "name does not resolve")
            })
        })
    }
}

/// Why the resolver refused a name; found again in the client's error chain to report it.
#[derive(Debug, thiserror::Error)]
pub enum ResolveRefusal {
    #[error("resolves to a private address")]
    OnlyPrivateAddresses,
    #[error("does not resolve: {0}")]
    NotFound(String),
}

/// The connector's resolver: looks up through `lookup` and keeps only public addresses
/// (all addresses when private targets are allowed by configuration).
#[derive(Clone)]
pub struct GuardedResolver {
    pub lookup: Arc<dyn NameLookup>,
    pub allow_private: bool,
}

impl GuardedResolver {
    /// The addresses `host` may be connected to (port 0: the connector sets the URL's).
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveRefusal> {
        let ips = self
            .lookup
            .lookup(host)
            .await
            .map_err(|e| ResolveRefusal::NotFound(e.to_string()))?;
        let allowed: Vec<SocketAddr> = ips
            .into_iter()
            .filter(|ip| self.allow_private || is_public(*ip))
            .map(|ip| SocketAddr::new(ip, 0))
            .collect();
        if allowed.is_empty() {
            return Err(ResolveRefusal::OnlyPrivateAddresses);
        }
        Ok(allowed)
    }
}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveRefusal;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveRefusal>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveRefusal>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        Box::pin(async move { Ok(resolver.resolve_host(name.as_str()).await?.into_iter()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(resolver: &GuardedResolver, name: &str) -> Result<Vec<IpAddr>, String> {
        let name: Name = name.parse().unwrap();
        tower::Service::call(&mut resolver.clone(), name)
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|e| e.to_string())
    }

    fn table() -> Arc<StaticLookup> {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        Arc::new(StaticLookup::new(&[
            (
                "mixed.example",
                &[
                    ip("127.0.0.1"),
                    ip("93.184.216.34"),
                    ip("10.1.2.3"),
                    ip("2606:4700::1"),
                ],
            ),
            (
                "private.example",
                &[ip("169.254.169.254"), ip("::ffff:10.0.0.1")],
            ),
        ]))
    }

    #[tokio::test]
    async fn only_public_addresses_are_handed_to_the_connector() {
        let strict = GuardedResolver {
            lookup: table(),
            allow_private: false,
        };
        assert_eq!(
            resolve(&strict, "mixed.example").await.unwrap(),
            [
                "93.184.216.34".parse::<IpAddr>().unwrap(),
                "2606:4700::1".parse().unwrap()
            ]
        );
        assert_eq!(
            resolve(&strict, "private.example").await.unwrap_err(),
            "resolves to a private address"
        );
        assert!(
            resolve(&strict, "unknown.example")
                .await
                .unwrap_err()
                .starts_with("does not resolve")
        );
    }

    #[tokio::test]
    async fn the_development_switch_keeps_every_address() {
        let open = GuardedResolver {
            lookup: table(),
            allow_private: true,
        };
        assert_eq!(resolve(&open, "mixed.example").await.unwrap().len(), 4);
    }
}
