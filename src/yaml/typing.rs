//! Scalar typing under the YAML 1.2 core schema: which scalars are null,
//! which plain scalars are strings (not `true`, `42`, `1.5`, `.inf`), and
//! what a tag says about the type.

use saphyr_parser::Tag;

use super::QuoteStyle;

/// What a scalar's tag says about its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    None,
    Str,
    /// Another core-schema tag (`!!int`, `!!null`, ...).
    OtherCore,
    /// A local or custom tag: taken as a string.
    Custom,
}

pub fn tag_kind(tag: Option<&Tag>) -> TagKind {
    match tag.map(core_suffix) {
        None => TagKind::None,
        Some(Some("str")) => TagKind::Str,
        Some(Some(_)) => TagKind::OtherCore,
        Some(None) => TagKind::Custom,
    }
}

/// The suffix of a `tag:yaml.org,2002:` tag (`!!str` → `str`), whether
/// resolved, left as handle `!!` or written verbatim
/// (`!<tag:yaml.org,2002:str>`); `None` for the non-specific `!` and
/// local or custom tags.
pub fn core_suffix(tag: &Tag) -> Option<&str> {
    if tag.is_yaml_core_schema() || tag.handle == "!!" {
        Some(&tag.suffix)
    } else if tag.handle.is_empty() {
        tag.suffix.strip_prefix("tag:yaml.org,2002:")
    } else {
        None
    }
}

/// A null: an empty plain scalar or `null`/`~` (YAML 1.2 core schema).
pub fn is_null(value: &str, style: QuoteStyle, tag: TagKind) -> bool {
    if style != QuoteStyle::Plain || matches!(tag, TagKind::Str | TagKind::Custom) {
        return false;
    }
    is_null_text(value)
}

/// The core schema's spellings of null, whatever the style and tag:
/// empty, `~`, `null`, `Null`, `NULL`.
pub fn is_null_text(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// Whether the scalar is a string under the YAML 1.2 core schema (plain
/// `true`, `42`, `1.5`, `.inf` are not).
pub fn is_string(value: &str, style: QuoteStyle, tag: TagKind) -> bool {
    match tag {
        TagKind::Str | TagKind::Custom => return true,
        TagKind::OtherCore => return false,
        TagKind::None => {}
    }
    if style != QuoteStyle::Plain {
        return true;
    }
    !(is_null(value, style, tag) || is_bool(value) || is_int(value) || is_float(value))
}

/// What Go programs that read YAML through `sigs.k8s.io/yaml` (go-yaml
/// v2, YAML 1.1: Helm's values, kustomize's kustomization) make of a
/// scalar that is not a string: `Some("a number")`, `Some("a boolean")`
/// (`1.20`, `1_0`, `0b1`, `08`, `553640e6`; `yes`, `on`, `n`), or
/// `Some("a tagged non-string")` for `!!int` and the like; `None` for
/// strings and nulls. Wider than the YAML 1.2 core schema ([`is_string`]).
pub fn go_yaml_non_string(value: &str, style: QuoteStyle, tag: TagKind) -> Option<&'static str> {
    match tag {
        TagKind::Str | TagKind::Custom => return None,
        TagKind::OtherCore if is_null(value, style, TagKind::None) => return None,
        TagKind::OtherCore => return Some("a tagged non-string"),
        TagKind::None => {}
    }
    if style != QuoteStyle::Plain || is_null(value, style, tag) {
        return None;
    }
    if is_bool(value)
        || matches!(
            value,
            "y" | "Y"
                | "yes"
                | "Yes"
                | "YES"
                | "n"
                | "N"
                | "no"
                | "No"
                | "NO"
                | "on"
                | "On"
                | "ON"
                | "off"
                | "Off"
                | "OFF"
        )
    {
        return Some("a boolean");
    }
    if matches!(
        value.strip_prefix(['-', '+']).unwrap_or(value),
        ".inf" | ".Inf" | ".INF"
    ) || matches!(value, ".nan" | ".NaN" | ".NAN")
    {
        return Some("a number");
    }
    // go-yaml v2 looks at the first character: after a digit or sign it
    // drops underscores, then tries Go's ParseInt (base 0: `0x`, `0o`,
    // `0b`, a leading `0` for octal), ParseUint and its float pattern
    // (64 bits: a value out of range is a string); after a `.`, Go's
    // ParseFloat on the value as written (`_1`, `._5` are strings).
    let plain = match value.as_bytes().first() {
        Some(b'0'..=b'9' | b'+' | b'-') => value.replace('_', ""),
        Some(b'.') => value.to_string(),
        _ => return None,
    };
    let unsigned = plain.strip_prefix(['-', '+']).unwrap_or(&plain);
    let fits = |s: &str, radix: u32| {
        !s.is_empty()
            && s.chars().all(|c| c.is_digit(radix))
            && u64::from_str_radix(s, radix).is_ok()
    };
    let int = [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ]
    .iter()
    .any(|(p, r)| unsigned.strip_prefix(p).is_some_and(|d| fits(d, *r)))
        || fits(unsigned, 10);
    let float = is_float(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite);
    (int || float).then_some("a number")
}

fn is_bool(v: &str) -> bool {
    bool_value(v).is_some()
}

/// A core-schema boolean: `true`/`True`/`TRUE`, `false`/`False`/`FALSE`.
pub fn bool_value(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// A core-schema integer: `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`.
pub fn is_int(v: &str) -> bool {
    let digits = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.as_bytes().iter().all(f);
    if let Some(h) = v.strip_prefix("0x") {
        return digits(h, u8::is_ascii_hexdigit);
    }
    if let Some(o) = v.strip_prefix("0o") {
        return digits(o, |b| (b'0'..=b'7').contains(b));
    }
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    digits(s, u8::is_ascii_digit)
}

/// A core-schema float:
/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, or one of
/// [`is_special_float`].
pub fn is_float(v: &str) -> bool {
    if is_special_float(v) {
        return true;
    }
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    // [0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)? with at least one digit in the mantissa
    let b = s.as_bytes();
    let mut i = 0;
    let mut mantissa = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        mantissa += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            mantissa += 1;
        }
    }
    if mantissa == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// `.inf`, `-.inf`, `.nan` and their capitalised spellings: the floats
/// that are no finite number.
pub fn is_special_float(v: &str) -> bool {
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    matches!(s, ".inf" | ".Inf" | ".INF") || matches!(v, ".nan" | ".NaN" | ".NAN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_yaml_reads_yaml_1_1_numbers_and_booleans() {
        let plain = |v| go_yaml_non_string(v, QuoteStyle::Plain, TagKind::None);
        for v in [
            "1.20",
            "8",
            "-3",
            "0777",
            "08",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "553640e6",
            ".5",
            "1.",
            ".inf",
            "-.Inf",
            ".NaN",
            "+.INF",
            "1_0.5",
            "+.5_0",
            "99999999999999999999999",
        ] {
            assert_eq!(plain(v), Some("a number"), "{v}");
        }
        for v in ["yes", "No", "ON", "off", "y", "N", "true", "FALSE"] {
            assert_eq!(plain(v), Some("a boolean"), "{v}");
        }
        for v in [
            "v1.20",
            "1.20-alpine",
            "latest",
            "0x",
            "0b2",
            "1e",
            "e6",
            "",
            "~",
            "null",
            "1.2.3",
            // go-yaml v2 reads these as strings: no digit or sign first,
            // or out of Go's 64-bit range.
            "_1",
            "._5",
            ".5_0",
            "1e400",
            "0x1FFFFFFFFFFFFFFFFF",
            "-.nan",
        ] {
            assert_eq!(plain(v), None, "{v}");
        }
        assert_eq!(
            go_yaml_non_string("1.20", QuoteStyle::DoubleQuoted, TagKind::None),
            None
        );
        assert_eq!(
            go_yaml_non_string("8", QuoteStyle::Plain, TagKind::Str),
            None
        );
        assert_eq!(
            go_yaml_non_string("8", QuoteStyle::Plain, TagKind::OtherCore),
            Some("a tagged non-string")
        );
    }
}
