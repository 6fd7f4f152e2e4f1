//! `APP_URL`: where users reach the service, and the absolute links made under it (in
//! webhook payloads and emails).

use std::ops::Deref;

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUrl(Url);

impl AppUrl {
    pub fn new(url: Url) -> Self {
        AppUrl(url)
    }

    /// An absolute URL for a path such as `/tickets/4`, keeping any path `APP_URL` has.
    pub fn link(&self, path: &str) -> String {
        let base = self.0.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

impl std::fmt::Display for AppUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Deref for AppUrl {
    type Target = Url;

    fn deref(&self) -> &Url {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_base_path_and_never_double_a_slash() {
        let at = |base: &str| AppUrl::new(Url::parse(base).unwrap());
        assert_eq!(
            at("https://help.example.com/").link("/tickets/4"),
            "https://help.example.com/tickets/4"
        );
        assert_eq!(
            at("https://example.com/help/").link("/tickets/4"),
            "https://example.com/help/tickets/4"
        );
    }
}
