//! Rules for fields people type: trimmed, bounded, and rejected with a message naming the field.

use crate::error::AppError;

/// Trims `value` and checks its length in characters.
pub fn required_text(
    field: &str,
    label: &str,
    value: &str,
    max_chars: usize,
) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::validation(
            field,
            format!("{label} can't be empty."),
        ));
    }
    if value.chars().count() > max_chars {
        return Err(AppError::validation(
            field,
            format!("{label} must be at most {max_chars} characters."),
        ));
    }
    if value.contains('\0') {
        return Err(AppError::validation(
            field,
            format!("{label} can't contain a NUL character."),
        ));
    }
    Ok(value.to_string())
}

/// A plausible email address, trimmed; the mail server is the final judge.
pub fn email(field: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let plausible = value.len() <= 320
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if plausible {
        Ok(value.to_string())
    } else {
        Err(AppError::validation(
            field,
            "Enter a valid email address, like jane@example.com.",
        ))
    }
}

pub const MAX_BODY_CHARS: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_judged() {
        assert_eq!(
            email("e", "  jane@example.com ").unwrap(),
            "jane@example.com"
        );
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "a b@example.com",
            "a@b@c.com",
            "<a@b.com>",
        ] {
            assert!(email("e", bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(required_text("s", "Subject", "  hi ", 5).unwrap(), "hi");
        assert!(required_text("s", "Subject", "   ", 5).is_err());
        assert!(required_text("s", "Subject", "ééééé", 5).is_ok());
        assert!(required_text("s", "Subject", "éééééé", 5).is_err());
        assert!(required_text("s", "Subject", "a\0b", 5).is_err());
    }
}
