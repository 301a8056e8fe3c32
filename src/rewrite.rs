//! Byte-range edits and unified diffs of them.
//!
//! An edit replaces an exact byte range and nothing else: every other byte of
//! the file (comments, quotes, indentation, anchors, CRLF) stays. Writing the
//! result to disk is [`crate::write`]'s job.

use std::io::Write;
use std::ops::Range;

/// Replace `span` of a file's bytes with `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Range<usize>,
    pub replacement: String,
}

/// Sort edits, drop exact duplicates (an anchored scalar reached through
/// several aliases), and check that none overlap.
pub fn normalize(mut edits: Vec<Edit>) -> Result<Vec<Edit>, String> {
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    edits.dedup();
    for pair in edits.windows(2) {
        if pair[1].span.start < pair[0].span.end {
            return Err(format!(
                "overlapping edits at bytes {:?} and {:?}",
                pair[0].span, pair[1].span
            ));
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

    write!(out, "--- a/{path}\n+++ b/{path}\n")?;
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

    #[test]
    fn normalize_dedups_and_rejects_overlap() {
        let a = Edit {
            span: 1..3,
            replacement: "x".into(),
        };
        let b = Edit {
            span: 2..4,
            replacement: "y".into(),
        };
        assert_eq!(
            normalize(vec![a.clone(), a.clone()]).unwrap(),
            vec![a.clone()]
        );
        assert!(normalize(vec![a, b]).is_err());
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
        let expected = "--- a/f.yaml\n+++ b/f.yaml\n@@ -2,10 +2,10 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n-line 8\n+line eight\n line 9\n line 10\n line 11\n@@ -16,5 +16,5 @@\n line 16\n line 17\n line 18\n-line 19\n+line nineteen\n line 20\n";
        assert_eq!(d, expected);
    }

    #[test]
    fn diff_marks_missing_final_newline() {
        let text = "image: a:1";
        let d = unified_diff("f", text, &[edit(text, "a:1", "a:1@d")]);
        assert_eq!(d, "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-image: a:1\n\\ No newline at end of file\n+image: a:1@d\n\\ No newline at end of file\n");
    }
}
