//! The one redactor: every secret value the run holds is registered here,
//! and everything imagelock writes (stdout, stderr, log lines) passes
//! through it, so a secret echoed back by a registry, a token server or a
//! helper is printed as `***`, the way CI systems mask secrets.
//!
//! Registering happens where a secret is used: every
//! [`crate::secret::Secret`] registers its value when it is exposed to
//! build a request (passwords, identity and refresh tokens, registry
//! tokens, the bearer tokens token servers issue, `Authorization` values),
//! and a Basic credential registers its `user:password` pair and that
//! pair's base64 form (Docker's `auth` string). A value only held and never
//! sent (every `data` entry of a scanned Secret manifest is held as a
//! `Secret`) is not registered: nothing can echo it back, and masking it
//! would mask ordinary text such as a port number. Each value is
//! registered with the forms it can take on the way out: its base64
//! encodings, its JSON-escaped form, and for an `Authorization` value
//! (`Basic …`, `Bearer …`) the part after the scheme.
//!
//! Masking happens where output is written: [`stdout`] and [`stderr`]
//! give writers that mask whole lines before they reach the stream, the
//! logger writes through [`Writer`] too, and [`redact`] masks a string.
//!
//! Values shorter than [`MIN_LEN`] bytes are not masked: masking every
//! `a` of the output would make it unreadable and hide nothing worth
//! hiding.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::sync::RwLock;

use base64::Engine as _;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Shorter values are not registered.
pub const MIN_LEN: usize = 4;

/// Registered values by length: masking tries, at each position of a
/// text, each registered length (longest first) with one hash lookup, so
/// registering and masking stay linear however many secrets a run holds
/// (a pull Secret may hold thousands).
#[derive(Default)]
struct Registry {
    by_len: BTreeMap<usize, HashSet<Box<str>>>,
}

static SECRETS: RwLock<Option<Registry>> = RwLock::new(None);

/// The forms `v` may be printed in besides itself: base64 (without
/// padding, which masks the padded form but its `=`), URL-safe base64, the
/// JSON-escaped form, and the escapes of Markdown cells and GitHub
/// annotations.
fn forms_of(v: &str, forms: &mut Vec<String>) {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut add = |f: String| {
        let f = f.trim().to_string();
        if f.len() >= MIN_LEN && !forms.contains(&f) {
            forms.push(f);
        }
    };
    add(v.to_string());
    add(STANDARD_NO_PAD.encode(v));
    add(URL_SAFE_NO_PAD.encode(v));
    if let Ok(json) = serde_json::to_string(v) {
        add(json[1..json.len() - 1].to_string());
    }
    add(v.replace('|', "\\|"));
    add(v.replace('%', "%25"));
    // Percent-encoded, as the refresh-token grant's form body (and a URL's
    // query) carries it: a token server that echoes the form it was sent
    // echoes `/`, `+` and `=` of a base64 token as `%2F`, `%2B`, `%3D`.
    add(percent_encoded(v, true, false));
    add(percent_encoded(v, false, false));
    add(percent_encoded(v, true, true));
}

/// `v` with every byte but the unreserved ones (`A–Z a–z 0–9 - . _ ~`, and
/// `*` in a form) as `%XX`; a space as `+` in a form.
fn percent_encoded(v: &str, form: bool, lower: bool) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(b as char),
            b'*' if form => out.push('*'),
            b'~' if !form => out.push('~'),
            b' ' if form => out.push('+'),
            _ if lower => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Register `secret` (and the forms it may be printed in) for masking.
pub fn register(secret: &str) {
    if known(secret) {
        return;
    }
    let mut forms: Vec<String> = Vec::new();
    forms_of(secret, &mut forms);
    // An `Authorization` value: the credential after the scheme.
    for scheme in ["Basic ", "Bearer "] {
        if let Some(rest) = secret.strip_prefix(scheme) {
            forms_of(rest, &mut forms);
        }
    }
    if forms.is_empty() {
        return;
    }
    let mut guard = SECRETS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reg = guard.get_or_insert_with(Registry::default);
    for f in forms {
        reg.by_len
            .entry(f.len())
            .or_default()
            .insert(f.into_boxed_str());
    }
}

/// Register the base64 `user:password` form of a Basic credential.
pub fn register_basic(username: &str, password: &str) {
    if password.is_empty() {
        return;
    }
    register(password);
    let pair = format!("{username}:{password}");
    register(&pair);
    register(&base64::engine::general_purpose::STANDARD.encode(&pair));
}

/// `text` with every registered secret replaced by [`MASK`] (at each
/// position the longest registered value that starts there).
pub fn redact(text: &str) -> Cow<'_, str> {
    let guard = SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(reg) = guard.as_ref().filter(|r| !r.by_len.is_empty()) else {
        return Cow::Borrowed(text);
    };
    let shortest = reg.by_len.keys().next().copied().unwrap_or(MIN_LEN);
    let mut out: Option<String> = None;
    let (mut i, mut last) = (0, 0);
    while i + shortest <= text.len() {
        let hit = text.is_char_boundary(i).then(|| {
            reg.by_len
                .iter()
                .rev()
                .find(|(len, set)| text.get(i..i + **len).is_some_and(|w| set.contains(w)))
                .map(|(len, _)| *len)
        });
        match hit.flatten() {
            Some(len) => {
                let o = out.get_or_insert_with(String::new);
                o.push_str(&text[last..i]);
                o.push_str(MASK);
                i += len;
                last = i;
            }
            None => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[last..]);
            Cow::Owned(o)
        }
    }
}

/// Whether `secret` is registered already (so that a value used for every
/// request is not registered again each time).
fn known(secret: &str) -> bool {
    SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .and_then(|r| r.by_len.get(&secret.len()))
        .is_some_and(|set| set.contains(secret))
}

/// Whether any secret is registered (nothing to mask otherwise).
fn any() -> bool {
    SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .is_some_and(|r| !r.by_len.is_empty())
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
        register("tok/en+with=sp ace*~");
        let got = redact("f tok%2Fen%2Bwith%3Dsp+ace*%7E g tok%2Fen%2Bwith%3Dsp%20ace%2A~ h tok%2fen%2bwith%3dsp+ace*%7e");
        assert_eq!(got, "f *** g *** h ***");
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

#[cfg(test)]
mod scale_tests {
    use super::*;

    /// Thousands of secrets (a large pull Secret) register and mask
    /// without a cost that grows with their square.
    #[test]
    fn many_secrets() {
        for i in 0..20_000 {
            register_basic("scale-user", &format!("scale-password-{i:06}"));
        }
        let line = "x scale-password-019999 y scale-password-000001z\n".repeat(100);
        let masked = redact(&line);
        assert_eq!(masked, "x *** y ***z\n".repeat(100));
    }
}
