//! Text that came from a plugin, made safe to show: control characters (newlines, ANSI
//! escapes, bidirectional overrides) are escaped so that nothing a plugin says can look
//! like a line of the host's own output, and the length is bounded.

use std::fmt::Write;

/// The longest plugin text the host puts in a log line or an error message.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Escapes control and bidi characters (`\n` → `\\n`, ESC → `\\u{1b}`) and cuts the text
/// to at most `max` bytes of escaped output, saying how much was cut.
pub fn escape(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for (i, c) in text.char_indices() {
        let before = out.len();
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
        if out.len() > max {
            out.truncate(before);
            let _ = write!(out, "… ({} more bytes)", text.len() - i);
            break;
        }
    }
    out
}

/// Whether `text` is already safe, so callers can keep it without copying.
pub fn is_clean(text: &str) -> bool {
    !text
        .chars()
        .any(|c| matches!(c, '\n' | '\r' | '\t') || needs_escape(c))
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        // Bidirectional embeddings, overrides and isolates reorder what a terminal shows.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// Escapes `text` in place when it needs it; returns the bytes it had.
pub fn clean_in_place(text: &mut String, max: usize) -> usize {
    let len = text.len();
    if len > max || !is_clean(text) {
        *text = escape(text, max);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newline_cannot_start_a_line() {
        let forged = "ok\n    PASS forged · 99/99 checks\nverdict: PASSED";
        let shown = escape(forged, 1000);
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.contains("\\nverdict: PASSED"), "{shown}");
    }

    #[test]
    fn ansi_and_bidi_are_escaped() {
        assert_eq!(escape("\x1b[2Jx", 100), "\\u{1b}[2Jx");
        assert_eq!(escape("a\u{202e}b", 100), "a\\u{202e}b");
        assert!(is_clean("plain text, ünïcode"));
        assert!(!is_clean("a\rb"));
    }

    #[test]
    fn long_text_is_cut_and_says_so() {
        let shown = escape(&"é".repeat(10_000), 100);
        assert!(shown.len() <= 100 + 32, "{}", shown.len());
        assert!(shown.ends_with("more bytes)"), "{shown}");
    }
}
