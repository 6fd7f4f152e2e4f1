//! Reading an endpoint's answer: the response must be a JSON object with a `data` array;
//! each item is then judged on its own, so one malformed item never fails the section.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde_json::Value;

/// At most this many items are shown; endpoints are third parties and may send anything.
pub const MAX_ITEMS: usize = 100;
/// Longer names and text values are cut (with an ellipsis) before rendering.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 5_000;

/// Why a response is not usable section data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("invalid JSON")]
    InvalidJson,
    #[error("the response is not a JSON object with a \"data\" array")]
    NoDataArray,
}

/// The bounds an endpoint's `cache_seconds` is clamped to: 15 s to 24 h.
pub const MIN_CACHE_SECONDS: u32 = 15;
pub const MAX_CACHE_SECONDS: u32 = 86_400;

/// A usable answer: its `data` items, and how long the endpoint asked it to be reused.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub items: Vec<Value>,
    /// `cache_seconds` beside `data`, clamped; `None` when absent or not a number (then the
    /// configured cache time holds).
    pub cache_seconds: Option<u32>,
}

/// The `data` array of a response body, and its `cache_seconds` if it has one.
pub fn read_answer(body: &[u8]) -> Result<Answer, DataError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| DataError::InvalidJson)?;
    let Value::Object(mut object) = value else {
        return Err(DataError::NoDataArray);
    };
    let Some(Value::Array(items)) = object.remove("data") else {
        return Err(DataError::NoDataArray);
    };
    let cache_seconds = object
        .get("cache_seconds")
        .and_then(Value::as_f64)
        .filter(|n| n.is_finite())
        .map(|n| n.clamp(f64::from(MIN_CACHE_SECONDS), f64::from(MAX_CACHE_SECONDS)) as u32);
    Ok(Answer {
        items,
        cache_seconds,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemValue {
    Markdown(String),
    /// The number exactly as sent (its JSON text), and as a float for formatting.
    Numeric(String),
    Date(DateValue),
    Boolean(bool),
    Url(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Valid {
        name: String,
        value: ItemValue,
    },
    /// Shown as plain escaped text, and listed as a problem in the Test view.
    Malformed {
        name: String,
        shown: String,
        problem: String,
    },
}

/// Judges every item; returns the items to render and the problems found, numbered from 1.
pub fn judge_items(items: &[Value]) -> (Vec<Item>, Vec<String>) {
    let mut problems = Vec::new();
    let mut judged: Vec<Item> = items
        .iter()
        .take(MAX_ITEMS)
        .enumerate()
        .map(|(i, raw)| {
            let item = judge(raw);
            if let Item::Malformed { problem, .. } = &item {
                problems.push(format!("Item {}: {problem}", i + 1));
            }
            item
        })
        .collect();
    if items.len() > MAX_ITEMS {
        problems.push(format!(
            "Only the first {MAX_ITEMS} of {} items are shown.",
            items.len()
        ));
    }
    judged.shrink_to_fit();
    (judged, problems)
}

fn judge(raw: &Value) -> Item {
    let Some(object) = raw.as_object() else {
        return Item::Malformed {
            name: String::new(),
            shown: cut(&raw.to_string(), MAX_TEXT_CHARS),
            problem: "is not an object with name, value and type".into(),
        };
    };
    let name = match object.get("name") {
        Some(Value::String(s)) => cut(s, MAX_NAME_CHARS),
        Some(other) => cut(&other.to_string(), MAX_NAME_CHARS),
        None => String::new(),
    };
    let value = object.get("value").unwrap_or(&Value::Null);
    let shown = || match value {
        Value::String(s) => cut(s, MAX_TEXT_CHARS),
        other => cut(&other.to_string(), MAX_TEXT_CHARS),
    };
    let malformed = |problem: String| Item::Malformed {
        name: name.clone(),
        shown: shown(),
        problem,
    };
    if !matches!(object.get("name"), Some(Value::String(_))) {
        return malformed("\"name\" must be a string".into());
    }
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        _ => {
            return malformed(
                "\"type\" must be one of markdown, numeric, date, boolean, url".into(),
            );
        }
    };
    let value = match (kind, value) {
        ("markdown", Value::String(s)) => ItemValue::Markdown(cut(s, MAX_TEXT_CHARS)),
        ("numeric", Value::Number(n)) => ItemValue::Numeric(n.to_string()),
        ("date", Value::String(s)) => match parse_date(s) {
            Some(date) => ItemValue::Date(date),
            None => return malformed(format!("{:?} is not an ISO 8601 date", cut(s, 60))),
        },
        ("boolean", Value::Bool(b)) => ItemValue::Boolean(*b),
        ("url", Value::String(s)) => match url::Url::parse(s.trim()) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && s.len() <= 2048 =>
            {
                ItemValue::Url(u.to_string())
            }
            _ => return malformed("a url value must be an http:// or https:// URL".into()),
        },
        ("markdown" | "numeric" | "date" | "boolean" | "url", other) => {
            return malformed(format!("a {kind} value can't be {}", json_kind(other)));
        }
        (other, _) => return malformed(format!("unknown type {:?}", cut(other, 40))),
    };
    Item::Valid { name, value }
}

/// A date as the spec's "formatted date": a calendar day, the same in every time zone, or an
/// instant, shown in the agent's own zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateValue {
    /// A date without a time (`2025-06-15`), or midnight UTC (`2025-06-15T00:00:00Z`, the
    /// spec's own example): a day on the calendar, not a moment.
    Calendar(NaiveDate),
    Instant(DateTime<Utc>),
}

impl DateValue {
    /// The `datetime` attribute: `2025-06-15`, or `2025-06-15T08:00:00Z` (always UTC).
    pub fn machine(&self) -> String {
        match self {
            DateValue::Calendar(day) => day.format("%Y-%m-%d").to_string(),
            DateValue::Instant(at) => at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        }
    }

    /// The text shown before the browser formats it (and without script).
    pub fn fallback(&self) -> String {
        match self {
            DateValue::Calendar(day) => day.format("%Y-%m-%d").to_string(),
            DateValue::Instant(at) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// The ISO 8601 forms endpoints send: a date alone; a date and time with `T` or a space, with
/// or without seconds, with fractional seconds, with `Z`, `±hh:mm`, `±hhmm` or `±hh`; or with
/// no offset at all, which is read as UTC (the service cannot know the endpoint's zone).
fn parse_date(s: &str) -> Option<DateValue> {
    let s = s.trim();
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(DateValue::Calendar(day));
    }
    let at = parse_instant(s)?;
    let midnight_utc = at.time() == NaiveTime::MIN;
    Some(if midnight_utc {
        DateValue::Calendar(at.date_naive())
    } else {
        DateValue::Instant(at)
    })
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    // One canonical shape to parse: `T` between date and time, `Z` as +00:00.
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let time = time.trim();
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    // Compared and split as characters, never by byte index: an endpoint may put a
    // multi-byte character anywhere (`+1é1` once panicked here).
    let offset_chars: Vec<char> = offset.chars().collect();
    let offset = match offset_chars.as_slice() {
        [] | ['Z' | 'z'] => "+00:00".to_string(),
        [_, _, _] => format!("{offset}:00"),
        [sign, h1, h2, m1, m2] if !offset.contains(':') => format!("{sign}{h1}{h2}:{m1}{m2}"),
        _ => offset.to_string(),
    };
    let clock = if clock.matches(':').count() == 1 {
        format!("{clock}:00")
    } else {
        clock.to_string()
    };
    DateTime::<FixedOffset>::parse_from_rfc3339(&format!("{date}T{clock}{offset}"))
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn cut(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_spec_example_is_all_valid() {
        let body = br#"{"data":[
            {"name":"Plan","value":"Pro","type":"markdown"},
            {"name":"MRR","value":49.99,"type":"numeric"},
            {"name":"Member since","value":"2025-06-15T00:00:00Z","type":"date"},
            {"name":"Active","value":true,"type":"boolean"},
            {"name":"Dashboard","value":"https://app.example.com/users/123","type":"url"}]}"#;
        let (items, problems) = judge_items(&read_answer(body).unwrap().items);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            items[1],
            Item::Valid {
                name: "MRR".into(),
                value: ItemValue::Numeric("49.99".into())
            }
        );
        assert_eq!(
            items[2],
            Item::Valid {
                name: "Member since".into(),
                value: ItemValue::Date(DateValue::Calendar(
                    NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
                ))
            }
        );
    }

    #[test]
    fn responses_without_a_data_array_are_failures() {
        assert_eq!(read_answer(b"not json"), Err(DataError::InvalidJson));
        assert_eq!(read_answer(b"[]"), Err(DataError::NoDataArray));
        assert_eq!(read_answer(br#"{"data":{}}"#), Err(DataError::NoDataArray));
        assert_eq!(read_answer(br#"{"items":[]}"#), Err(DataError::NoDataArray));
        let empty = Answer {
            items: vec![],
            cache_seconds: None,
        };
        assert_eq!(read_answer(br#"{"data":[]}"#), Ok(empty));
    }

    #[test]
    fn cache_seconds_is_read_and_clamped_and_otherwise_ignored() {
        let seconds = |body: &str| read_answer(body.as_bytes()).unwrap().cache_seconds;
        assert_eq!(seconds(r#"{"data":[],"cache_seconds":120}"#), Some(120));
        assert_eq!(
            seconds(r#"{"data":[],"cache_seconds":1}"#),
            Some(MIN_CACHE_SECONDS)
        );
        assert_eq!(
            seconds(r#"{"data":[],"cache_seconds":1e9}"#),
            Some(MAX_CACHE_SECONDS)
        );
        assert_eq!(
            seconds(r#"{"data":[],"cache_seconds":-5}"#),
            Some(MIN_CACHE_SECONDS)
        );
        assert_eq!(seconds(r#"{"data":[],"cache_seconds":"soon"}"#), None);
        assert_eq!(seconds(r#"{"data":[]}"#), None);
    }

    #[test]
    fn malformed_items_are_kept_as_text_and_reported() {
        let raw = vec![
            json!({"name": "Odd", "value": "x", "type": "chart"}),
            json!({"name": "MRR", "value": "49.99", "type": "numeric"}),
            json!({"name": "Link", "value": "javascript:alert(1)", "type": "url"}),
            json!({"name": "When", "value": "yesterday", "type": "date"}),
            json!({"name": "On", "value": "yes", "type": "boolean"}),
            json!("just a string"),
            json!({"value": 1, "type": "numeric"}),
            json!({"name": "Fine", "value": 1, "type": "numeric"}),
        ];
        let (items, problems) = judge_items(&raw);
        assert_eq!(problems.len(), 7, "{problems:?}");
        assert!(problems[0].contains("unknown type"));
        assert!(problems[1].contains("can't be a string"));
        assert!(
            matches!(&items[2], Item::Malformed { shown, .. } if shown == "javascript:alert(1)")
        );
        assert!(matches!(items[7], Item::Valid { .. }));
    }

    #[test]
    fn huge_values_and_lists_are_capped() {
        let raw: Vec<Value> = (0..150).map(|i| json!({"name": "n".repeat(1000), "value": "v".repeat(100_000), "type": "markdown", "i": i})).collect();
        let (items, problems) = judge_items(&raw);
        assert_eq!(items.len(), MAX_ITEMS);
        assert!(problems.last().unwrap().contains("first 100 of 150"));
        let Item::Valid {
            name,
            value: ItemValue::Markdown(text),
        } = &items[0]
        else {
            panic!()
        };
        assert_eq!(name.chars().count(), MAX_NAME_CHARS + 1);
        assert_eq!(text.chars().count(), MAX_TEXT_CHARS + 1);
    }

    #[test]
    fn multi_byte_characters_in_a_date_are_refused_not_a_panic() {
        for raw in [
            "2025-06-15T10:00+1é1",
            "2025-06-15T10:00+é",
            "2025-06-15Té",
            "é-06-15",
            "2025-06-15T10:00+1é",
        ] {
            assert_eq!(parse_date(raw), None, "{raw}");
        }
        let (items, problems) =
            judge_items(&[json!({"name": "D", "value": "2025-06-15T10:00+1é1", "type": "date"})]);
        assert!(matches!(items[0], Item::Malformed { .. }));
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn a_date_alone_and_midnight_utc_are_calendar_days() {
        let day = |y, m, d| {
            Some(DateValue::Calendar(
                NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            ))
        };
        assert_eq!(parse_date("2025-06-15"), day(2025, 6, 15));
        assert_eq!(parse_date("2025-06-15T00:00:00Z"), day(2025, 6, 15));
        assert_eq!(
            parse_date("2025-06-15T00:00:00.000+00:00"),
            day(2025, 6, 15)
        );
        assert_eq!(parse_date("2025-06-15T00:00Z"), day(2025, 6, 15));
        // Midnight elsewhere is a moment: 22:00 UTC the day before.
        assert_eq!(
            parse_date("2025-06-15T00:00:00+02:00").unwrap().machine(),
            "2025-06-14T22:00:00Z"
        );
    }

    #[test]
    fn the_iso_forms_endpoints_send_are_instants_in_utc() {
        let machine = |s: &str| parse_date(s).map(|d| d.machine());
        let cases = [
            ("2025-06-15T10:00:00+02:00", "2025-06-15T08:00:00Z"),
            ("2025-06-15T10:00+02:00", "2025-06-15T08:00:00Z"),
            ("2025-06-15T10:00:00.123Z", "2025-06-15T10:00:00.123Z"),
            ("2025-06-15 10:00:00Z", "2025-06-15T10:00:00Z"),
            ("2025-06-15t10:00:00z", "2025-06-15T10:00:00Z"),
            ("2025-06-15T10:00:00+0200", "2025-06-15T08:00:00Z"),
            ("2025-06-15T10:00:00-05", "2025-06-15T15:00:00Z"),
            // No offset: read as UTC.
            ("2025-06-15T10:00:00", "2025-06-15T10:00:00Z"),
            ("2025-06-15T10:00", "2025-06-15T10:00:00Z"),
        ];
        for (given, expected) in cases {
            assert_eq!(machine(given).as_deref(), Some(expected), "{given}");
        }
        for bad in [
            "15/06/2025",
            "yesterday",
            "2025-13-01",
            "2025-06-15T25:00:00Z",
            "2025-06-15T",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any JSON value, strings of any Unicode, nested a few levels.
        pub fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<f64>().prop_map(|n| json!(n)),
                any::<i64>().prop_map(|n| json!(n)),
                any::<String>().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    proptest::collection::btree_map(any::<String>(), inner, 0..8)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// An item as endpoints send them, with any Unicode where text goes.
        fn any_item() -> impl Strategy<Value = Value> {
            let kind = prop_oneof![
                Just("markdown".to_string()),
                Just("numeric".to_string()),
                Just("date".to_string()),
                Just("boolean".to_string()),
                Just("url".to_string()),
                any::<String>(),
            ];
            (any::<String>(), any_json(), kind)
                .prop_map(|(name, value, kind)| json!({"name": name, "value": value, "type": kind}))
        }

        /// Strings shaped like ISO dates, with any characters where the offset and clock go.
        fn date_like() -> impl Strategy<Value = String> {
            (0u32..3000, 0u32..14, 0u32..33, ".{0,3}", ".{0,8}", ".{0,7}").prop_map(
                |(y, m, d, sep, clock, offset)| format!("{y:04}-{m:02}-{d:02}{sep}{clock}{offset}"),
            )
        }

        proptest! {
            #[test]
            fn any_bytes_are_an_answer_or_a_refusal(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = read_answer(&body);
            }

            #[test]
            fn any_items_are_judged_and_rendered(items in proptest::collection::vec(any_item(), 0..12)) {
                let (judged, problems) = judge_items(&items);
                prop_assert_eq!(judged.len(), items.len());
                prop_assert!(problems.len() <= items.len());
                let html = crate::sidebar::render::render_items(&judged);
                prop_assert!(!html.to_ascii_lowercase().contains("<script"));
            }

            #[test]
            fn any_date_text_is_a_date_or_refused(raw in prop_oneof![any::<String>(), date_like()]) {
                if let Some(date) = parse_date(&raw) {
                    prop_assert!(!date.machine().is_empty() && !date.fallback().is_empty());
                }
            }

            #[test]
            fn any_markdown_is_made_safe(text in any::<String>()) {
                let html = crate::sidebar::render::markdown_to_safe_html(&text).to_ascii_lowercase();
                prop_assert!(!html.contains("<script") && !html.contains("javascript:"));
            }
        }
    }
}
