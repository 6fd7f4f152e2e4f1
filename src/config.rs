//! The service's configuration: one typed struct, read from the environment (and `.env`)
//! once at start-up and validated there, so nothing else reads the environment.
//!
//! Variables (all documented in `.env.example`):
//! - `DATABASE_URL`: PostgreSQL URL. Unset: an embedded private PostgreSQL is started.
//! - `EMBEDDED_DB_DIR`: where the embedded PostgreSQL lives (default `.therethere/postgres`).
//! - `BIND_ADDR`: address to listen on (default `127.0.0.1:8080`).
//! - `APP_URL`: public base URL used in links in payloads and emails (default `http://` + BIND_ADDR).
//! - `SMTP_URL`: SMTP server, e.g. `smtp://user:pass@host:587`. Unset: mail is logged and kept.
//! - `MAIL_FROM`: sender address of outgoing mail (default `There There <noreply@localhost>`).
//! - `OUTBOUND_ALLOW_PRIVATE`, `OUTBOUND_ALLOW_HTTP`: development switches for outbound calls.
//! - `SIDEBAR_CACHE_TTL`: seconds a sidebar section's answer is reused per contact (default 300).
//! - `SIDEBAR_STALE_MAX_AGE`: seconds the last good answer may be shown, marked stale, when
//!   an endpoint fails (default 86400).
//! - `SIDEBAR_REFRESH_INTERVAL`: seconds between forced refreshes of one section for one
//!   contact (default 10).
//! - `WEBHOOK_RETRY_DELAYS`: seconds between webhook attempts (default "10,20": 3 attempts).
//! - `WEBHOOK_LEASE_SECONDS`: how long a claimed delivery is reserved (default 30).
//! - `WEBHOOK_CONCURRENCY`: webhook attempts under way at once per instance (default 128).
//! - `WEBHOOK_DESTINATION_CONCURRENCY`: of those, at most this many to one destination (default 16).
//! - `WEBHOOK_LOG_RETENTION_DAYS`: days the delivery log is kept (default 30).
//! - `HTTP_HEADER_READ_TIMEOUT`, `HTTP_REQUEST_TIMEOUT`: seconds a client may take to send a
//!   request's headers (also how long an idle keep-alive connection stays open; default 30) and
//!   a whole request may take (default 30).
//! - `HTTP_MAX_IN_FLIGHT`: requests handled at once; more answer 503 at once (default 512).
//! - `TRUSTED_CLIENT_IP_HEADER`: behind a reverse proxy, the header whose last address is the
//!   client's (e.g. `X-Forwarded-For`). Unset: the TCP peer's address.
//! - `PASSWORD_THREADS`, `PASSWORD_QUEUE`: password checks run at once (default half the
//!   cores, at least 1) and waiting (default 8); past that a login answers 503 at once.
//! - `LOGIN_THROTTLE_ACCOUNT_FAILURES` (5), `LOGIN_THROTTLE_ADDRESS_FAILURES` (20),
//!   `LOGIN_THROTTLE_BASE_SECONDS` (1), `LOGIN_THROTTLE_MAX_SECONDS` (900),
//!   `LOGIN_THROTTLE_WINDOW_SECONDS` (3600): failed-login throttling;
//!   `LOGIN_REFUSAL_PAUSE_SECONDS` (0.5): every refused login is answered after this pause.
//! - `SESSION_LIFETIME_SECONDS` (14 days), `SESSION_IDLE_TIMEOUT_SECONDS` (12 hours).
//! - Quotas: `MAX_PERSONAL_DESTINATIONS_PER_USER` (20), `MAX_WORKSPACE_DESTINATIONS` (100),
//!   `MAX_SIDEBAR_SECTIONS` (50), `MAX_API_TOKENS_PER_USER` (20), `MAX_SESSIONS_PER_USER` (20).
//! - Rate limits: `TEST_NOTIFICATIONS_PER_MINUTE` (10 per destination), `RESENDS_PER_MINUTE`
//!   (30 per destination), `SECTION_TESTS_PER_MINUTE` (10 per section).
//! - `DEMO_DATA`: seed the demo workspace into an empty database on `serve`
//!   (default: true with the embedded database, false with `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use axum::http::HeaderName;

use crate::app_url::AppUrl;
use crate::auth::login_throttle::ThrottlePolicy;
use crate::auth::sessions::SessionSettings;
use crate::limits::Limits;
use crate::web::connections::HttpSettings;
use crate::webhooks::{RetryPolicy, WebhookSettings};

/// Where the database comes from.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// An external PostgreSQL given by `DATABASE_URL`.
    Url(SecretString),
    /// A private PostgreSQL the service runs itself from the system's binaries.
    Embedded { dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseSource,
    pub bind_addr: SocketAddr,
    pub app_url: AppUrl,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub outbound_allow_private: bool,
    pub outbound_allow_http: bool,
    pub demo_data: bool,
    pub sidebar_cache_ttl: Duration,
    pub sidebar_stale_max_age: Duration,
    pub sidebar_refresh_interval: Duration,
    pub webhooks: WebhookSettings,
    pub http: HttpSettings,
    pub trusted_client_ip_header: Option<HeaderName>,
    pub password_threads: usize,
    pub password_queue: usize,
    pub login_throttle: ThrottlePolicy,
    pub sessions: SessionSettings,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl Config {
    /// Reads the process environment, after loading `.env` if one is present.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is worth failing on.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(ConfigError {
                variable: ".env",
                reason: err.to_string(),
            });
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the config from any variable lookup (the environment, or a test's map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let database = match get("DATABASE_URL") {
            Some(url) => {
                let parsed = Url::parse(&url).map_err(|e| ConfigError {
                    variable: "DATABASE_URL",
                    reason: format!("not a URL ({e})"),
                })?;
                if !matches!(parsed.scheme(), "postgres" | "postgresql") {
                    return Err(ConfigError {
                        variable: "DATABASE_URL",
                        reason: "must start with postgres:// or postgresql://".into(),
                    });
                }
                DatabaseSource::Url(SecretString::from(url))
            }
            None => DatabaseSource::Embedded {
                dir: get("EMBEDDED_DB_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(".therethere/postgres")),
            },
        };

        let bind_addr: SocketAddr = get("BIND_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|_| ConfigError {
                variable: "BIND_ADDR",
                reason: "must be an address like 127.0.0.1:8080".into(),
            })?;

        let app_url = match get("APP_URL") {
            Some(raw) => {
                let url = Url::parse(&raw).map_err(|e| ConfigError {
                    variable: "APP_URL",
                    reason: format!("not a URL ({e})"),
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(ConfigError {
                        variable: "APP_URL",
                        reason: "must be an http:// or https:// URL with a host".into(),
                    });
                }
                AppUrl::new(url)
            }
            None => AppUrl::new(
                Url::parse(&format!("http://{bind_addr}/")).expect("a socket address forms a URL"),
            ),
        };

        let smtp_url = match get("SMTP_URL") {
            Some(raw) => {
                let url = Url::parse(&raw).map_err(|_| ConfigError {
                    variable: "SMTP_URL",
                    reason: "not a URL (expected smtp://host:port or smtps://...)".into(),
                })?;
                if !matches!(url.scheme(), "smtp" | "smtps") {
                    return Err(ConfigError {
                        variable: "SMTP_URL",
                        reason: "must start with smtp:// or smtps://".into(),
                    });
                }
                Some(SecretString::from(raw))
            }
            None => None,
        };

        let flag = |name: &'static str, default: bool| -> Result<bool, ConfigError> {
            match get(name).map(|v| v.to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
                Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
                Some(_) => Err(ConfigError {
                    variable: name,
                    reason: "must be true or false".into(),
                }),
            }
        };
        let embedded = matches!(database, DatabaseSource::Embedded { .. });
        let sidebar_cache_ttl = match get("SIDEBAR_CACHE_TTL") {
            None => Duration::from_secs(300),
            Some(v) => v
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| ConfigError {
                    variable: "SIDEBAR_CACHE_TTL",
                    reason: "must be a whole number of seconds".into(),
                })?,
        };

        let number = |name: &'static str, default: f64, min: f64| -> Result<f64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= min)
                    .ok_or(ConfigError {
                        variable: name,
                        reason: format!("must be a number of at least {min}"),
                    }),
            }
        };
        let webhooks = WebhookSettings {
            retry: match get("WEBHOOK_RETRY_DELAYS") {
                None => RetryPolicy::default(),
                Some(raw) => RetryPolicy::parse(&raw).map_err(|reason| ConfigError {
                    variable: "WEBHOOK_RETRY_DELAYS",
                    reason,
                })?,
            },
            lease: Duration::from_secs_f64(number("WEBHOOK_LEASE_SECONDS", 30.0, 1.0)?),
            concurrency: number("WEBHOOK_CONCURRENCY", 128.0, 1.0)? as usize,
            destination_concurrency: number("WEBHOOK_DESTINATION_CONCURRENCY", 16.0, 1.0)? as usize,
            log_retention: Duration::from_secs_f64(
                number("WEBHOOK_LOG_RETENTION_DAYS", 30.0, 0.0)? * 86_400.0,
            ),
        };

        let seconds = |name: &'static str, default: Duration, min: f64| {
            number(name, default.as_secs_f64(), min).map(Duration::from_secs_f64)
        };
        let count = |name: &'static str, default: u32| {
            number(name, f64::from(default), 1.0).map(|n| n.min(f64::from(u32::MAX)) as u32)
        };
        let http_defaults = HttpSettings::default();
        let http = HttpSettings {
            header_read_timeout: seconds(
                "HTTP_HEADER_READ_TIMEOUT",
                http_defaults.header_read_timeout,
                0.1,
            )?,
            request_timeout: seconds("HTTP_REQUEST_TIMEOUT", http_defaults.request_timeout, 0.1)?,
            max_in_flight: count("HTTP_MAX_IN_FLIGHT", http_defaults.max_in_flight as u32)?
                as usize,
        };
        let trusted_client_ip_header = match get("TRUSTED_CLIENT_IP_HEADER") {
            None => None,
            Some(raw) => {
                Some(
                    HeaderName::try_from(raw.to_ascii_lowercase()).map_err(|_| ConfigError {
                        variable: "TRUSTED_CLIENT_IP_HEADER",
                        reason: "must be a header name such as X-Forwarded-For".into(),
                    })?,
                )
            }
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let throttle = ThrottlePolicy::default();
        let login_throttle = ThrottlePolicy {
            account_free_failures: count(
                "LOGIN_THROTTLE_ACCOUNT_FAILURES",
                throttle.account_free_failures,
            )?,
            address_free_failures: count(
                "LOGIN_THROTTLE_ADDRESS_FAILURES",
                throttle.address_free_failures,
            )?,
            base_lockout: seconds("LOGIN_THROTTLE_BASE_SECONDS", throttle.base_lockout, 0.0)?,
            max_lockout: seconds("LOGIN_THROTTLE_MAX_SECONDS", throttle.max_lockout, 0.0)?,
            window: seconds("LOGIN_THROTTLE_WINDOW_SECONDS", throttle.window, 1.0)?,
            refusal_pause: seconds("LOGIN_REFUSAL_PAUSE_SECONDS", throttle.refusal_pause, 0.0)?,
        };
        let session_defaults = SessionSettings::default();
        let sessions = SessionSettings {
            lifetime: seconds("SESSION_LIFETIME_SECONDS", session_defaults.lifetime, 1.0)?,
            idle_timeout: seconds(
                "SESSION_IDLE_TIMEOUT_SECONDS",
                session_defaults.idle_timeout,
                1.0,
            )?,
        };
        let quota = Limits::default();
        let limits = Limits {
            personal_destinations_per_user: count(
                "MAX_PERSONAL_DESTINATIONS_PER_USER",
                quota.personal_destinations_per_user,
            )?,
            workspace_destinations: count(
                "MAX_WORKSPACE_DESTINATIONS",
                quota.workspace_destinations,
            )?,
            sidebar_sections: count("MAX_SIDEBAR_SECTIONS", quota.sidebar_sections)?,
            api_tokens_per_user: count("MAX_API_TOKENS_PER_USER", quota.api_tokens_per_user)?,
            sessions_per_user: count("MAX_SESSIONS_PER_USER", quota.sessions_per_user)?,
            test_notifications_per_minute: count(
                "TEST_NOTIFICATIONS_PER_MINUTE",
                quota.test_notifications_per_minute,
            )?,
            resends_per_minute: count("RESENDS_PER_MINUTE", quota.resends_per_minute)?,
            section_tests_per_minute: count(
                "SECTION_TESTS_PER_MINUTE",
                quota.section_tests_per_minute,
            )?,
        };

        let sidebar_stale_max_age =
            Duration::from_secs_f64(number("SIDEBAR_STALE_MAX_AGE", 86_400.0, 0.0)?);
        let sidebar_refresh_interval =
            Duration::from_secs_f64(number("SIDEBAR_REFRESH_INTERVAL", 10.0, 0.0)?);

        Ok(Config {
            http,
            trusted_client_ip_header,
            password_threads: count("PASSWORD_THREADS", (cores / 2).max(1) as u32)? as usize,
            password_queue: count("PASSWORD_QUEUE", 8)? as usize,
            login_throttle,
            sessions,
            limits,
            sidebar_stale_max_age,
            sidebar_refresh_interval,
            webhooks,
            bind_addr,
            app_url,
            smtp_url,
            mail_from: get("MAIL_FROM").unwrap_or_else(|| "There There <noreply@localhost>".into()),
            outbound_allow_private: flag("OUTBOUND_ALLOW_PRIVATE", false)?,
            outbound_allow_http: flag("OUTBOUND_ALLOW_HTTP", false)?,
            demo_data: flag("DEMO_DATA", embedded)?,
            sidebar_cache_ttl,
            database,
        })
    }

    /// Whether session cookies must be marked `Secure`.
    pub fn cookies_secure(&self) -> bool {
        self.app_url.scheme() == "https"
    }

    pub fn database_url(&self) -> Option<&str> {
        match &self.database {
            DatabaseSource::Url(url) => Some(url.expose_secret()),
            DatabaseSource::Embedded { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_use_the_embedded_database_and_seed_demo_data() {
        let c = config(&[]).unwrap();
        assert!(matches!(c.database, DatabaseSource::Embedded { .. }));
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.app_url.as_str(), "http://127.0.0.1:8080/");
        assert!(c.demo_data);
        assert!(!c.outbound_allow_private && !c.outbound_allow_http);
        assert_eq!(c.sidebar_cache_ttl, Duration::from_secs(300));
    }

    #[test]
    fn an_external_database_does_not_seed_demo_data_by_default() {
        let c = config(&[("DATABASE_URL", "postgres://u:p@db/x")]).unwrap();
        assert!(!c.demo_data);
        assert_eq!(c.database_url(), Some("postgres://u:p@db/x"));
    }

    #[test]
    fn bad_values_fail_with_the_variable_named() {
        assert_eq!(
            config(&[("BIND_ADDR", "nope")]).unwrap_err().variable,
            "BIND_ADDR"
        );
        assert_eq!(
            config(&[("APP_URL", "ftp://x")]).unwrap_err().variable,
            "APP_URL"
        );
        assert_eq!(
            config(&[("DATABASE_URL", "mysql://x")])
                .unwrap_err()
                .variable,
            "DATABASE_URL"
        );
        assert_eq!(
            config(&[("SMTP_URL", "http://x")]).unwrap_err().variable,
            "SMTP_URL"
        );
        assert_eq!(
            config(&[("OUTBOUND_ALLOW_HTTP", "maybe")])
                .unwrap_err()
                .variable,
            "OUTBOUND_ALLOW_HTTP"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("SMTP_URL", "smtp://a:s3cret@mail:25"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn app_url_is_read_and_decides_cookie_security() {
        let c = config(&[("APP_URL", "https://help.example.com/")]).unwrap();
        assert_eq!(
            c.app_url.link("/tickets/4"),
            "https://help.example.com/tickets/4"
        );
        assert!(c.cookies_secure());
    }
}
