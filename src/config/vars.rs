//! Typed reading of configuration variables: each accessor reads one variable, applies its
//! default when unset or blank, and names the variable in any error.

use std::time::Duration;

use super::ConfigError;

pub struct Vars<F> {
    get: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub fn new(get: F) -> Self {
        Vars { get }
    }

    /// The trimmed value, `None` when unset or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value parsed by `parse` (whose error says what was expected), or `default`.
    pub fn parsed<T>(
        &self,
        name: &'static str,
        default: impl FnOnce() -> T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.text(name) {
            None => Ok(default()),
            Some(raw) => parse(&raw).map_err(|reason| ConfigError {
                variable: name,
                reason,
            }),
        }
    }

    /// An optional value parsed by `parse`.
    pub fn optional<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.parsed(name, || None, |raw| parse(raw).map(Some))
    }

    /// true/false (also 1/0, yes/no, on/off).
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parsed(
            name,
            || default,
            |raw| match raw.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err("must be true or false".into()),
            },
        )
    }

    /// A number of at least `min`.
    pub fn number(&self, name: &'static str, default: f64, min: f64) -> Result<f64, ConfigError> {
        self.parsed(
            name,
            || default,
            |raw| {
                raw.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= min)
                    .ok_or(format!("must be a number of at least {min}"))
            },
        )
    }

    /// A number of seconds (fractions allowed) of at least `min`.
    pub fn seconds(
        &self,
        name: &'static str,
        default: Duration,
        min: f64,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default.as_secs_f64(), min)
            .map(Duration::from_secs_f64)
    }

    /// A rate limit: a whole number, 0 turning it off.
    pub fn rate(&self, name: &'static str, default: u32) -> Result<u32, ConfigError> {
        self.number(name, f64::from(default), 0.0)
            .map(|n| n.min(f64::from(u32::MAX)) as u32)
    }

    /// A count of at least 1.
    pub fn count(&self, name: &'static str, default: u32) -> Result<u32, ConfigError> {
        self.number(name, f64::from(default), 1.0)
            .map(|n| n.min(f64::from(u32::MAX)) as u32)
    }
}
