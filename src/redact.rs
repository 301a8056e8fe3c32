//! The one redactor: every secret value the run holds is registered here,
//! and everything imagelock writes (stdout, stderr, log lines) passes
//! through it, so a secret echoed back by a registry, a token server or a
//! helper is printed as `***`, the way CI systems mask secrets.
//!
//! Registering happens where a secret comes into being: every
//! [`crate::credentials::Secret`] registers its value (passwords, identity
//! and refresh tokens, registry tokens, bearer tokens, `Authorization`
//! values), [`crate::credentials::Credential::basic`] registers the base64
//! `user:password` form, and Docker's `auth` strings are registered as
//! read. Each value is registered with the forms it can take on the way
//! out: its base64 encodings, its JSON-escaped form, and for an
//! `Authorization` value (`Basic …`, `Bearer …`) the part after the scheme.
//!
//! Masking happens where output is written: [`stdout`] and [`stderr`]
//! give writers that mask whole lines before they reach the stream, the
//! logger writes through [`Writer`] too, and [`redact`] masks a string.
//!
//! Values shorter than [`MIN_LEN`] bytes are not masked: masking every
//! `a` of the output would make it unreadable and hide nothing worth
//! hiding.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::RwLock;

use base64::Engine as _;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Shorter values are not registered.
pub const MIN_LEN: usize = 4;

/// Registered values, longest first (so a value containing another is
/// masked whole).
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Register `secret` (and the forms it may be printed in) for masking.
pub fn register(secret: &str) {
    fn add(forms: &mut Vec<String>, v: &str) {
        let v = v.trim();
        if v.len() >= MIN_LEN && !forms.iter().any(|f| f == v) {
            forms.push(v.to_string());
        }
    }
    let mut forms: Vec<String> = Vec::new();
    add(&mut forms, secret);
    // An `Authorization` value: the credential after the scheme.
    for scheme in ["Basic ", "Bearer "] {
        if let Some(rest) = secret.strip_prefix(scheme) {
            add(&mut forms, rest);
        }
    }
    let base: Vec<String> = forms.clone();
    for v in &base {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        add(&mut forms, &STANDARD.encode(v));
        add(&mut forms, &STANDARD_NO_PAD.encode(v));
        add(&mut forms, &URL_SAFE_NO_PAD.encode(v));
        if let Ok(json) = serde_json::to_string(v) {
            add(&mut forms, &json[1..json.len() - 1]);
        }
        // Markdown table cells and GitHub annotations escape these.
        add(&mut forms, &v.replace('|', "\\|"));
        add(&mut forms, &v.replace('%', "%25"));
    }
    if forms.is_empty() {
        return;
    }
    let mut all = SECRETS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for f in forms {
        if !all.contains(&f) {
            all.push(f);
        }
    }
    all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
}

/// Register the base64 `user:password` form of a Basic credential.
pub fn register_basic(username: &str, password: &str) {
    if password.is_empty() {
        return;
    }
    register(password);
    let pair = format!("{username}:{password}");
    register(&base64::engine::general_purpose::STANDARD.encode(&pair));
    register(&pair);
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let all = SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// Whether any secret is registered (nothing to mask otherwise).
fn any() -> bool {
    !SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .is_empty()
}

/// A writer that masks registered secrets line by line before passing
/// the text on: a complete line is written as soon as it is complete, the
/// rest on [`Write::flush`] or when the writer is dropped.
pub struct Writer<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Writer<W> {
    pub fn new(inner: W) -> Writer<W> {
        Writer {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        if !any() {
            return self.inner.write_all(&chunk);
        }
        let text = String::from_utf8_lossy(&chunk);
        match redact(&text) {
            Cow::Borrowed(_) => self.inner.write_all(&chunk),
            Cow::Owned(masked) => self.inner.write_all(masked.as_bytes()),
        }
    }
}

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.emit(last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let n = self.pending.len();
        if n > 0 {
            self.emit(n)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Writer<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Standard output, masked.
pub fn stdout() -> Writer<io::StdoutLock<'static>> {
    Writer::new(io::stdout().lock())
}

/// Standard error, masked.
pub fn stderr() -> Writer<io::StderrLock<'static>> {
    Writer::new(io::stderr().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_and_their_forms_are_masked() {
        register("Basic czNjcjN0LXVuaXQtdGVzdA==");
        register("p\"w|unit-secret%");
        register_basic("unit-user", "unit-pass-1");
        register("abc");
        let b64 = base64::engine::general_purpose::STANDARD.encode("unit-user:unit-pass-1");
        let text = format!(
            "a czNjcjN0LXVuaXQtdGVzdA== b p\\\"w|unit-secret% c p\"w\\|unit-secret% d {b64} e unit-pass-1 abc"
        );
        let got = redact(&text);
        assert_eq!(got, "a *** b *** c *** d *** e *** abc");
    }

    #[test]
    fn the_writer_masks_lines_split_across_writes() {
        register("split-across-writes-secret");
        let mut buf = Vec::new();
        {
            let mut w = Writer::new(&mut buf);
            w.write_all(b"x split-across").unwrap();
            w.write_all(b"-writes-secret y\nz split-across-").unwrap();
            w.write_all(b"writes-secret").unwrap();
        }
        assert_eq!(String::from_utf8(buf).unwrap(), "x *** y\nz ***");
    }
}
