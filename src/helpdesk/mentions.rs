//! Finding @mentions in a private note: `@` followed by a teammate's email or handle.

/// The mentioned emails and handles, lower-cased and de-duplicated, in order of appearance.
/// An `@` inside a word (as in an email address written in prose) starts no mention.
pub fn parse_mentions(text: &str) -> Vec<String> {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '@');
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let starts_mention = c == '@'
            && !prev.is_some_and(|p| p.is_alphanumeric() || matches!(p, '.' | '_' | '-' | '+'));
        prev = Some(c);
        if !starts_mention {
            continue;
        }
        let rest = &text[i + 1..];
        let len = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        let token = rest[..len]
            .trim_end_matches(['.', '-', '@'])
            .to_ascii_lowercase();
        // Skip over the token so an email's own `@` is not read as a second mention.
        while chars.peek().is_some_and(|(j, _)| *j <= i + len) {
            prev = chars.next().map(|(_, c)| c);
        }
        if !token.is_empty() && !found.contains(&token) {
            found.push(token);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_emails_are_found() {
        assert_eq!(parse_mentions("@alex can you look?"), vec!["alex"]);
        assert_eq!(
            parse_mentions("cc @Alex.V and @sam@acme.example."),
            vec!["alex.v", "sam@acme.example"]
        );
    }

    #[test]
    fn punctuation_around_a_mention_is_not_part_of_it() {
        assert_eq!(
            parse_mentions("(@alex), @sam: @kim."),
            vec!["alex", "sam", "kim"]
        );
    }

    #[test]
    fn an_email_in_prose_is_not_a_mention() {
        assert!(parse_mentions("write to jane@example.com please").is_empty());
    }

    #[test]
    fn repeats_and_bare_at_signs_are_ignored() {
        assert_eq!(parse_mentions("@a @a @ @@ @A"), vec!["a"]);
        assert!(parse_mentions("").is_empty());
    }

    #[test]
    fn non_ascii_text_is_walked_safely() {
        assert_eq!(parse_mentions("héllo @zoë"), vec!["zo"]);
        assert_eq!(parse_mentions("日本@kim"), Vec::<String>::new());
        assert_eq!(parse_mentions("日本 @kim"), vec!["kim"]);
    }
}
