//! A port of Go's `path/filepath.Match` (Unix flavour: `\` escapes), on
//! bytes as Go does, for the kubelet's keyring host labels
//! ([`super::keyring`]). A character class is negated with `^` only
//! (`[!a]` is a class of `!` and `a`), and a malformed pattern never
//! matches.

/// Go's filepath.Match for one host label (no '/' inside). Malformed pattern → false.
pub(super) fn glob_match(pattern: &str, name: &str) -> bool {
    go_match(pattern.as_bytes(), name.as_bytes()).unwrap_or(false)
}

/// `filepath.ErrBadPattern`.
struct BadPattern;

const SEPARATOR: u8 = b'/';

/// `filepath.Match` (Unix flavour: `\` escapes), on bytes as Go does.
fn go_match(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star matches the rest unless it has a separator.
            return Ok(!name.contains(&SEPARATOR));
        }
        // A match here, unless this is the last chunk and it leaves a rest
        // (the star may still find one that exhausts the name).
        let here = match_chunk(chunk, name);
        if let Ok(Some(t)) = here {
            if t.is_empty() || !pattern.is_empty() {
                name = t;
                continue;
            }
        }
        here?;
        if star {
            // Skip i+1 bytes, never a separator.
            let mut i = 0;
            while i < name.len() && name[i] != SEPARATOR {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // No match; but a malformed rest of the pattern is still an error.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// `scanChunk`: (leading star, the chunk up to the next star outside a
/// class, the rest).
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let [b'*', rest @ ..] = pattern {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            // An escaped character (a trailing `\` is left for match_chunk
            // to reject).
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// `matchChunk`: the rest of `s` after `chunk` matched its beginning
/// (`Ok(None)`: no match). The whole chunk is checked for syntax even after
/// the match failed.
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<Option<&'s [u8]>, BadPattern> {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        (hi, chunk) = get_esc(&chunk[1..])?;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == SEPARATOR {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

/// `getEsc`: a possibly escaped character of a class, and the rest (which
/// must not be empty: the class still needs its `]`).
fn get_esc(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    let mut chunk = match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BadPattern),
        Some(_) => chunk,
    };
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode_rune(chunk);
    if r == char::REPLACEMENT_CHARACTER as u32 && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// `utf8.DecodeRune` of a non-empty slice: (U+FFFD, 1) for an invalid or
/// incomplete sequence.
fn decode_rune(b: &[u8]) -> (u32, usize) {
    let head = &b[..b.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    match valid.chars().next() {
        Some(c) => (c as u32, c.len_utf8()),
        None => (char::REPLACEMENT_CHARACTER as u32, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_glob_semantics() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("*", "", true),
            ("*", "anything", true),
            ("*", "a/b", false),
            ("a*", "a", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("a*b*c", "axxbyyc", true),
            ("a*/b", "abc/b", true),
            ("a*b", "a/b", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "a/c", false),
            ("?", "é", true),
            ("??", "é", false),
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("[^a-c]x", "dx", true),
            ("[^a-c]x", "bx", false),
            // `!` does not negate in Go: it is a member of the class.
            ("[!a]", "!", true),
            ("[!a]", "a", true),
            ("[!a]", "b", false),
            ("[abc]", "b", true),
            ("[a-cx-z]", "y", true),
            ("[\\]]", "]", true),
            ("[\\-]", "-", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("[é-ü]", "ö", true),
            ("*-good", "prefix-good", true),
            ("*x", "xxx", true),
            // Malformed patterns never match.
            ("[", "a", false),
            ("[]", "a", false),
            ("[a-", "a", false),
            ("[-a]", "a", false),
            ("[a", "a", false),
            ("\\", "a", false),
            ("a\\", "a", false),
            // ... even when the name fails before the bad part.
            ("x[", "a", false),
            ("a*[", "ab", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(glob_match(pattern, name), want, "{pattern:?} vs {name:?}");
        }
        // Errors versus plain mismatch, as Go reports them.
        assert!(go_match(b"x[", b"a").is_err());
        assert!(go_match(b"a*[", b"ab").is_err());
        assert!(matches!(go_match(b"a*", b"b"), Ok(false)));
    }
}
