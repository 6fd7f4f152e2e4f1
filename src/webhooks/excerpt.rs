//! The excerpt of a message or note in a payload: "First 500 characters of the message, tags
//! stripped". Read with an HTML tokenizer (html5ever's), so entities are decoded as a browser
//! would and a stray `<` in prose stays text. Removing an inline tag adds nothing (`<b>Hel</b>lo`
//! is "Hello"); a block tag or `<br>` separates words like a line break; whitespace folds to
//! single spaces; the cut is at 500 characters, never inside one.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, CharacterTokens, NullCharacterToken, TagToken, Token, TokenSink, TokenSinkResult,
    Tokenizer, TokenizerOpts,
};

pub const EXCERPT_CHARS: usize = 500;

/// Elements that start a new line or block where they stand: stripping them leaves a space.
const BREAKING: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Elements whose content is never prose.
const HIDDEN: &[&str] = &["script", "style", "template", "head", "title"];

pub fn excerpt(text: &str) -> String {
    let sink = TextSink::default();
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(text));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let collected = tokenizer.sink.text.into_inner();
    let folded = collected.split_whitespace().collect::<Vec<_>>().join(" ");
    folded.chars().take(EXCERPT_CHARS).collect()
}

#[derive(Default)]
struct TextSink {
    text: RefCell<String>,
    hidden_depth: RefCell<usize>,
}

impl TokenSink for TextSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            CharacterTokens(chars) if *self.hidden_depth.borrow() == 0 => {
                self.text.borrow_mut().push_str(&chars);
            }
            NullCharacterToken => {}
            TagToken(tag) => {
                let name: &str = &tag.name;
                if HIDDEN.contains(&name) {
                    let mut depth = self.hidden_depth.borrow_mut();
                    match tag.kind {
                        html5ever::tokenizer::StartTag if !tag.self_closing => *depth += 1,
                        html5ever::tokenizer::EndTag => *depth = depth.saturating_sub(1),
                        _ => {}
                    }
                } else if BREAKING.contains(&name) {
                    self.text.borrow_mut().push(' ');
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_tags_vanish_without_a_space() {
        assert_eq!(excerpt("can you <b>check</b>?"), "can you check?");
        assert_eq!(excerpt("<b>Hel</b>lo"), "Hello");
        assert_eq!(excerpt("<a href=\"https://x.example\">link</a>!"), "link!");
    }

    #[test]
    fn block_tags_and_line_breaks_become_one_space() {
        assert_eq!(
            excerpt("<p>Thanks,</p><p>that worked.</p>"),
            "Thanks, that worked."
        );
        assert_eq!(excerpt("one<br>two<br/>three"), "one two three");
        assert_eq!(excerpt("<ul><li>a</li><li>b</li></ul>"), "a b");
    }

    #[test]
    fn entities_are_decoded_and_whitespace_folded() {
        assert_eq!(
            excerpt("Tom &amp; Jerry &lt;3 &quot;hi&quot; &#39;x&#x27;"),
            "Tom & Jerry <3 \"hi\" 'x'"
        );
        // A no-break space is whitespace too: it folds like any other.
        assert_eq!(excerpt("a&nbsp;&nbsp;b"), "a b");
        assert_eq!(excerpt("line one\n\nline   two"), "line one line two");
    }

    #[test]
    fn prose_with_angle_brackets_stays_as_written() {
        assert_eq!(excerpt("a < b and c > d"), "a < b and c > d");
        assert_eq!(excerpt("1<2"), "1<2");
    }

    #[test]
    fn scripts_and_styles_are_not_prose() {
        assert_eq!(
            excerpt("<script>alert(1)</script>ok<style>p{}</style>"),
            "ok"
        );
    }

    #[test]
    fn five_hundred_characters_never_split() {
        assert_eq!(excerpt(&"é".repeat(600)).chars().count(), 500);
        let emoji = "👍🏽".repeat(400);
        let cut = excerpt(&emoji);
        assert_eq!(cut.chars().count(), 500);
        assert!(emoji.starts_with(&cut));
    }
}
