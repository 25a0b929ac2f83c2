//! A setting that must never be printed (tokens, API keys, the CDN's verify secret):
//! its `Debug` is `"<redacted>"` and it has no `Display`, so no `{:?}` of a config and no
//! log line can show it; code that needs the value asks for it with [`Secret::expose`].

use std::fmt;

use serde::Deserialize;

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// For clap: a flag or environment value.
impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "\"<redacted>\"");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(\"<redacted>\")");
        assert_eq!(secret.expose(), "hunter2");
    }
}
