//! The parts of Go's `net/url.Parse` (for an `https` URL, as of Go
//! 1.25.2+) and `net.SplitHostPort` that the kubelet's keyring matching
//! relies on ([`super::keyring`]): a `[` only at the start of the host,
//! around an IPv6 address; only one `:` in the host, followed by a numeric
//! port; hosts and paths percent-decoded as Go decodes them.

/// What the kubelet uses of a parsed URL: `url.URL.Host` (port included)
/// and `url.URL.Path`, both unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GoUrl {
    pub(super) host: String,
    pub(super) path: String,
}

/// `net.SplitHostPort`, falling back to (the whole, no port) on error as
/// `SplitURL` does.
pub(super) fn split_host_port(hostport: &str) -> (&str, &str) {
    split_host_port_strict(hostport).unwrap_or((hostport, ""))
}

fn split_host_port_strict(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k);
    if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            // Missing port, or too many colons.
            return None;
        }
        host = &hostport[1..end];
        (j, k) = (1, end + 1);
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (j, k) = (0, 0);
    }
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

/// Go's `url.Parse` of `scheme:` + `rest`, where `rest` starts with `//`
/// (every URL parsed here has a scheme and an authority). The scheme is not
/// needed, so it is not passed.
pub(super) fn parse_url(rest: &str) -> Option<GoUrl> {
    debug_assert!(rest.starts_with("//"));
    if rest.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    if let Some(f) = fragment {
        unescape(f, Mode::Other)?;
    }
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split('?').next().unwrap_or(rest)
    };
    let after = rest.strip_prefix("//")?;
    let (authority, path) = match after.find('/') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    let host = parse_authority(authority)?;
    let path = String::from_utf8_lossy(&unescape(path, Mode::Other)?).into_owned();
    Some(GoUrl { host, path })
}

/// `parseAuthority`: the host (userinfo is validated, then dropped).
fn parse_authority(authority: &str) -> Option<String> {
    match authority.rfind('@') {
        None => parse_host(authority),
        Some(i) => {
            let host = parse_host(&authority[i + 1..])?;
            let userinfo = &authority[..i];
            let valid = userinfo.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '-' | '.'
                            | '_'
                            | ':'
                            | '~'
                            | '!'
                            | '$'
                            | '&'
                            | '\''
                            | '('
                            | ')'
                            | '*'
                            | '+'
                            | ','
                            | ';'
                            | '='
                            | '%'
                            | '@'
                    )
            });
            if !valid {
                return None;
            }
            unescape(userinfo, Mode::Other)?;
            Some(host)
        }
    }
}

/// `parseHost` as of Go 1.25.2+ for an `https` URL: a `[` only at the
/// start, around a valid IPv6 address (CVE-2025-47912); otherwise
/// everything from the first `:` must be a (possibly empty) numeric port.
fn parse_host(host: &str) -> Option<String> {
    match host.rfind('[') {
        Some(0) => {
            let close = host.rfind(']')?;
            let port = &host[close + 1..];
            if !valid_optional_port(port) {
                return None;
            }
            let hostname = &host[1..close];
            // RFC 6874: `%25` starts a zone identifier, which may escape more.
            let bytes = match hostname.find("%25") {
                Some(zone) => {
                    let mut b = unescape(&hostname[..zone], Mode::Host)?;
                    b.extend(unescape(&hostname[zone..], Mode::Zone)?);
                    b
                }
                None => unescape(hostname, Mode::Host)?,
            };
            let hostname = String::from_utf8(bytes).ok()?;
            if !is_ipv6(&hostname) {
                return None;
            }
            Some(format!("[{hostname}]{port}"))
        }
        Some(_) => None,
        None => {
            if let Some(i) = host.find(':') {
                if !valid_optional_port(&host[i..]) {
                    return None;
                }
            }
            let bytes = unescape(host, Mode::Host)?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// `netip.ParseAddr(s)` succeeds with an IPv6 address (zone allowed).
fn is_ipv6(s: &str) -> bool {
    let addr = match s.split_once('%') {
        Some((_, "")) => return false,
        Some((addr, _)) => addr,
        None => s,
    };
    addr.parse::<std::net::Ipv6Addr>().is_ok()
}

/// `validOptionalPort`: empty, or `:` followed by digits (maybe none).
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Zone,
    /// Path, fragment, userinfo: only the escapes are checked.
    Other,
}

/// `shouldEscape(c, encodeHost)` for an ASCII byte.
fn host_must_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
                | b'-'
                | b'_'
                | b'.'
                | b'~'
        ))
}

/// Go's `url.unescape`: None where it returns an error.
fn unescape(s: &str, mode: Mode) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return None;
            }
            let hi = hex_value(b[i + 1]);
            let v = (hi << 4) | hex_value(b[i + 2]);
            let is_25 = &b[i..i + 3] == b"%25";
            match mode {
                // In a host, %-escapes are for non-ASCII bytes only (and %25).
                Mode::Host if hi < 8 && !is_25 => return None,
                Mode::Zone if !is_25 && v != b' ' && (v >= 0x80 || host_must_escape(v)) => {
                    return None
                }
                _ => {}
            }
            out.push(v);
            i += 3;
        } else {
            if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && host_must_escape(c) {
                return None;
            }
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_host_port_like_go() {
        let cases = [
            ("host", ("host", "")),
            ("host:5000", ("host", "5000")),
            ("host:", ("host", "")),
            ("[::1]:80", ("::1", "80")),
            ("[::1]", ("[::1]", "")),
            ("a:b:c", ("a:b:c", "")),
            ("a[b]:80", ("a[b]:80", "")),
        ];
        for (input, want) in cases {
            assert_eq!(split_host_port(input), want, "{input}");
        }
    }
}
