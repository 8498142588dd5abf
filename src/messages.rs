//! Session messages and user state: what the visitor API (`sendSessionMessage`, `setUserState`)
//! and the agent side may put on the wire, checked the same way by the engine (before sending,
//! so a bad call becomes a clear `error` event) and by the server (before relaying).
//!
//! Payloads arrive as JSON text (the browser's `JSON.stringify`), so the checks are on text:
//! a message payload must be a JSON object (the product's agent API: "msg must be an object"),
//! a user-state value may be any JSON value, and both are size-bounded.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use core::fmt;

/// Longest message or user-state name (bytes).
pub const MAX_NAME: usize = 64;
/// Largest message payload (bytes of JSON).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Largest user-state value (bytes of JSON).
pub const MAX_STATE_VALUE_BYTES: usize = 4 * 1024;
/// Most user-state names on one session.
pub const MAX_STATE_NAMES: usize = 64;
/// Messages kept while the connection is down (then the oldest are dropped, and said so).
pub const MAX_QUEUED: usize = 64;

/// Why a message or a user-state entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// The name is empty, too long, or has control characters.
    Name,
    /// The payload is not a JSON object (it was this kind of value).
    NotObject(&'static str),
    /// The value could not be turned into JSON (`undefined`, a function, a cycle).
    NotJson,
    /// The JSON is larger than `limit` bytes.
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The session already holds [`MAX_STATE_NAMES`] user-state names.
    TooManyNames,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Name => write!(
                f,
                "the name must be 1 to {MAX_NAME} bytes without control characters"
            ),
            MessageError::NotObject(kind) => {
                write!(f, "the message must be an object, not {kind}")
            }
            MessageError::NotJson => f.write_str("the value cannot be turned into JSON"),
            MessageError::TooLarge { bytes, limit } => {
                write!(f, "{bytes} bytes of JSON is more than the {limit} allowed")
            }
            MessageError::TooManyNames => {
                write!(
                    f,
                    "a session holds at most {MAX_STATE_NAMES} user-state names"
                )
            }
        }
    }
}

impl core::error::Error for MessageError {}

/// Checks a message or user-state name.
pub fn check_name(name: &str) -> Result<(), MessageError> {
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(MessageError::Name);
    }
    Ok(())
}

/// The kind of JSON value `json` holds, from its first character (`JSON.stringify` output).
pub fn json_kind(json: &str) -> &'static str {
    match json.trim_start().bytes().next() {
        None => "undefined",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(_) => "a number",
    }
}

/// Checks a session message: a valid name and a JSON object of bounded size.
pub fn check_message(name: &str, json: &str) -> Result<(), MessageError> {
    check_name(name)?;
    match json_kind(json) {
        "an object" => {}
        "undefined" => return Err(MessageError::NotObject("undefined")),
        kind => return Err(MessageError::NotObject(kind)),
    }
    if json.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge {
            bytes: json.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

/// Checks a user-state entry: a valid name and a bounded JSON value. `names` is how many names
/// the session holds, `known` whether `name` is one of them (replacing never adds a name).
pub fn check_state(name: &str, json: &str, names: usize, known: bool) -> Result<(), MessageError> {
    check_name(name)?;
    if json.trim().is_empty() {
        return Err(MessageError::NotJson);
    }
    if json.len() > MAX_STATE_VALUE_BYTES {
        return Err(MessageError::TooLarge {
            bytes: json.len(),
            limit: MAX_STATE_VALUE_BYTES,
        });
    }
    if !known && names >= MAX_STATE_NAMES && json.trim() != "null" {
        return Err(MessageError::TooManyNames);
    }
    Ok(())
}

/// A session's user state: names to JSON values, in the order they were first set (a small
/// list; lighter in the wasm than a map).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserState(Vec<(String, String)>);

impl UserState {
    /// The JSON value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `json`; `null` removes it.
    pub fn set(&mut self, name: &str, json: &str) {
        let at = self.0.iter().position(|(k, _)| k == name);
        match (at, json.trim() == "null") {
            (Some(i), true) => {
                self.0.remove(i);
            }
            (Some(i), false) => self.0[i].1 = json.to_string(),
            (None, true) => {}
            (None, false) => self.0.push((name.to_string(), json.to_string())),
        }
    }

    /// True when `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// (name, JSON) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A state holding these (name, JSON) pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> UserState {
        let mut s = UserState::default();
        for (k, v) in pairs {
            s.set(&k, &v);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("cart").is_ok());
        assert!(check_name("état").is_ok());
        assert_eq!(check_name(""), Err(MessageError::Name));
        assert_eq!(check_name("a\nb"), Err(MessageError::Name));
        assert_eq!(
            check_name(&"x".repeat(MAX_NAME + 1)),
            Err(MessageError::Name)
        );
        assert!(check_name(&"x".repeat(MAX_NAME)).is_ok());
    }

    #[test]
    fn messages_must_be_objects() {
        assert!(check_message("hello", r#"{"foo":123}"#).is_ok());
        assert!(check_message("hello", "{}").is_ok());
        for (json, kind) in [
            ("[1,2]", "an array"),
            (r#""text""#, "a string"),
            ("42", "a number"),
            ("-1", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
            ("", "undefined"),
        ] {
            let e = check_message("m", json).unwrap_err();
            assert_eq!(e, MessageError::NotObject(kind), "{json}");
            assert!(e.to_string().contains("must be an object"), "{e}");
        }
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_MESSAGE_BYTES));
        assert!(matches!(
            check_message("m", &big),
            Err(MessageError::TooLarge { .. })
        ));
        assert_eq!(check_message("", "{}"), Err(MessageError::Name));
    }

    #[test]
    fn user_state_map() {
        let mut s =
            UserState::from_pairs(vec![("a".into(), "1".into()), ("b".into(), "null".into())]);
        assert_eq!(s.len(), 1, "null is no value");
        s.set("c", r#""x""#);
        s.set("a", "2");
        assert_eq!(s.get("a"), Some("2"));
        assert!(s.contains("c") && !s.contains("b"));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![("a", "2"), ("c", r#""x""#)]
        );
        s.set("a", " null ");
        assert_eq!(s.get("a"), None);
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn user_state_values() {
        assert!(check_state("step", r#""checkout""#, 0, false).is_ok());
        assert!(check_state("n", "3", 0, false).is_ok());
        assert!(check_state("o", r#"{"a":[1]}"#, 0, false).is_ok());
        assert_eq!(check_state("u", "", 0, false), Err(MessageError::NotJson));
        assert!(matches!(
            check_state("big", &"1".repeat(MAX_STATE_VALUE_BYTES + 1), 0, false),
            Err(MessageError::TooLarge { .. })
        ));
        assert_eq!(
            check_state("new", "1", MAX_STATE_NAMES, false),
            Err(MessageError::TooManyNames)
        );
        assert!(check_state("old", "1", MAX_STATE_NAMES, true).is_ok());
        assert!(
            check_state("gone", "null", MAX_STATE_NAMES, false).is_ok(),
            "null removes"
        );
    }
}
