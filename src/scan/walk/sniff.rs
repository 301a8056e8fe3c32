//! Whether a `*.json` file found by walking a directory holds a Kubernetes
//! object (or a `kind: List` of them), as `kubectl apply -f DIR` would
//! apply it: a JSON object whose top level has both `apiVersion` and
//! `kind` (strings, in any order, anywhere in the object). Other JSON
//! (`package.json`, `tsconfig.json`, lockfiles, schemas) is left alone.
//!
//! The decision streams the file through a small buffer, reading only the
//! top-level keys and skipping nested values unparsed, so memory stays
//! flat however large the file; it stops as soon as both keys are met. A
//! file that does not start with `{`, or is not JSON up to the point where
//! both keys are met, is not a manifest. A file that shows neither key
//! among the top-level keys of its first [`GIVE_UP_AFTER`] bytes is taken
//! as not a manifest without reading further (every writer of Kubernetes
//! JSON puts `apiVersion` or `kind` before anything that large: kubectl,
//! Go's `encoding/json`, sorted keys). A byte order mark (UTF-8, UTF-16,
//! UTF-32) is honoured; line endings do not matter.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Bytes read without meeting `apiVersion` or `kind` as a top-level key
/// after which a file is taken as not a manifest.
pub(super) const GIVE_UP_AFTER: u64 = 1 << 20;

/// Whether the file at `path` holds a Kubernetes object. A file that cannot
/// be read counts as one, so the read that follows reports the error.
pub(super) fn holds_manifest(path: &Path) -> bool {
    match fs_err::File::open(path) {
        Ok(f) => sniff(f).unwrap_or(true),
        Err(_) => true,
    }
}

/// [`holds_manifest`] on any reader.
pub(super) fn sniff(r: impl Read) -> io::Result<bool> {
    let mut units = Units::new(r)?;
    top_level_has_kind(&mut units)
}

/// The file's text as ASCII units: each character below 0x80 as itself,
/// anything else as 0x80 (JSON's structure is all ASCII).
struct Units<R> {
    inner: BufReader<R>,
    /// Bytes per code unit: 1 (UTF-8), 2 (UTF-16), 4 (UTF-32).
    width: usize,
    big_endian: bool,
    peeked: Option<u8>,
    /// Bytes consumed so far.
    read: u64,
    /// Whether skipping stops past [`GIVE_UP_AFTER`] (until either key is
    /// met): a huge first value is not read to its end.
    give_up: bool,
}

impl<R: Read> Units<R> {
    fn new(r: R) -> io::Result<Self> {
        let mut inner = BufReader::with_capacity(64 * 1024, r);
        let head = inner.fill_buf()?;
        let (bom, width, big_endian) = match head {
            [0xFF, 0xFE, 0, 0, ..] => (4, 4, false),
            [0, 0, 0xFE, 0xFF, ..] => (4, 4, true),
            [0xFF, 0xFE, ..] => (2, 2, false),
            [0xFE, 0xFF, ..] => (2, 2, true),
            [0xEF, 0xBB, 0xBF, ..] => (3, 1, false),
            _ => (0, 1, false),
        };
        inner.consume(bom);
        Ok(Units {
            inner,
            width,
            big_endian,
            peeked: None,
            read: bom as u64,
            give_up: true,
        })
    }

    fn next(&mut self) -> io::Result<Option<u8>> {
        if let Some(c) = self.peeked.take() {
            return Ok(Some(c));
        }
        if self.width == 1 {
            let Some(&b) = self.inner.fill_buf()?.first() else {
                return Ok(None);
            };
            self.inner.consume(1);
            self.read += 1;
            return Ok(Some(b.min(0x80)));
        }
        let mut unit = [0u8; 4];
        let unit = &mut unit[..self.width];
        let mut filled = 0;
        while filled < unit.len() {
            let n = self.inner.read(&mut unit[filled..])?;
            if n == 0 {
                return Ok(None);
            }
            filled += n;
        }
        self.read += self.width as u64;
        let value = if self.big_endian {
            unit.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b))
        } else {
            unit.iter()
                .rev()
                .fold(0u32, |v, &b| (v << 8) | u32::from(b))
        };
        Ok(Some(
            u8::try_from(value)
                .ok()
                .filter(|b| *b < 0x80)
                .unwrap_or(0x80),
        ))
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.peeked.is_none() {
            self.peeked = self.next()?;
        }
        Ok(self.peeked)
    }

    /// The next unit that is not JSON whitespace.
    fn next_token(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.next()? {
                Some(b' ' | b'\t' | b'\n' | b'\r') => {}
                other => return Ok(other),
            }
        }
    }

    /// The rest of a string whose opening quote was read: its first
    /// `keep` units (escapes kept as written), or `None` at the end of the
    /// input.
    fn string(&mut self, keep: usize) -> io::Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            if keep == 0 && self.skip_to(b"\\\"")?.is_none() {
                return Ok(None);
            }
            let Some(c) = self.next()? else {
                return Ok(None);
            };
            match c {
                b'"' => return Ok(Some(out)),
                b'\\' => {
                    // The escaped unit never ends the string. A key is
                    // compared as JSON reads it: `\u0061piVersion` is
                    // `apiVersion`.
                    let Some(e) = self.next()? else {
                        return Ok(None);
                    };
                    let c = match e {
                        b'u' => {
                            let mut v = 0u32;
                            for _ in 0..4 {
                                let Some(h) = self.next()? else {
                                    return Ok(None);
                                };
                                v = v * 16 + char::from(h).to_digit(16).unwrap_or(0x100);
                            }
                            u8::try_from(v).ok().filter(|b| *b < 0x80).unwrap_or(0x80)
                        }
                        b'"' | b'\\' | b'/' => e,
                        _ => b'\\',
                    };
                    if out.len() < keep {
                        out.push(c);
                    }
                }
                c => {
                    if out.len() < keep {
                        out.push(c);
                    }
                }
            }
        }
    }

    /// `None` once past [`GIVE_UP_AFTER`] while giving up is on.
    fn within_limit(&self) -> Option<()> {
        (!self.give_up || self.read <= GIVE_UP_AFTER).then_some(())
    }

    /// In UTF-8, skip in bulk to the next of `stops` (left unread);
    /// `None` at the end of the input. Other encodings go unit by unit.
    fn skip_to(&mut self, stops: &[u8]) -> io::Result<Option<()>> {
        if self.width != 1 || self.peeked.is_some() {
            return Ok(self.within_limit());
        }
        loop {
            if self.within_limit().is_none() {
                return Ok(None);
            }
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let at = buf.iter().position(|b| stops.contains(b));
            let n = at.unwrap_or(buf.len());
            self.inner.consume(n);
            self.read += n as u64;
            if at.is_some() {
                return Ok(Some(()));
            }
        }
    }

    /// Skip one value whose first unit is `first`; false when the input
    /// ends inside it or it is not JSON.
    fn skip_value(&mut self, first: u8) -> io::Result<bool> {
        match first {
            b'"' => Ok(self.string(0)?.is_some()),
            b'{' | b'[' => {
                let mut depth = 1usize;
                while depth > 0 {
                    if self.skip_to(b"\"{}[]")?.is_none() {
                        return Ok(false);
                    }
                    match self.next()? {
                        None => return Ok(false),
                        Some(b'"') => {
                            if self.string(0)?.is_none() {
                                return Ok(false);
                            }
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => depth -= 1,
                        Some(_) => {}
                    }
                }
                Ok(true)
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                // A number or literal: up to the next delimiter.
                while let Some(c) = self.peek()? {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.next()?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Whether the top-level object has both `apiVersion` and `kind` (non-empty
/// strings).
fn top_level_has_kind<R: Read>(u: &mut Units<R>) -> io::Result<bool> {
    if u.next_token()? != Some(b'{') {
        return Ok(false);
    }
    let (mut api_version, mut kind) = (false, false);
    loop {
        match u.next_token()? {
            Some(b'"') => {}
            _ => return Ok(false),
        }
        let Some(key) = u.string(16)? else {
            return Ok(false);
        };
        if u.next_token()? != Some(b':') {
            return Ok(false);
        }
        let Some(first) = u.next_token()? else {
            return Ok(false);
        };
        let wanted = match key.as_slice() {
            b"apiVersion" => Some(&mut api_version),
            b"kind" => Some(&mut kind),
            _ => None,
        };
        match wanted {
            Some(flag) if first == b'"' => match u.string(1)? {
                Some(value) => *flag |= !value.is_empty(),
                None => return Ok(false),
            },
            _ => {
                if !u.skip_value(first)? {
                    return Ok(false);
                }
            }
        }
        if api_version && kind {
            return Ok(true);
        }
        u.give_up = !api_version && !kind;
        if !api_version && !kind && u.read > GIVE_UP_AFTER {
            return Ok(false);
        }
        match u.next_token()? {
            Some(b',') => {}
            _ => return Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is(text: &[u8]) -> bool {
        sniff(text).unwrap()
    }

    #[test]
    fn objects_with_api_version_and_kind_in_any_order() {
        assert!(is(br#"{"apiVersion": "v1", "kind": "Pod"}"#));
        assert!(is(
            b"{\r\n  \"kind\": \"ReplicationController\",\r\n  \"metadata\": {\"kind\": \"x\"},\r\n  \"apiVersion\": \"v1\"\r\n}\r\n"
        ));
        // `items` (sorted keys, as kubectl prints a List) before `kind`.
        assert!(is(
            br#"{"apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Pod","s":"}\"]"}],"kind":"List","metadata":{}}"#
        ));
        assert!(is(b"\xEF\xBB\xBF{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}"));
        // Escapes in keys read as JSON reads them.
        assert!(is(br#"{"\u0061piVersion": "v1", "k\u0069nd": "Pod"}"#));
        assert!(!is(br#"{"\u0061piVersio": "v1", "kind": "Pod"}"#));
    }

    #[test]
    fn nested_or_missing_keys_are_not_manifests() {
        assert!(!is(br#"{"name": "app", "version": "1.0.0", "dependencies": {"kind": "x", "apiVersion": "y"}}"#));
        assert!(!is(br#"{"kind": "Pod"}"#));
        assert!(!is(br#"{"kind": "", "apiVersion": "v1"}"#));
        assert!(!is(br#"{"kind": 1, "apiVersion": "v1"}"#));
        assert!(!is(br#"[{"kind": "Pod", "apiVersion": "v1"}]"#));
        assert!(!is(b"// tsconfig\n{\"compilerOptions\": {}}"));
        assert!(!is(b""));
        assert!(!is(b"{\"kind\": \"Pod\", \"apiVersion"));
    }

    #[test]
    fn wide_encodings_are_read_through_their_byte_order_mark() {
        let text = "{\"kind\": \"Pod\", \"n\": \"é\", \"apiVersion\": \"v1\"}";
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        let mut le32 = vec![0xFF, 0xFE, 0, 0];
        for u in text.encode_utf16() {
            le.extend(u.to_le_bytes());
            be.extend(u.to_be_bytes());
        }
        for c in text.chars() {
            le32.extend((c as u32).to_le_bytes());
        }
        assert!(is(&le));
        assert!(is(&be));
        assert!(is(&le32));
    }

    #[test]
    fn a_large_value_before_either_key_gives_up() {
        let mut text = b"{\"packages\": \"".to_vec();
        text.extend(std::iter::repeat_n(b'x', GIVE_UP_AFTER as usize));
        text.extend(b"\", \"apiVersion\": \"v1\", \"kind\": \"Pod\"}");
        assert!(!is(&text));
        // Once one key is met, the scan goes on to the other.
        let mut text = b"{\"apiVersion\": \"v1\", \"items\": \"".to_vec();
        text.extend(std::iter::repeat_n(b'x', GIVE_UP_AFTER as usize));
        text.extend(b"\", \"kind\": \"List\"}");
        assert!(is(&text));
    }

    #[test]
    fn a_huge_first_value_is_not_read_to_its_end() {
        // 512 MiB of one string (or array) before either key: the sniff
        // stops soon after GIVE_UP_AFTER, not at the end of the value.
        struct Counted<R>(R, std::rc::Rc<std::cell::Cell<u64>>);
        impl<R: Read> Read for Counted<R> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read(buf)?;
                self.1.set(self.1.get() + n as u64);
                Ok(n)
            }
        }
        for head in [
            &b"{\"data\": \""[..],
            b"{\"data\": [\"",
            b"\xFF\xFE{\0\"\0a\0\"\0:\0\"\0",
        ] {
            let read = std::rc::Rc::new(std::cell::Cell::new(0));
            let body = io::repeat(b'x').take(512 << 20);
            let r = Counted(head.chain(body), read.clone());
            assert!(!sniff(r).unwrap());
            assert!(read.get() < 2 * GIVE_UP_AFTER, "{}", read.get());
        }
    }
}
