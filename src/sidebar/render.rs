//! Turning judged items into HTML that is safe to put in the agent's page. Everything from
//! the endpoint is escaped; markdown keeps only links, bold, italic and line breaks; only
//! http(s) (and mailto in markdown) links are ever links. Numbers and dates carry their raw
//! value so the browser formats them in the agent's locale and time zone.

use std::collections::HashSet;
use std::sync::OnceLock;

use askama::Template;

use super::items::{self, DateValue, Item, ItemValue};
use super::load::{LoadStatus, SectionLoad};

/// One item, ready for the template.
pub struct RenderedItem {
    pub name: String,
    pub kind: &'static str,
    /// Plain text, escaped by the template.
    pub text: String,
    /// Already-sanitised HTML (markdown only).
    pub html: String,
    pub href: String,
    /// A date's machine form for `<time datetime>`.
    pub datetime: String,
    pub flag: bool,
}

#[derive(Template)]
#[template(path = "sidebar/items.html")]
struct ItemsFragment<'a> {
    items: &'a [RenderedItem],
}

/// The HTML for a list of items.
pub fn render_items(items: &[Item]) -> String {
    let rendered: Vec<RenderedItem> = items.iter().map(render_item).collect();
    ItemsFragment { items: &rendered }
        .render()
        .unwrap_or_default()
}

fn render_item(item: &Item) -> RenderedItem {
    let blank = |name: &str, kind: &'static str| RenderedItem {
        name: name.to_string(),
        kind,
        text: String::new(),
        html: String::new(),
        href: String::new(),
        datetime: String::new(),
        flag: false,
    };
    match item {
        Item::Malformed { name, shown, .. } => RenderedItem {
            text: shown.clone(),
            ..blank(name, "text")
        },
        Item::Valid { name, value } => match value {
            ItemValue::Markdown(md) => RenderedItem {
                html: markdown_to_safe_html(md),
                ..blank(name, "markdown")
            },
            ItemValue::Numeric(n) => RenderedItem {
                text: n.clone(),
                ..blank(name, "numeric")
            },
            ItemValue::Date(date) => RenderedItem {
                text: date.fallback(),
                datetime: date.machine(),
                ..blank(
                    name,
                    match date {
                        DateValue::Calendar(_) => "date-only",
                        DateValue::Instant(_) => "date",
                    },
                )
            },
            ItemValue::Boolean(b) => RenderedItem {
                flag: *b,
                ..blank(name, "boolean")
            },
            ItemValue::Url(u) => RenderedItem {
                text: u.clone(),
                href: u.clone(),
                ..blank(name, "url")
            },
        },
    }
}

/// Markdown to HTML with only `a`, `strong`/`b`, `em`/`i`, `br` and `p` kept.
pub fn markdown_to_safe_html(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::empty());
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    sanitizer().clean(&html).to_string()
}

fn sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut builder = ammonia::Builder::empty();
        builder
            .tags(HashSet::from(["a", "strong", "b", "em", "i", "br", "p"]))
            .tag_attributes([("a", HashSet::from(["href"]))].into())
            .url_schemes(HashSet::from(["http", "https", "mailto"]))
            .url_relative(ammonia::UrlRelative::Deny)
            .link_rel(Some("noopener noreferrer"))
            .set_tag_attribute_value("a", "target", "_blank");
        builder
    })
}

/// The HTML of a loaded section's body: its items, or a short error.
pub fn render_load(load: &SectionLoad) -> String {
    if load.stale
        && let (Some(items), Some(fetched_at)) = (&load.items, load.fetched_at)
    {
        let (judged, _) = items::judge_items(items);
        let error = load.error.as_deref().unwrap_or("unknown error");
        return format!(
            "<p class=\"section-stale\" role=\"status\">Stale \u{2014} couldn\u{2019}t refresh: {}. Data from {}.</p>{}",
            escape(error),
            age_text(chrono::Utc::now() - fetched_at),
            render_items(&judged)
        );
    }
    match (&load.status, &load.items) {
        (LoadStatus::Ok, Some(items)) => {
            let (judged, _) = items::judge_items(items);
            if judged.is_empty() {
                "<p class=\"muted section-empty\">Nothing to show</p>".into()
            } else {
                render_items(&judged)
            }
        }
        (LoadStatus::Disabled, _) => "<p class=\"muted\">This section is disabled.</p>".into(),
        _ => {
            let error = load.error.as_deref().unwrap_or("unknown error");
            format!(
                "<p class=\"section-error\">Couldn\u{2019}t load: {}</p>",
                escape(error)
            )
        }
    }
}

/// "5 minutes ago", "3 hours ago".
fn age_text(age: chrono::Duration) -> String {
    let minutes = age.num_minutes().max(0);
    match minutes {
        0 => "less than a minute ago".into(),
        1 => "1 minute ago".into(),
        2..=59 => format!("{minutes} minutes ago"),
        _ => match (minutes + 30) / 60 {
            1 => "1 hour ago".into(),
            hours => format!("{hours} hours ago"),
        },
    }
}

fn escape(text: &str) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_links_bold_and_italic_only() {
        let html = markdown_to_safe_html(
            "**Pro** plan, *annual* — [invoice](https://billing.example.com/i/1)",
        );
        assert!(html.contains("<strong>Pro</strong>"));
        assert!(html.contains("<em>annual</em>"));
        assert!(
            html.contains(r#"<a href="https://billing.example.com/i/1" target="_blank" rel="noopener noreferrer">invoice</a>"#),
            "{html}"
        );
    }

    #[test]
    fn hostile_markdown_is_inert() {
        for (input, forbidden) in [
            ("<script>alert(1)</script>", "<script"),
            ("[x](javascript:alert(1))", "javascript:"),
            ("<img src=x onerror=alert(1)>", "<img"),
            ("![x](https://evil.example/p.png)", "<img"),
            ("[x](//evil.example/relative)", "evil.example"),
            (
                "<a href=\"https://x.example\" onclick=\"alert(1)\">x</a>",
                "onclick",
            ),
            ("<iframe src=https://evil.example></iframe>", "<iframe"),
            ("# Heading", "<h1"),
        ] {
            let html = markdown_to_safe_html(input);
            assert!(!html.contains(forbidden), "{input:?} gave {html:?}");
        }
        assert!(
            markdown_to_safe_html("[mail](mailto:a@example.com)")
                .contains("href=\"mailto:a@example.com\"")
        );
    }

    #[test]
    fn text_values_are_escaped_by_the_template() {
        let items = vec![
            Item::Malformed {
                name: "<b>n</b>".into(),
                shown: "<script>alert(1)</script>".into(),
                problem: String::new(),
            },
            Item::Valid {
                name: "u".into(),
                value: ItemValue::Url("https://x.example/?a=\"><script>".into()),
            },
        ];
        let html = render_items(&items);
        assert!(
            !html.contains("<script>") && !html.contains("<b>n"),
            "{html}"
        );
        assert!(html.contains("target=\"_blank\"") && html.contains("rel=\"noopener noreferrer\""));
    }
}
