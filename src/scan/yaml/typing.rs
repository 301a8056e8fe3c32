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
    match tag {
        None => TagKind::None,
        // A verbatim tag `!<tag:yaml.org,2002:str>` arrives whole in the suffix.
        Some(t) if t.handle.is_empty() && t.suffix.starts_with("tag:yaml.org,2002:") => {
            if t.suffix == "tag:yaml.org,2002:str" {
                TagKind::Str
            } else {
                TagKind::OtherCore
            }
        }
        Some(t) if t.is_yaml_core_schema() => {
            if t.suffix == "str" {
                TagKind::Str
            } else {
                TagKind::OtherCore
            }
        }
        // `!!str` may also arrive unresolved as handle `!!`.
        Some(t) if t.handle == "!!" && t.suffix == "str" => TagKind::Str,
        Some(t) if t.handle == "!!" => TagKind::OtherCore,
        Some(_) => TagKind::Custom,
    }
}

/// A null: an empty plain scalar or `null`/`~` (YAML 1.2 core schema).
pub fn is_null(value: &str, style: QuoteStyle, tag: TagKind) -> bool {
    if style != QuoteStyle::Plain || matches!(tag, TagKind::Str | TagKind::Custom) {
        return false;
    }
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

fn is_bool(v: &str) -> bool {
    matches!(v, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

fn is_int(v: &str) -> bool {
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

fn is_float(v: &str) -> bool {
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    if matches!(s, ".inf" | ".Inf" | ".INF") || matches!(v, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
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
