//! Run ids and request ids: what they may contain, so they are safe inside Redis SCAN
//! patterns, Kafka topic names and Temporal workflow ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest request id (characters).
pub const MAX_REQUEST_ID: usize = 128;
/// Longest run id (characters).
pub const MAX_RUN_ID: usize = 64;

/// An id that breaks its rule, with the rule in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// Characters of an invalid id a message shows: a 10 KB id is not echoed whole.
const SHOWN: usize = 64;

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Escaped: an id with a newline or an escape sequence is shown, not obeyed.
        let shown: String = self
            .value
            .chars()
            .take(SHOWN)
            .flat_map(char::escape_debug)
            .collect();
        let total = self.value.chars().count();
        if total > SHOWN {
            write!(
                f,
                "invalid {} '{shown}…' ({total} characters): {}",
                self.what, self.rule
            )
        } else {
            write!(f, "invalid {} '{shown}': {}", self.what, self.rule)
        }
    }
}

impl std::error::Error for InvalidId {}

const REQUEST_ID_RULE: &str = "use 1-128 characters of A-Z, a-z, 0-9, '-', '_' and '.'";
const RUN_ID_RULE: &str =
    "use 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit";

/// A request id: 1–128 of `[A-Za-z0-9._-]`.
pub fn check_request_id(id: &str) -> Result<(), InvalidId> {
    let valid = (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(InvalidId {
            what: "request_id",
            value: id.to_string(),
            rule: REQUEST_ID_RULE,
        })
    }
}

/// A validated run id: 1–64 of `[a-z0-9-]`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let valid = (1..=MAX_RUN_ID).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidId {
                what: "run id",
                value: s.to_string(),
                rule: RUN_ID_RULE,
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RunId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> Self {
        id.0
    }
}

impl std::str::FromStr for RunId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_or_odd_id_is_shown_cut_and_escaped() {
        let long = check_request_id(&"x".repeat(10_000)).expect_err("too long");
        let shown = long.to_string();
        assert!(
            shown.len() < 300 && shown.contains("(10000 characters)"),
            "{shown}"
        );
        let odd = check_request_id("a\nb").expect_err("newline");
        assert!(odd.to_string().contains("'a\\nb'"), "{odd}");
    }

    #[test]
    fn run_ids_with_glob_or_topic_unsafe_characters_are_refused() {
        for bad in ["", "-x", "a*", "a:b", "A", "a b", &"x".repeat(65)] {
            assert!(RunId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            RunId::parse("20261121-104233-3f9a")
                .map(String::from)
                .as_deref(),
            Ok("20261121-104233-3f9a")
        );
    }

    #[test]
    fn request_ids_follow_their_rule() {
        for ok in ["smoke-req-1", "A.b_c", &"x".repeat(128)] {
            assert_eq!(check_request_id(ok), Ok(()), "{ok:?}");
        }
        for bad in ["", "a b", "a*", "a:b", &"x".repeat(129)] {
            let e = check_request_id(bad).expect_err(bad);
            assert!(e.to_string().contains("1-128 characters"), "{e}");
        }
    }
}
