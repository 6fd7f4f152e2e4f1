//! Reading each group of settings from the environment: the database, `APP_URL`, webhooks,
//! HTTP, the login throttle, sessions, the secrets key, accounts and limits. `Config` puts
//! them together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::vars::Vars;
use super::{ConfigError, DatabaseSource, HttpSettings};
use crate::accounts::AccountSettings;
use crate::app_url::AppUrl;
use crate::auth::login_throttle::ThrottlePolicy;
use crate::auth::sessions::SessionSettings;
use crate::limits::Limits;
use crate::secrets::keys::{KeySettings, parse_key};
use crate::webhooks::{RetryPolicy, WebhookSettings};

pub(super) fn database(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
) -> Result<DatabaseSource, ConfigError> {
    let url = vars.optional("DATABASE_URL", |raw| {
        let parsed = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err("must start with postgres:// or postgresql://".into());
        }
        Ok(SecretString::from(raw))
    })?;
    Ok(match url {
        Some(url) => DatabaseSource::Url(url),
        None => DatabaseSource::Embedded {
            dir: vars
                .text("EMBEDDED_DB_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".therethere/postgres")),
        },
    })
}

pub(super) fn app_url(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
    bind_addr: SocketAddr,
) -> Result<AppUrl, ConfigError> {
    let default =
        || Url::parse(&format!("http://{bind_addr}/")).expect("a socket address forms a URL");
    vars.parsed("APP_URL", default, |raw| {
        let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("must be an http:// or https:// URL with a host".into());
        }
        Ok(url)
    })
    .map(AppUrl::new)
}

pub(super) fn parse_smtp_url(raw: &str) -> Result<SecretString, String> {
    let url =
        Url::parse(raw).map_err(|_| "not a URL (expected smtp://host:port or smtps://...)")?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err("must start with smtp:// or smtps://".into());
    }
    Ok(SecretString::from(raw))
}

pub(super) fn webhook_settings(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
) -> Result<WebhookSettings, ConfigError> {
    // 256: with 128, one workspace's share (96) held its ten destinations under their 16 each,
    // and end to end (2,000 tickets × 10 destinations, ab and nginx) ran at 2,340–2,542
    // deliveries/s; with 256, 2,848–3,146/s, peak RSS 37 MB.
    let concurrency = vars.count("WEBHOOK_CONCURRENCY", 256)?;
    Ok(WebhookSettings {
        retry: vars
            .parsed(
                "WEBHOOK_RETRY_DELAYS",
                RetryPolicy::default,
                RetryPolicy::parse,
            )?
            .with_retry_after_cap(vars.seconds(
                "WEBHOOK_RETRY_AFTER_CAP",
                crate::webhooks::retry::DEFAULT_RETRY_AFTER_CAP,
                0.0,
            )?),
        lease: vars.seconds("WEBHOOK_LEASE_SECONDS", Duration::from_secs(30), 1.0)?,
        concurrency: concurrency as usize,
        destination_concurrency: vars.count("WEBHOOK_DESTINATION_CONCURRENCY", 16)? as usize,
        workspace_concurrency: vars.count(
            "WEBHOOK_WORKSPACE_CONCURRENCY",
            (concurrency * 3).div_ceil(4),
        )? as usize,
        streaks: crate::webhooks::disabling::Streaks {
            failures: vars.count("WEBHOOK_DISABLE_AFTER_FAILURES", 10)? as i32,
            span: Duration::from_secs_f64(
                vars.number("WEBHOOK_DISABLE_AFTER_HOURS", 24.0, 0.0)? * 3_600.0,
            ),
        },
        log_retention: Duration::from_secs_f64(
            vars.number("WEBHOOK_LOG_RETENTION_DAYS", 30.0, 0.0)? * 86_400.0,
        ),
    })
}

pub(super) fn http_settings(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
) -> Result<HttpSettings, ConfigError> {
    let d = HttpSettings::default();
    Ok(HttpSettings {
        header_read_timeout: vars.seconds(
            "HTTP_HEADER_READ_TIMEOUT",
            d.header_read_timeout,
            0.1,
        )?,
        request_timeout: vars.seconds("HTTP_REQUEST_TIMEOUT", d.request_timeout, 0.1)?,
        max_in_flight: vars.count("HTTP_MAX_IN_FLIGHT", d.max_in_flight as u32)? as usize,
    })
}

pub(super) fn login_throttle(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
) -> Result<ThrottlePolicy, ConfigError> {
    let d = ThrottlePolicy::default();
    Ok(ThrottlePolicy {
        account_free_failures: vars
            .count("LOGIN_THROTTLE_ACCOUNT_FAILURES", d.account_free_failures)?,
        address_free_failures: vars
            .count("LOGIN_THROTTLE_ADDRESS_FAILURES", d.address_free_failures)?,
        base_lockout: vars.seconds("LOGIN_THROTTLE_BASE_SECONDS", d.base_lockout, 0.0)?,
        max_lockout: vars.seconds("LOGIN_THROTTLE_MAX_SECONDS", d.max_lockout, 0.0)?,
        window: vars.seconds("LOGIN_THROTTLE_WINDOW_SECONDS", d.window, 1.0)?,
        refusal_pause: vars.seconds("LOGIN_REFUSAL_PAUSE_SECONDS", d.refusal_pause, 0.0)?,
    })
}

pub(super) fn session_settings(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
) -> Result<SessionSettings, ConfigError> {
    let d = SessionSettings::default();
    Ok(SessionSettings {
        lifetime: vars.seconds("SESSION_LIFETIME_SECONDS", d.lifetime, 1.0)?,
        idle_timeout: vars.seconds("SESSION_IDLE_TIMEOUT_SECONDS", d.idle_timeout, 1.0)?,
    })
}

pub(super) fn key_settings(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
    database: &DatabaseSource,
) -> Result<KeySettings, ConfigError> {
    let key = |name: &'static str| {
        vars.optional(name, |raw| {
            parse_key(raw)?;
            Ok(SecretString::from(raw))
        })
    };
    Ok(KeySettings {
        key: key("SECRETS_KEY")?,
        key_file: vars.text("SECRETS_KEY_FILE").map(PathBuf::from),
        previous: key("SECRETS_KEY_PREVIOUS")?,
        generated_file: match database {
            DatabaseSource::Embedded { dir } => Some(
                dir.parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join("secrets.key"),
            ),
            DatabaseSource::Url(_) => None,
        },
    })
}

pub(super) fn account_settings(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
) -> Result<AccountSettings, ConfigError> {
    let d = AccountSettings::default();
    let hours = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        let value = vars.number(name, default.as_secs_f64() / 3600.0, 0.0)?;
        Ok(Duration::from_secs_f64(value * 3600.0))
    };
    Ok(AccountSettings {
        invitation_validity: hours("INVITATION_VALIDITY_HOURS", d.invitation_validity)?,
        reset_validity: Duration::from_secs_f64(
            vars.number(
                "PASSWORD_RESET_VALIDITY_MINUTES",
                d.reset_validity.as_secs_f64() / 60.0,
                0.0,
            )? * 60.0,
        ),
        setup_validity: hours("SETUP_LINK_VALIDITY_HOURS", d.setup_validity)?,
    })
}

pub(super) fn limits(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Limits, ConfigError> {
    let d = Limits::default();
    Ok(Limits {
        personal_destinations_per_user: vars.count(
            "MAX_PERSONAL_DESTINATIONS_PER_USER",
            d.personal_destinations_per_user,
        )?,
        workspace_destinations: vars
            .count("MAX_WORKSPACE_DESTINATIONS", d.workspace_destinations)?,
        sidebar_sections: vars.count("MAX_SIDEBAR_SECTIONS", d.sidebar_sections)?,
        api_tokens_per_user: vars.count("MAX_API_TOKENS_PER_USER", d.api_tokens_per_user)?,
        sessions_per_user: vars.count("MAX_SESSIONS_PER_USER", d.sessions_per_user)?,
        test_notifications_per_minute: vars.count(
            "TEST_NOTIFICATIONS_PER_MINUTE",
            d.test_notifications_per_minute,
        )?,
        resends_per_minute: vars.count("RESENDS_PER_MINUTE", d.resends_per_minute)?,
        section_tests_per_minute: vars
            .count("SECTION_TESTS_PER_MINUTE", d.section_tests_per_minute)?,
        replays_per_hour: vars.count("REPLAYS_PER_HOUR", d.replays_per_hour)?,
        resends_per_delivery: vars.count("WEBHOOK_MAX_RESENDS", d.resends_per_delivery)?,
        creation: {
            let c = d.creation;
            crate::limits::creation::CreationRates {
                tickets_per_user: vars.rate("TICKETS_PER_MINUTE_PER_USER", c.tickets_per_user)?,
                tickets_per_workspace: vars
                    .rate("TICKETS_PER_MINUTE_PER_WORKSPACE", c.tickets_per_workspace)?,
                messages_per_user: vars
                    .rate("MESSAGES_PER_MINUTE_PER_USER", c.messages_per_user)?,
                messages_per_workspace: vars.rate(
                    "MESSAGES_PER_MINUTE_PER_WORKSPACE",
                    c.messages_per_workspace,
                )?,
                notes_per_user: vars.rate("NOTES_PER_MINUTE_PER_USER", c.notes_per_user)?,
                notes_per_workspace: vars
                    .rate("NOTES_PER_MINUTE_PER_WORKSPACE", c.notes_per_workspace)?,
            }
        },
        invitations_per_hour: vars.count("INVITATIONS_PER_HOUR", d.invitations_per_hour)?,
        password_resets_per_hour: vars
            .count("PASSWORD_RESETS_PER_HOUR", d.password_resets_per_hour)?,
        password_resets_per_hour_per_address: vars.count(
            "PASSWORD_RESETS_PER_HOUR_PER_ADDRESS",
            d.password_resets_per_hour_per_address,
        )?,
    })
}
