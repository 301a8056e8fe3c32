//! YAML (or JSON) text to `serde_json::Value`, for configuration files.
//!
//! The text is read with `saphyr-parser`'s event parser, and values are
//! typed with the YAML 1.2 core schema, as the engine's [`super::typing`]
//! tells it:
//!
//! - plain scalars: `null`, `Null`, `NULL`, `~` and the empty scalar are
//!   null; `true`/`True`/`TRUE` and `false`/`False`/`FALSE` are booleans;
//!   decimal integers (optionally signed), `0x` hexadecimal and `0o` octal
//!   integers and floats (`1.5`, `-.5`, `1e3`) are numbers; `.inf`, `-.inf`
//!   and `.nan` (and anything else a JSON number cannot hold, such as
//!   `1e999`) stay strings, as written; everything else is a string.
//!   An integer beyond the 64-bit range becomes the nearest float.
//! - quoted and block scalars are always strings.
//! - tags: `!!str` (and the non-specific `!`, and any local or custom tag
//!   such as `!ref`) make a string; `!!int`, `!!float`, `!!bool` and
//!   `!!null` convert the scalar (whatever its style) or fail. Tags on
//!   collections are ignored.
//! - mapping keys become strings: a scalar key is its text (`1: a` is
//!   `{"1": "a"}`), a collection key its JSON text. A key given twice in
//!   one mapping is an error.
//! - anchors and aliases are expanded. To keep alias bombs out, the nodes
//!   copied for anchors and aliases are counted over the whole stream, and
//!   more than [`MAX_EXPANDED_NODES`] is an error; so is nesting deeper than
//!   [`MAX_DEPTH`], and an alias of a node from inside that node.
//! - merge keys (a plain `<<` key whose value is a mapping or a sequence of
//!   mappings) add the keys of those mappings that the mapping does not have
//!   itself: explicit keys win, and of the merged mappings the earlier wins.
//!
//! Error positions are 1-based lines and columns (columns count characters).
//!
//! saphyr rejects a few valid JSON texts (a surrogate pair escape such as
//! `"\ud83d\ude00"`); a text the YAML parser rejects but `serde_json`
//! accepts is read as JSON.

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use super::typing::{self, core_suffix};

/// The most nodes that anchors and aliases may copy in one stream.
pub const MAX_EXPANDED_NODES: usize = 1_000_000;

/// The deepest nesting of collections in a value (aliases included).
pub const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl YamlError {
    fn at(mark: Marker, message: impl Into<String>) -> YamlError {
        YamlError {
            line: mark.line(),
            column: mark.col() + 1,
            message: message.into(),
        }
    }
}

/// Every document of a YAML stream (JSON is YAML) as serde_json values.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, YamlError> {
    Ok(read(text)?.into_iter().map(|(v, _)| v).collect())
}

/// The single document (an empty text is `Value::Null`); more than one document is an error.
pub fn document(text: &str) -> Result<serde_json::Value, YamlError> {
    let mut docs = read(text)?;
    if docs.len() > 1 {
        return Err(YamlError::at(
            docs[1].1,
            format!("expected a single document, found {}", docs.len()),
        ));
    }
    Ok(docs.pop().map_or(Value::Null, |(v, _)| v))
}

/// Every document with the position where it starts.
fn read(text: &str) -> Result<Vec<(Value, Marker)>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder::default();
    while let Some(ev) = parser.next_event() {
        let (event, span) = match ev {
            Ok(x) => x,
            Err(e) => {
                let err = YamlError::at(*e.marker(), e.info());
                // saphyr rejects some valid JSON (a surrogate pair escape
                // such as `\ud83d\ude00`): JSON is YAML, so take it as JSON.
                return match serde_json::from_str(text) {
                    Ok(v) => Ok(vec![(v, Marker::default())]),
                    Err(_) => Err(err),
                };
            }
        };
        if matches!(event, Event::StreamEnd) {
            break;
        }
        b.event(event, span)?;
    }
    Ok(b.docs)
}

/// A finished node.
struct Node {
    value: Value,
    /// For a scalar: its text (what it is called as a mapping key).
    text: Option<String>,
    /// Nesting levels in `value` (a scalar is 1).
    height: usize,
    /// Nodes in `value` (merged mappings may make this an overestimate).
    nodes: usize,
    /// A plain `<<` (or `!!merge`) scalar.
    merge: bool,
    start: Marker,
}

enum Key {
    Plain(String, Marker),
    Merge,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        height: usize,
        nodes: usize,
        start: Marker,
    },
    Map {
        entries: Vec<(String, Value, Marker)>,
        merges: Vec<Value>,
        key: Option<Key>,
        anchor: usize,
        height: usize,
        nodes: usize,
        start: Marker,
    },
}

/// An anchored node, kept for its aliases.
struct Anchored {
    value: Value,
    text: Option<String>,
    height: usize,
    nodes: usize,
}

#[derive(Default)]
struct Builder {
    docs: Vec<(Value, Marker)>,
    doc_start: Marker,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    /// Nodes copied for anchors and aliases so far.
    expanded: usize,
    root: Option<Value>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let start = span.start;
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_) => {
                self.doc_start = start;
                self.stack.clear();
                self.anchors.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                let root = self.root.take().unwrap_or(Value::Null);
                self.docs.push((root, self.doc_start));
            }
            Event::Alias(id) => {
                let Some(a) = self.anchors.get(&id) else {
                    return Err(YamlError::at(
                        start,
                        "alias of a node that is not complete (a recursive alias) or unknown",
                    ));
                };
                if self.stack.len() + a.height > MAX_DEPTH {
                    return Err(YamlError::at(
                        start,
                        format!("alias expands to nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let node = Node {
                    value: a.value.clone(),
                    text: a.text.clone(),
                    height: a.height,
                    nodes: a.nodes,
                    merge: false,
                    start,
                };
                self.count(a.nodes, start)?;
                self.finish(node)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref(), start)?;
                let merge = style == ScalarStyle::Plain
                    && text == "<<"
                    && tag
                        .as_deref()
                        .is_none_or(|t| core_suffix(t) == Some("merge"));
                let node = Node {
                    value,
                    text: Some(text.into_owned()),
                    height: 1,
                    nodes: 1,
                    merge,
                    start,
                };
                self.anchor(anchor, &node)?;
                self.finish(node)?;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(YamlError::at(
                        start,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                self.stack
                    .push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq {
                            items: Vec::new(),
                            anchor,
                            height: 1,
                            nodes: 1,
                            start,
                        }
                    } else {
                        Frame::Map {
                            entries: Vec::new(),
                            merges: Vec::new(),
                            key: None,
                            anchor,
                            height: 1,
                            nodes: 1,
                            start,
                        }
                    });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let (value, anchor, height, nodes, start) = match frame {
                    Frame::Seq {
                        items,
                        anchor,
                        height,
                        nodes,
                        start,
                    } => (Value::Array(items), anchor, height, nodes, start),
                    Frame::Map {
                        entries,
                        merges,
                        anchor,
                        height,
                        nodes,
                        start,
                        ..
                    } => (
                        Value::Object(build_map(entries, merges)?),
                        anchor,
                        height,
                        nodes,
                        start,
                    ),
                };
                let node = Node {
                    value,
                    text: None,
                    height,
                    nodes,
                    merge: false,
                    start,
                };
                self.anchor(anchor, &node)?;
                self.finish(node)?;
            }
        }
        Ok(())
    }

    /// Count `n` copied nodes against the budget.
    fn count(&mut self, n: usize, at: Marker) -> Result<(), YamlError> {
        self.expanded = self.expanded.saturating_add(n);
        if self.expanded > MAX_EXPANDED_NODES {
            return Err(YamlError::at(
                at,
                format!("anchors and aliases expand to more than {MAX_EXPANDED_NODES} nodes"),
            ));
        }
        Ok(())
    }

    /// Keep a copy of `node` for aliases of `anchor` (0: none).
    fn anchor(&mut self, anchor: usize, node: &Node) -> Result<(), YamlError> {
        if anchor == 0 {
            return Ok(());
        }
        self.count(node.nodes, node.start)?;
        self.anchors.insert(
            anchor,
            Anchored {
                value: node.value.clone(),
                text: node.text.clone(),
                height: node.height,
                nodes: node.nodes,
            },
        );
        Ok(())
    }

    /// Put a finished node where it belongs: a document root, a sequence
    /// item, a mapping key or a mapping value.
    fn finish(&mut self, node: Node) -> Result<(), YamlError> {
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node.value);
            return Ok(());
        };
        match frame {
            Frame::Seq {
                items,
                height,
                nodes,
                ..
            } => {
                *height = (*height).max(node.height + 1);
                *nodes = nodes.saturating_add(node.nodes);
                items.push(node.value);
            }
            Frame::Map {
                entries,
                merges,
                key,
                height,
                nodes,
                ..
            } => {
                *height = (*height).max(node.height + 1);
                *nodes = nodes.saturating_add(node.nodes);
                match key.take() {
                    None if node.merge => *key = Some(Key::Merge),
                    None => {
                        let text = match node.text {
                            Some(t) => t,
                            None => node.value.to_string(),
                        };
                        *key = Some(Key::Plain(text, node.start));
                    }
                    Some(Key::Plain(k, at)) => entries.push((k, node.value, at)),
                    Some(Key::Merge) => match node.value {
                        Value::Object(_) => merges.push(node.value),
                        Value::Array(items) if items.iter().all(Value::is_object) => {
                            merges.extend(items);
                        }
                        _ => {
                            return Err(YamlError::at(
                                node.start,
                                "the value of a merge key (<<) must be a mapping or a sequence of mappings",
                            ))
                        }
                    },
                }
            }
        }
        Ok(())
    }
}

/// A mapping from its explicit entries and the mappings merged into it.
fn build_map(
    entries: Vec<(String, Value, Marker)>,
    merges: Vec<Value>,
) -> Result<Map<String, Value>, YamlError> {
    let mut map = Map::new();
    for (k, v, at) in entries {
        if map.contains_key(&k) {
            return Err(YamlError::at(at, format!("duplicate key {k:?}")));
        }
        map.insert(k, v);
    }
    for merged in merges {
        if let Value::Object(m) = merged {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
    }
    Ok(map)
}

/// The value of a scalar.
fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    at: Marker,
) -> Result<Value, YamlError> {
    let string = || Value::String(text.to_string());
    let Some(tag) = tag else {
        return Ok(if style == ScalarStyle::Plain {
            plain(text)
        } else {
            string()
        });
    };
    let bad = |what: &str| YamlError::at(at, format!("{text:?} is not {what}"));
    Ok(match core_suffix(tag) {
        Some("null") => {
            if typing::is_null_text(text) {
                Value::Null
            } else {
                return Err(bad("a null"));
            }
        }
        Some("bool") => match typing::bool_value(text) {
            Some(b) => Value::Bool(b),
            None => return Err(bad("a boolean")),
        },
        Some("int") => int_value(text).ok_or_else(|| bad("an integer"))?,
        Some("float") => match int_value(text)
            .and_then(|v| v.as_f64())
            .and_then(Number::from_f64)
            .map(Value::Number)
            .or_else(|| float_value(text))
        {
            Some(v) => v,
            None if typing::is_special_float(text) => string(),
            None => return Err(bad("a float")),
        },
        // `!!str`, other core tags, the non-specific `!`, local and custom tags.
        _ => string(),
    })
}

/// A plain, untagged scalar under the core schema.
fn plain(text: &str) -> Value {
    if typing::is_null_text(text) {
        return Value::Null;
    }
    if let Some(b) = typing::bool_value(text) {
        return Value::Bool(b);
    }
    if let Some(v) = int_value(text).or_else(|| float_value(text)) {
        return v;
    }
    Value::String(text.to_string())
}

/// An integer ([`typing::is_int`]); beyond 64 bits, the nearest float
/// (None if even that is infinite).
fn int_value(text: &str) -> Option<Value> {
    if !typing::is_int(text) {
        return None;
    }
    let (digits, radix) = if let Some(h) = text.strip_prefix("0x") {
        (h, 16)
    } else if let Some(o) = text.strip_prefix("0o") {
        (o, 8)
    } else {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(Value::from(u));
        }
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number);
    };
    if let Ok(u) = u64::from_str_radix(digits, radix) {
        return Some(Value::from(u));
    }
    let f = digits
        .chars()
        .filter_map(|c| c.to_digit(radix))
        .fold(0f64, |acc, d| acc * f64::from(radix) + f64::from(d));
    Number::from_f64(f).map(Value::Number)
}

/// A float ([`typing::is_float`]) that JSON can hold: finite, not one of
/// [`typing::is_special_float`].
fn float_value(text: &str) -> Option<Value> {
    if !typing::is_float(text) || typing::is_special_float(text) {
        return None;
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        document(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> YamlError {
        match document(text) {
            Ok(v) => panic!("{text:?} parsed as {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn plain_scalars_core_schema() {
        let cases = [
            ("", json!(null)),
            ("~", json!(null)),
            ("null", json!(null)),
            ("Null", json!(null)),
            ("NULL", json!(null)),
            ("nULL", json!("nULL")),
            ("true", json!(true)),
            ("True", json!(true)),
            ("TRUE", json!(true)),
            ("false", json!(false)),
            ("False", json!(false)),
            ("FALSE", json!(false)),
            // YAML 1.1 booleans are strings in 1.2.
            ("yes", json!("yes")),
            ("off", json!("off")),
            ("0", json!(0)),
            ("42", json!(42)),
            ("-17", json!(-17)),
            ("+17", json!(17)),
            ("007", json!(7)),
            ("0x1F", json!(31)),
            ("0o17", json!(15)),
            ("0o18", json!("0o18")),
            ("0xG", json!("0xG")),
            ("-0x1F", json!("-0x1F")),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("18446744073709551616", json!(18446744073709551616f64)),
            ("1.5", json!(1.5)),
            ("-1.5", json!(-1.5)),
            (".5", json!(0.5)),
            ("1.", json!(1.0)),
            ("1e3", json!(1000.0)),
            ("1.5E-3", json!(0.0015)),
            ("+2.5e+2", json!(250.0)),
            // Not representable in JSON: kept as written.
            (".inf", json!(".inf")),
            ("-.Inf", json!("-.Inf")),
            ("+.INF", json!("+.INF")),
            (".nan", json!(".nan")),
            (".NaN", json!(".NaN")),
            ("1e999", json!("1e999")),
            // Not numbers.
            ("1.2.3", json!("1.2.3")),
            ("1e", json!("1e")),
            (".", json!(".")),
            ("-x", json!("-x")),
            ("12:30", json!("12:30")),
            ("1_000", json!("1_000")),
            ("inf", json!("inf")),
            ("nan", json!("nan")),
            ("hello world", json!("hello world")),
            ("v1.2", json!("v1.2")),
        ];
        for (text, want) in cases {
            assert_eq!(one(&format!("v: {text}")), json!({ "v": want }), "{text:?}");
        }
    }

    #[test]
    fn quoted_and_block_scalars_are_strings() {
        let text = "a: '12'\nb: \"true\"\nc: 'null'\nd: \"\"\ne: |\n  42\nf: >-\n  1.5\n";
        assert_eq!(
            one(text),
            json!({"a": "12", "b": "true", "c": "null", "d": "", "e": "42\n", "f": "1.5"})
        );
    }

    #[test]
    fn tags() {
        let text = "\
a: !!str 12
b: !!str true
c: !!str
d: ! 12
e: !custom 12
f: !!int '12'
g: !!float 3
h: !!bool 'TRUE'
i: !!null ''
j: !<tag:yaml.org,2002:str> 7
k: !!float .inf
l: !!binary aGk=
m: !!map {x: 1}
";
        assert_eq!(
            one(text),
            json!({
                "a": "12", "b": "true", "c": "", "d": "12", "e": "12",
                "f": 12, "g": 3.0, "h": true, "i": null, "j": "7", "k": ".inf",
                "l": "aGk=", "m": {"x": 1}
            })
        );
        let e = err("a: 1\nb: !!int twelve\n");
        assert_eq!((e.line, e.column), (2, 4));
        assert_eq!(e.message, "\"twelve\" is not an integer");
        assert!(document("a: !!bool yes").is_err());
        assert!(document("a: !!null x").is_err());
        assert!(document("a: !!float x").is_err());
    }

    #[test]
    fn keys_become_strings() {
        let text = "1: a\ntrue: b\n~: c\n1.5: d\n? [x, 2]\n: e\n? {k: v}\n: f\n'q': g\n";
        assert_eq!(
            one(text),
            json!({
                "1": "a", "true": "b", "~": "c", "1.5": "d",
                "[\"x\",2]": "e", "{\"k\":\"v\"}": "f", "q": "g"
            })
        );
        let e = err("a: 1\nb: 2\na: 3\n");
        assert_eq!((e.line, e.column), (3, 1));
        assert_eq!(e.message, "duplicate key \"a\"");
        // Keys are compared as strings.
        assert!(document("1: a\n'1': b\n").is_err());
    }

    #[test]
    fn json_input() {
        let text = "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {\n\t\t\t\"auth\": \"dXNlcjpwdw==\"\n\t\t}\n\t},\n\t\"n\": [1, -2.5, 1e2, true, false, null, \"x\\u00e9\\n\\/\"],\n\t\"empty\": {}, \"list\": []\n}\n";
        assert_eq!(
            one(text),
            json!({
                "auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpwdw=="}},
                "n": [1, -2.5, 100.0, true, false, null, "x\u{e9}\n/"],
                "empty": {}, "list": []
            })
        );
        assert_eq!(one("[1,2,3]"), json!([1, 2, 3]));
        assert_eq!(one("\"just a string\""), json!("just a string"));
        assert_eq!(one("{\"a\":{\"b\":[{}]}}"), json!({"a": {"b": [{}]}}));
        // A surrogate pair, which saphyr does not take.
        assert_eq!(
            one("{\"smile\": \"\\ud83d\\ude00\", \"n\": 1}"),
            json!({"smile": "\u{1F600}", "n": 1})
        );
        // Duplicate keys are an error in JSON too.
        assert!(document("{\"a\": 1, \"a\": 2}").is_err());
    }

    #[test]
    fn multi_document_stream() {
        let text = "a: 1\n---\n- x\n- y\n---\n# empty\n---\n{\"b\": 2}\n...\n";
        assert_eq!(
            documents(text).unwrap(),
            vec![
                json!({"a": 1}),
                json!(["x", "y"]),
                json!(null),
                json!({"b": 2})
            ]
        );
        let e = err(text);
        assert_eq!((e.line, e.column), (2, 1));
        assert_eq!(e.message, "expected a single document, found 4");
        assert_eq!(documents("").unwrap(), Vec::<Value>::new());
        assert_eq!(
            documents("# only a comment\n").unwrap(),
            Vec::<Value>::new()
        );
        assert_eq!(document("").unwrap(), Value::Null);
        assert_eq!(document("---\n").unwrap(), Value::Null);
        assert_eq!(document("---\na: 1\n").unwrap(), json!({"a": 1}));
    }

    #[test]
    fn anchors_aliases_and_merge() {
        let text = "\
base: &base
  user: alice
  port: 5000
  tags: &tags [a, b]
other: &other {port: 6000, extra: true}
copy: *base
list: *tags
name: &n bob
who: *n
*n : keyed by alias
merged:
  <<: *base
  port: 1
multi:
  <<: [*other, *base]
  user: carol
inline:
  <<: {a: 1, b: 2}
  b: 3
";
        assert_eq!(
            one(text),
            json!({
                "base": {"user": "alice", "port": 5000, "tags": ["a", "b"]},
                "other": {"port": 6000, "extra": true},
                "copy": {"user": "alice", "port": 5000, "tags": ["a", "b"]},
                "list": ["a", "b"],
                "name": "bob",
                "who": "bob",
                "bob": "keyed by alias",
                "merged": {"user": "alice", "port": 1, "tags": ["a", "b"]},
                "multi": {"user": "carol", "port": 6000, "extra": true, "tags": ["a", "b"]},
                "inline": {"a": 1, "b": 3}
            })
        );
        // An explicit key wins even when the merge key comes last.
        assert_eq!(
            one("a: &a {x: 1, y: 2}\nb:\n  x: 9\n  <<: *a\n"),
            json!({"a": {"x": 1, "y": 2}, "b": {"x": 9, "y": 2}})
        );
        // A quoted `<<` is an ordinary key.
        assert_eq!(one("'<<': {x: 1}"), json!({"<<": {"x": 1}}));
        // Anchors may be redefined; an alias takes the latest.
        assert_eq!(one("- &a 1\n- *a\n- &a 2\n- *a\n"), json!([1, 1, 2, 2]));
        let e = err("a: 1\nb:\n  <<: scalar\n");
        assert_eq!((e.line, e.column), (3, 7));
        assert!(document("b:\n  <<: [{x: 1}, 2]\n").is_err());
    }

    #[test]
    fn alias_bombs_and_recursion_are_errors() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = err(&text);
        assert!(e.message.contains("more than 1000000 nodes"), "{e}");
        // A modest amount of sharing is fine.
        let v = one("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n");
        assert_eq!(v["b"], json!([[1, 2, 3], [1, 2, 3], [1, 2, 3]]));

        let e = err("a: &a [1, *a]\n");
        assert_eq!((e.line, e.column), (1, 11));

        // (Block style: saphyr itself limits flow nesting to 255 levels.)
        let deep = format!("{}x", "- ".repeat(MAX_DEPTH + 1));
        let e = err(&deep);
        assert!(e.message.contains("nesting deeper"), "{e}");
        let ok = format!("{}x", "- ".repeat(MAX_DEPTH));
        assert!(document(&ok).is_ok());
        // Aliases cannot get around the depth limit.
        let half = MAX_DEPTH / 2 + 1;
        let nested = format!("{}{}", "[".repeat(half), "]".repeat(half));
        let text = format!(
            "a: &a {nested}\nb: {}*a{}\n",
            "[".repeat(half),
            "]".repeat(half)
        );
        assert!(err(&text).message.contains("deeper than"));
    }

    #[test]
    fn syntax_error_position() {
        let e = err("a: b\n  c: d\n");
        assert_eq!((e.line, e.column), (2, 4));
        assert_eq!(e.to_string(), format!("line 2, column 4: {}", e.message));
        let e = err("{\"a\": 1,\n \"b\": [1, 2}\n");
        assert_eq!(e.line, 2);
        let e = err("key: [unclosed\n");
        assert!(e.line >= 1 && e.column >= 1, "{e}");
    }
}
