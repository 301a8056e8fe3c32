//! Edit plans, the byte-range edits they become, and unified diffs of them.
//!
//! A scan gives every found image an [`EditPlan`] (defined in
//! [`crate::scan`]): how pinning writes into the file. [`plan_edit`]
//! turns a plan and the value to write into an [`Edit`], which replaces
//! an exact byte range and nothing else: every other byte of the file
//! (comments, quotes, indentation, anchors, CRLF) stays. Writing the result to disk is [`crate::write`]'s job.

use std::io::Write;
use std::ops::Range;

use crate::reference::{Digest, Reference};
use crate::scan::EditPlan;

/// Replace `span` of a file's bytes with `replacement`, meaning `change`
/// (what a reader of the new text must find there; see [`crate::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Range<usize>,
    pub replacement: String,
    pub change: Change,
}

/// What an [`Edit`] means to a reader of the file: the one value it
/// changes, or the one key it adds. Positions are byte offsets of the
/// text the scan read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The bytes replace part (or all) of the value whose content holds
    /// the span: the value becomes its old text with the span replaced (a
    /// YAML scalar, a Dockerfile word).
    Splice,
    /// The value of the mapping entry whose key's content starts at
    /// `key_at` becomes the string `value`.
    Set { key_at: usize, value: String },
    /// A new entry `key: value` (`value` a string) right after the entry
    /// whose key's content starts at `beside`, in the same mapping.
    Add {
        beside: usize,
        key: String,
        value: String,
    },
}

/// A plan that cannot be applied to the text as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("bytes {0:?} are not in the file (or split a character)")]
    OutOfRange(Range<usize>),
    #[error(
        "byte {0} is not at the start of a line: a key can only be inserted on a line of its own"
    )]
    NotLineStart(usize),
    #[error("indentation {0:?} is not only spaces")]
    BadIndent(String),
    #[error("{0:?} cannot be written as a plain YAML key or value on one line")]
    NotPlain(String),
    #[error("{0}")]
    Unpinnable(String),
    #[error("{reason}")]
    Shared { reason: String, hint: String },
    #[error("the edit is in another file ({0})")]
    OtherFile(std::path::PathBuf),
}

/// What `pin` writes for `plan` to pin `reference` to `digest`: the pinned
/// reference for [`EditPlan::Replace`], the digest's hex for
/// [`EditPlan::SetDigestHex`], the digest (`sha256:…`) for the others.
pub fn pin_value(plan: &EditPlan, reference: &Reference, digest: &Digest) -> String {
    match plan {
        EditPlan::Replace { .. } => reference.pinned(digest),
        EditPlan::SetDigestHex { .. } => digest.encoded().to_string(),
        _ => digest.to_string(),
    }
}

/// The edit that carries out `plan` on `text`, writing `value` (see
/// [`pin_value`]).
pub fn plan_edit(text: &str, plan: &EditPlan, value: &str) -> Result<Edit, PlanError> {
    let slice = |span: &Range<usize>| {
        text.get(span.clone())
            .ok_or_else(|| PlanError::OutOfRange(span.clone()))
    };
    let plain = |v: &str| {
        let ok = !v.is_empty()
            && !v.contains(['\r', '\n', '#', '\'', '"'])
            && !v.contains(": ")
            && !v.starts_with([
                '-', '?', ':', '[', ']', '{', '}', '&', '*', '!', '|', '>', '%', '@', '`', ' ',
            ])
            && !v.ends_with([' ', ':']);
        if ok {
            Ok(())
        } else {
            Err(PlanError::NotPlain(v.to_string()))
        }
    };
    match plan {
        EditPlan::Replace { span } => {
            slice(span)?;
            Ok(Edit {
                span: span.clone(),
                replacement: value.to_string(),
                change: Change::Splice,
            })
        }
        EditPlan::SetValue { span, key_at } | EditPlan::SetDigestHex { span, key_at } => {
            slice(span)?;
            plain(value)?;
            let typed = !crate::yaml::typing::is_string(
                value,
                crate::yaml::QuoteStyle::Plain,
                crate::yaml::typing::TagKind::None,
            );
            let written = if typed && matches!(plan, EditPlan::SetDigestHex { .. }) {
                format!("\"{value}\"")
            } else {
                value.to_string()
            };
            let after_colon = span.start > 0 && text.as_bytes()[span.start - 1] == b':';
            let replacement = if after_colon {
                format!(" {written}")
            } else {
                written
            };
            Ok(Edit {
                span: span.clone(),
                replacement,
                change: Change::Set {
                    key_at: *key_at,
                    value: value.to_string(),
                },
            })
        }
        EditPlan::InsertKey {
            after_line_end,
            indent,
            key,
            beside,
        } => {
            let at = *after_line_end;
            slice(&(at..at))?;
            let b = text.as_bytes();
            let at_line_start = at == 0 || b[at - 1] == b'\n' || at == b.len();
            if !at_line_start {
                return Err(PlanError::NotLineStart(at));
            }
            if !indent.bytes().all(|c| c == b' ') {
                return Err(PlanError::BadIndent(indent.clone()));
            }
            plain(key)?;
            plain(value)?;
            let eol = line_ending(text, at);
            // After a last line without a line break, the new key takes one
            // before it and none after: the file still ends without one.
            let replacement = if at > 0 && b[at - 1] != b'\n' {
                format!("{eol}{indent}{key}: {value}")
            } else {
                format!("{indent}{key}: {value}{eol}")
            };
            Ok(Edit {
                span: at..at,
                replacement,
                change: Change::Add {
                    beside: *beside,
                    key: key.clone(),
                    value: value.to_string(),
                },
            })
        }
        EditPlan::Unpinnable { reason, .. } => Err(PlanError::Unpinnable(reason.clone())),
        EditPlan::Shared { reason, hint } => Err(PlanError::Shared {
            reason: reason.clone(),
            hint: hint.clone(),
        }),
        EditPlan::InsertFlowKey {
            at,
            key,
            beside,
            json,
        } => {
            slice(&(*at..*at))?;
            plain(key)?;
            plain(value)?;
            let replacement = if *json {
                format!(", \"{key}\": \"{value}\"")
            } else {
                format!(", {key}: {value}")
            };
            Ok(Edit {
                span: *at..*at,
                replacement,
                change: Change::Add {
                    beside: *beside,
                    key: key.clone(),
                    value: value.to_string(),
                },
            })
        }
        EditPlan::DotEnv { file, .. } => Err(PlanError::OtherFile(file.clone())),
        EditPlan::AppendDigest { span, tagless } => {
            let written = slice(span)?;
            plain(value)?;
            let base = written.split_once('@').map_or(written, |(b, _)| b);
            let latest = if *tagless { ":latest" } else { "" };
            Ok(Edit {
                span: span.clone(),
                replacement: format!("{base}{latest}@{value}"),
                change: Change::Splice,
            })
        }
    }
}

/// The line ending to use for a line inserted at byte `at`: the one of the
/// line before it, else the file's first one, else `\n`.
fn line_ending(text: &str, at: usize) -> &'static str {
    let before = &text[..at];
    let crlf = if before.ends_with('\n') {
        before.ends_with("\r\n")
    } else {
        text.find('\n')
            .is_some_and(|i| i > 0 && text.as_bytes()[i - 1] == b'\r')
    };
    if crlf {
        "\r\n"
    } else {
        "\n"
    }
}

/// Two planned edits that write the same bytes differently: `at` is the
/// byte where the second starts; `first` and `second` are their spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub at: usize,
    pub first: Range<usize>,
    pub second: Range<usize>,
}

/// Sort edits, drop exact duplicates (an anchored scalar reached through
/// several aliases), and check that none overlap.
pub fn normalize(mut edits: Vec<Edit>) -> Result<Vec<Edit>, Overlap> {
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    edits.dedup();
    for pair in edits.windows(2) {
        if pair[1].span.start < pair[0].span.end {
            return Err(Overlap {
                at: pair[1].span.start,
                first: pair[0].span.clone(),
                second: pair[1].span.clone(),
            });
        }
    }
    Ok(edits)
}

/// Apply sorted, non-overlapping edits (see [`normalize`]).
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let grow: usize = edits.iter().map(|e| e.replacement.len()).sum();
    let mut out = String::with_capacity(text.len() + grow);
    let mut at = 0;
    for e in edits {
        out.push_str(&text[at..e.span.start]);
        out.push_str(&e.replacement);
        at = e.span.end;
    }
    out.push_str(&text[at..]);
    out
}

/// A unified diff (3 lines of context) of applying `edits` to `text`, built
/// from the edits themselves rather than by comparing whole files.
pub fn unified_diff(path: &str, text: &str, edits: &[Edit]) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_unified_diff(&mut out, path, text, edits);
    String::from_utf8(out).unwrap_or_default()
}

/// [`unified_diff`], written hunk by hunk to `out` (no whole-diff buffer).
pub fn write_unified_diff(
    out: &mut impl Write,
    path: &str,
    text: &str,
    edits: &[Edit],
) -> std::io::Result<()> {
    if edits.is_empty() {
        return Ok(());
    }
    const CONTEXT: usize = 3;
    // Line starts, computed once for this file.
    let mut starts = vec![0usize];
    starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    if starts.last() == Some(&text.len()) && !text.is_empty() {
        starts.pop();
    }
    let line_count = starts.len();
    let line_of = |offset: usize| starts.partition_point(|&s| s <= offset) - 1;
    let line_range = |l: usize| starts[l]..starts.get(l + 1).copied().unwrap_or(text.len());

    // Group edits by the line they touch (edits of one line are applied together).
    let mut changed: Vec<(usize, usize, Vec<&Edit>)> = Vec::new(); // (first line, last line, edits)
    for e in edits {
        let (first, last) = (
            line_of(e.span.start),
            line_of(e.span.end.max(e.span.start + 1) - 1),
        );
        match changed.last_mut() {
            Some((_, l, es)) if first <= *l => {
                *l = (*l).max(last);
                es.push(e);
            }
            _ => changed.push((first, last, vec![e])),
        }
    }

    write_diff_header(out, path)?;
    let mut body = String::new();
    let mut i = 0;
    while i < changed.len() {
        // Gather changes whose context windows touch into one hunk.
        let mut j = i;
        while j + 1 < changed.len() && changed[j + 1].0 <= changed[j].1 + 2 * CONTEXT + 1 {
            j += 1;
        }
        let start = changed[i].0.saturating_sub(CONTEXT);
        let end = (changed[j].1 + CONTEXT).min(line_count - 1);
        body.clear();
        let (mut old_n, mut new_n) = (0, 0);
        let mut line = start;
        for (first, last, es) in &changed[i..=j] {
            for l in line..*first {
                push_line(&mut body, ' ', &text[line_range(l)]);
                old_n += 1;
                new_n += 1;
            }
            let old = &text[line_range(*first).start..line_range(*last).end];
            for l in *first..=*last {
                push_line(&mut body, '-', &text[line_range(l)]);
                old_n += 1;
            }
            let base = line_range(*first).start;
            let local: Vec<Edit> = es
                .iter()
                .map(|e| Edit {
                    span: e.span.start - base..e.span.end - base,
                    replacement: e.replacement.clone(),
                    change: e.change.clone(),
                })
                .collect();
            let new = apply(old, &local);
            for l in new.split_inclusive('\n') {
                push_line(&mut body, '+', l);
                new_n += 1;
            }
            line = last + 1;
        }
        for l in line..=end {
            push_line(&mut body, ' ', &text[line_range(l)]);
            old_n += 1;
            new_n += 1;
        }
        write!(
            out,
            "@@ -{},{} +{},{} @@\n{body}",
            start + 1,
            old_n,
            start + 1,
            new_n
        )?;
        i = j + 1;
    }
    Ok(())
}

/// A file's header as git writes it, so `git apply` and GNU `patch -p1`
/// both apply the diff: `diff --git a/P b/P`, then `--- a/P` and `+++ b/P`;
/// a name holding `"`, `\\`, a control character or a non-ASCII byte is
/// C-quoted (`"a/tab\\there.yaml"`, octal bytes for UTF-8), and the `---`/`+++`
/// lines of a name holding a space end in a tab, as git's do (GNU patch
/// reads a name up to it). An absolute path is written as it is, without
/// `a/`, `b/` or the `diff --git` line (`patch -p0` applies it).
fn write_diff_header(out: &mut impl Write, path: &str) -> std::io::Result<()> {
    let path = &diff_path(path);
    let tab = if path.contains(' ') { "\t" } else { "" };
    if path.starts_with('/') {
        let p = git_quote(path);
        return write!(out, "--- {p}{tab}\n+++ {p}{tab}\n");
    }
    let a = git_quote(&format!("a/{path}"));
    let b = git_quote(&format!("b/{path}"));
    write!(out, "diff --git {a} {b}\n--- {a}{tab}\n+++ {b}{tab}\n")
}

/// `path` as a patch names it: without `.` components and empty ones
/// (`./file`, `dir//file`), which `git apply` refuses as an invalid path.
fn diff_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        path.to_string()
    } else {
        joined
    }
}

/// `name` as git's `quote_c_style` writes it: unchanged unless it holds a
/// byte that needs quoting, else in double quotes with C escapes and
/// octal for other bytes (git's default `core.quotePath`).
pub fn git_quote(name: &str) -> String {
    let needs = |b: u8| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f;
    if !name.bytes().any(needs) {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for b in name.bytes() {
        match b {
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b if needs(b) => out.push_str(&format!("\\{b:03o}")),
            b => out.push(b as char),
        }
    }
    out.push('"');
    out
}

fn push_line(out: &mut String, mark: char, line: &str) {
    out.push(mark);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, needle: &str, with: &str) -> Edit {
        let start = text.find(needle).unwrap();
        Edit {
            span: start..start + needle.len(),
            replacement: with.into(),
            change: Change::Splice,
        }
    }

    #[test]
    fn apply_changes_only_the_span() {
        let text = "a: 1\r\nimage: 'x:1' # c\r\nb: 2\r\n";
        let e = edit(text, "x:1", "x:1@sha256:ff");
        assert_eq!(
            apply(text, &[e]),
            "a: 1\r\nimage: 'x:1@sha256:ff' # c\r\nb: 2\r\n"
        );
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn span_of(text: &str, needle: &str) -> Range<usize> {
        let start = text.find(needle).unwrap();
        start..start + needle.len()
    }

    fn run(text: &str, plan: EditPlan, value: &str) -> String {
        let e = plan_edit(text, &plan, value).unwrap();
        apply(text, &normalize(vec![e]).unwrap())
    }

    #[test]
    fn set_digest_hex_writes_bare_hex_and_quotes_what_would_be_a_number() {
        let text = "image:\n  sha: \"\"\n  pullPolicy: IfNotPresent\n";
        let hex = &D[7..];
        let plan = EditPlan::SetDigestHex {
            span: span_of(text, "\"\""),
            key_at: 0,
        };
        assert_eq!(
            run(text, plan.clone(), hex),
            format!("image:\n  sha: {hex}\n  pullPolicy: IfNotPresent\n")
        );
        let digits = "1".repeat(64);
        assert_eq!(
            run(text, plan.clone(), &digits),
            format!("image:\n  sha: \"{digits}\"\n  pullPolicy: IfNotPresent\n")
        );
        let float = format!("1e{}", "5".repeat(62));
        assert_eq!(
            run(text, plan, &float),
            format!("image:\n  sha: \"{float}\"\n  pullPolicy: IfNotPresent\n")
        );
        // An empty value right after the colon gets its space.
        let text = "sha:\n";
        let plan = EditPlan::SetDigestHex {
            span: 4..4,
            key_at: 0,
        };
        assert_eq!(run(text, plan, hex), format!("sha: {hex}\n"));
    }

    #[test]
    fn an_unpinnable_plan_is_refused() {
        let plan = EditPlan::Unpinnable {
            reason: "no digest key".into(),
            hint: "add one".into(),
        };
        assert_eq!(
            plan_edit("a: b\n", &plan, D),
            Err(PlanError::Unpinnable("no digest key".into()))
        );
    }

    #[test]
    fn replace_plan_writes_the_pinned_reference() {
        let text = "a: 1\r\nimage: \"x:1\" # c\r\n";
        let plan = EditPlan::Replace {
            span: span_of(text, "x:1"),
        };
        let pinned = format!("x:1@{D}");
        assert_eq!(
            run(text, plan, &pinned),
            format!("a: 1\r\nimage: \"x:1@{D}\" # c\r\n")
        );
    }

    #[test]
    fn set_value_plan_fills_an_existing_key() {
        // Quoted empty value: the quotes are part of the span.
        let text = "images:\r\n- name: nginx\r\n  digest: \"\"\r\n";
        let plan = EditPlan::SetValue {
            span: span_of(text, "\"\""),
            key_at: 0,
        };
        assert_eq!(
            run(text, plan, D),
            format!("images:\r\n- name: nginx\r\n  digest: {D}\r\n")
        );
        // No value: an empty span after the colon gets a space first.
        let text = "- name: nginx\n  digest:\n  newTag: x\n";
        let at = text.find("digest:").unwrap() + "digest:".len();
        let plan = EditPlan::SetValue {
            span: at..at,
            key_at: 0,
        };
        assert_eq!(
            run(text, plan, D),
            format!("- name: nginx\n  digest: {D}\n  newTag: x\n")
        );
        // A value that would need quoting is refused.
        let plan = EditPlan::SetValue {
            span: at..at,
            key_at: 0,
        };
        assert!(matches!(
            plan_edit(text, &plan, "a: b"),
            Err(PlanError::NotPlain(_))
        ));
    }

    #[test]
    fn insert_key_plan_adds_a_line_with_the_files_line_ending() {
        let text = "images:\r\n- name: nginx\r\n  newTag: \"1.25\" # keep\r\nx: 1\r\n";
        let after = span_of(text, "  newTag: \"1.25\" # keep\r\n").end;
        let plan = EditPlan::InsertKey {
            after_line_end: after,
            indent: "  ".into(),
            key: "digest".into(),
            beside: 0,
        };
        assert_eq!(
            run(text, plan, D),
            format!("images:\r\n- name: nginx\r\n  newTag: \"1.25\" # keep\r\n  digest: {D}\r\nx: 1\r\n")
        );
        // The last line without a line break: one goes before the key, and
        // the file still ends without one.
        let text = "spec:\n  image: a:1";
        let plan = EditPlan::InsertKey {
            after_line_end: text.len(),
            indent: "  ".into(),
            key: "imagePullPolicy".into(),
            beside: 0,
        };
        assert_eq!(
            run(text, plan, "IfNotPresent"),
            "spec:\n  image: a:1\n  imagePullPolicy: IfNotPresent"
        );
        let text = "a: 1\r\nimages:\r\n- name: x\r\n  newTag: \"1\"";
        let plan = EditPlan::InsertKey {
            after_line_end: text.len(),
            indent: "  ".into(),
            key: "digest".into(),
            beside: 0,
        };
        assert_eq!(
            run(text, plan, D),
            format!("a: 1\r\nimages:\r\n- name: x\r\n  newTag: \"1\"\r\n  digest: {D}")
        );
        // Inside a line (a flow mapping `{image: a:1}`): refused.
        let text = "c: {image: a:1}\n";
        let plan = EditPlan::InsertKey {
            after_line_end: text.find('}').unwrap(),
            indent: String::new(),
            key: "imagePullPolicy".into(),
            beside: 0,
        };
        assert!(matches!(
            plan_edit(text, &plan, "Always"),
            Err(PlanError::NotLineStart(_))
        ));
        let plan = EditPlan::InsertKey {
            after_line_end: 0,
            indent: "\t".into(),
            key: "k".into(),
            beside: 0,
        };
        assert!(matches!(
            plan_edit(text, &plan, "v"),
            Err(PlanError::BadIndent(_))
        ));
    }

    #[test]
    fn append_digest_plan_appends_or_replaces_the_digest() {
        let text = "ARG TAG=1.25\r\nFROM nginx:${TAG}\r\n";
        let plan = EditPlan::AppendDigest {
            span: span_of(text, "1.25"),
            tagless: false,
        };
        let once = run(text, plan, D);
        assert_eq!(once, format!("ARG TAG=1.25@{D}\r\nFROM nginx:${{TAG}}\r\n"));
        // Pinning again replaces the digest, never stacks a second one.
        let other = format!("sha256:{}", "f".repeat(64));
        let plan = EditPlan::AppendDigest {
            span: span_of(&once, &format!("1.25@{D}")),
            tagless: false,
        };
        assert_eq!(
            run(&once, plan, &other),
            format!("ARG TAG=1.25@{other}\r\nFROM nginx:${{TAG}}\r\n")
        );
        // A reference without a tag gets `:latest` before the digest.
        let text = "ARG NAME=nginx\nFROM example.com/${NAME}\n";
        let plan = EditPlan::AppendDigest {
            span: span_of(text, "nginx"),
            tagless: true,
        };
        assert_eq!(
            run(text, plan, D),
            format!("ARG NAME=nginx:latest@{D}\nFROM example.com/${{NAME}}\n")
        );
    }

    #[test]
    fn diff_headers_are_written_as_git_writes_them() {
        let header = |p: &str| {
            let mut out = Vec::new();
            write_diff_header(&mut out, p).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            header("my file.yaml"),
            "diff --git a/my file.yaml b/my file.yaml\n--- a/my file.yaml\t\n+++ b/my file.yaml\t\n"
        );
        assert_eq!(
            header("tab\there.yaml"),
            "diff --git \"a/tab\\there.yaml\" \"b/tab\\there.yaml\"\n--- \"a/tab\\there.yaml\"\n+++ \"b/tab\\there.yaml\"\n"
        );
        assert_eq!(git_quote("a/q\"u\\o.yaml"), "\"a/q\\\"u\\\\o.yaml\"");
        assert_eq!(git_quote("a/\u{fc}n.yaml"), "\"a/\\303\\274n.yaml\"");
        assert_eq!(header("/abs/f"), "--- /abs/f\n+++ /abs/f\n");
    }

    #[test]
    fn plans_outside_the_text_are_refused() {
        let plan = EditPlan::Replace { span: 3..99 };
        assert!(matches!(
            plan_edit("abc", &plan, "x"),
            Err(PlanError::OutOfRange(_))
        ));
    }

    #[test]
    fn normalize_dedups_and_rejects_overlap() {
        let a = Edit {
            span: 1..3,
            replacement: "x".into(),
            change: Change::Splice,
        };
        let b = Edit {
            span: 2..4,
            replacement: "y".into(),
            change: Change::Splice,
        };
        assert_eq!(
            normalize(vec![a.clone(), a.clone()]).unwrap(),
            vec![a.clone()]
        );
        assert_eq!(
            normalize(vec![b, a]),
            Err(Overlap {
                at: 2,
                first: 1..3,
                second: 2..4
            })
        );
    }

    #[test]
    fn diff_has_context_and_merges_near_hunks() {
        let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let edits = vec![
            edit(&text, "line 5\n", "line five\n"),
            edit(&text, "line 8\n", "line eight\n"),
            edit(&text, "line 19", "line nineteen"),
        ];
        let d = unified_diff("f.yaml", &text, &edits);
        let expected = "diff --git a/f.yaml b/f.yaml\n--- a/f.yaml\n+++ b/f.yaml\n@@ -2,10 +2,10 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n-line 8\n+line eight\n line 9\n line 10\n line 11\n@@ -16,5 +16,5 @@\n line 16\n line 17\n line 18\n-line 19\n+line nineteen\n line 20\n";
        assert_eq!(d, expected);
    }

    #[test]
    fn diff_marks_missing_final_newline() {
        let text = "image: a:1";
        let d = unified_diff("f", text, &[edit(text, "a:1", "a:1@d")]);
        assert_eq!(d, "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-image: a:1\n\\ No newline at end of file\n+image: a:1@d\n\\ No newline at end of file\n");
        // An absolute path takes no `a/` or `b/`.
        let d = unified_diff("/abs/f", text, &[edit(text, "a:1", "a:1@d")]);
        assert!(d.starts_with("--- /abs/f\n+++ /abs/f\n"), "{d}");
    }
}
