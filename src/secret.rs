//! [`Secret`]: a password, token or `Authorization` value, whose `Debug`
//! and `Display` print `<redacted>` and whose value, once used
//! ([`Secret::expose`]), is registered with the run's redactor
//! ([`crate::redact`]), which masks it in everything printed. A leaf:
//! the credential sources, the registry client and the scan of Secret
//! manifests all hold values in it.

use std::fmt;

/// A password, token or `Authorization` value. Never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for building an `Authorization` header: from
    /// then on it is registered with the run's redactor ([`crate::redact`]),
    /// so that a registry or token server that echoes it back has it
    /// printed as `***`. (A value only held, like every `data` entry of a
    /// scanned Secret manifest, is not: it is never sent, so nothing can
    /// echo it, and masking it would mask ordinary text.)
    pub fn expose(&self) -> &str {
        crate::redact::register(&self.0);
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
