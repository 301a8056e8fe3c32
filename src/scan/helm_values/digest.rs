//! A mapping's digest key: what it adds to the reference, and how `pin`
//! writes into it in the form the chart's templates print.

use super::*;

/// The mapping's digest key, the `@…` it adds to the reference (none when
/// empty), and how `pin` writes into it.
///
/// A `sha` key holds the bare hex (kube-prometheus-stack prints
/// `@sha256:{{ .sha }}`) unless the chart's templates print it after a
/// bare `@` (kube-state-metrics), when it holds the whole digest.
pub(super) fn digest_of(
    doc: &Doc<'_>,
    map: NodeId,
    path: &str,
    sha_form: Option<ShaForm>,
) -> (Option<String>, Option<String>, EditPlan) {
    let full_sha = sha_form == Some(ShaForm::Full);
    let found = ["digest", "sha"]
        .into_iter()
        .find_map(|k| doc.entry(map, k).map(|e| (k, e)));
    let Some((name, (key, value))) = found else {
        return (
            None,
            None,
            EditPlan::Unpinnable {
                reason: format!(
                    "the values mapping `{path}` has no `digest` or `sha` key to write the digest into"
                ),
                hint: "if the chart's templates read a digest key, add it (`digest: \"\"` for Bitnami charts, `sha: \"\"` for kube-prometheus-stack) and run `imagelock pin` again; imagelock never adds a key the chart might not read".into(),
            },
        );
    };
    // cilium's `useDigest: false` prints no digest, whatever `digest` holds.
    if doc.entry(map, "useDigest").is_some() && !is_true(doc, map, "useDigest") {
        return (
            None,
            None,
            EditPlan::Unpinnable {
                reason: format!("`{path}.useDigest` is not true, so the chart prints no digest"),
                hint: format!("set `{path}.useDigest: true` if the chart should pull by digest, and run `imagelock pin` again"),
            },
        );
    }
    // (through an alias: Helm reads the anchored digest.)
    let written = doc
        .resolve(value)
        .and_then(|v| doc.scalar(v))
        .filter(|s| !s.is_null() && s.is_string() && !s.value.is_empty())
        .map(|s| match name {
            "sha" if !full_sha => format!("@sha256:{}", s.value),
            _ => format!("@{}", s.value),
        });
    let key_at = doc.scalar(key).map_or(0, |k| k.content.start);
    let edit = match value_span(doc, key, value) {
        Some(span) if name == "sha" && !full_sha => EditPlan::SetDigestHex { span, key_at },
        Some(span) => EditPlan::SetValue { span, key_at },
        None => EditPlan::Unpinnable {
            reason: format!(
                "`{path}.{name}` is not written as a plain or quoted scalar on the key's line"
            ),
            hint: format!("write `{name}: \"\"` and run `imagelock pin` again"),
        },
    };
    (Some(name.to_string()), written, edit)
}

/// The bytes a value occupies, quotes included; an empty range right after
/// the key's `:` when the value is empty. `None` for a block scalar or an
/// alias.
fn value_span(doc: &Doc<'_>, key: NodeId, value: NodeId) -> Option<Range<usize>> {
    let text = doc.text().as_bytes();
    let v = doc.scalar(value)?;
    match v.style {
        QuoteStyle::Plain if v.value.is_empty() => {
            let k = doc.scalar(key)?;
            let mut at = k.content.end;
            if k.style != QuoteStyle::Plain {
                at += 1;
            }
            while matches!(text.get(at), Some(b' ' | b'\t')) {
                at += 1;
            }
            (text.get(at) == Some(&b':')).then_some(at + 1..at + 1)
        }
        QuoteStyle::Plain => Some(v.content),
        QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted => {
            let (start, end) = (v.content.start.checked_sub(1)?, v.content.end + 1);
            let quote = |i: usize| matches!(text.get(i), Some(b'\'' | b'"'));
            (quote(start) && quote(end - 1) && v.line == doc.position(key).0).then_some(start..end)
        }
        QuoteStyle::Literal | QuoteStyle::Folded => None,
    }
}
