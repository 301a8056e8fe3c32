//! CustomResourceDefinitions hold schemas, not workloads: nothing in one is
//! an image reference (`properties.image`, `example`, `default`, `enum`,
//! `x-kubernetes-*`). The scan skips their documents unparsed ([`is_crd`],
//! asked of each document the YAML engine cuts out with byte searches), so
//! a CRD bundle's megabytes of schema are never parsed nor copied.
//! [`mask`] blanks them instead, for the whole-text full-parser reference
//! the fast path is checked against.

use memchr::memmem;

/// Whether the text holds any CRD at all (one substring search): when
/// not, no document needs [`is_crd`].
pub(crate) fn mentions_crd(text: &str) -> bool {
    memmem::find(text.as_bytes(), b"CustomResourceDefinition").is_some()
}

/// Whether one document's text (its marker line included) is a
/// CustomResourceDefinition: a line at column 0 reads `kind:
/// CustomResourceDefinition` (quoted or not, maybe with a comment). Byte
/// searches for column-0 `kind:` lines; the schema is never read.
pub(crate) fn is_crd(doc: &str) -> bool {
    let b = doc.as_bytes();
    let line_at = |p: usize| {
        let end = memchr::memchr(b'\n', &b[p..]).map_or(b.len(), |i| p + i);
        &doc[p..end]
    };
    if doc.starts_with("kind:") && is_crd_kind(line_at(0)) {
        return true;
    }
    memmem::find_iter(b, b"\nkind:").any(|nl| is_crd_kind(line_at(nl + 1)))
}

/// `text` with every CustomResourceDefinition document blanked: it becomes
/// a null document (`~`, then spaces for every byte but line breaks), so
/// byte offsets, line numbers, document indexes and the other documents
/// stay exactly as they were. `None` when there is no CRD.
///
/// A document ends at a `---` or `...` line at column 0 (YAML allows no
/// such line inside a scalar); it is a CRD when a line at column 0 reads
/// `kind: CustomResourceDefinition` (quoted or not, maybe with a comment).
pub(crate) fn mask(text: &str) -> Option<String> {
    // Most files hold no CRD: one substring search (SIMD) says so.
    if !mentions_crd(text) {
        return None;
    }
    let mut crds = Vec::new();
    let mut doc_start = 0;
    let mut is_crd = false;
    let mut pos = 0;
    let bytes = text.as_bytes();
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i);
        let line = &text[pos..end];
        if is_marker(line) {
            if is_crd {
                crds.push(doc_start..pos);
            }
            is_crd = false;
            doc_start = end;
        } else if is_crd_kind(line) {
            is_crd = true;
        }
        pos = end + 1;
    }
    if is_crd {
        crds.push(doc_start..bytes.len());
    }
    if crds.is_empty() {
        return None;
    }
    let mut out = bytes.to_vec();
    for r in crds {
        // A `~` (null) at the first line start keeps the document there, so
        // the documents after it keep their index.
        let mut first = true;
        for b in &mut out[r] {
            if *b != b'\n' {
                *b = if first { b'~' } else { b' ' };
                first = false;
            }
        }
    }
    // Only ASCII bytes were written over whole documents' bytes (every
    // byte of a multi-byte character is replaced), so this is UTF-8.
    String::from_utf8(out).ok()
}

/// `---` or `...` at column 0, alone or followed by a space.
fn is_marker(line: &str) -> bool {
    let line = line.strip_suffix('\r').unwrap_or(line);
    (line.starts_with("---") || line.starts_with("..."))
        && matches!(line.as_bytes().get(3), None | Some(b' ' | b'\t'))
}

fn is_crd_kind(line: &str) -> bool {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let Some(rest) = line.strip_prefix("kind:") else {
        return false;
    };
    let value = rest.split(" #").next().unwrap_or(rest).trim();
    let value = value
        .strip_prefix(['"', '\''])
        .and_then(|v| v.strip_suffix(['"', '\'']))
        .unwrap_or(value);
    value == "CustomResourceDefinition"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_only_crd_documents_keeping_offsets() {
        let text = "kind: Pod\n---\napiVersion: x\nkind: \"CustomResourceDefinition\" # c\nspec:\n  image: é\r\n...\nkind: Pod\n";
        let m = mask(text).unwrap();
        assert_eq!(m.len(), text.len());
        assert_eq!(m.matches('\n').count(), text.matches('\n').count());
        assert!(m.starts_with("kind: Pod\n---\n"));
        assert!(m.ends_with("\n...\nkind: Pod\n"));
        assert!(!m.contains("image"));
        assert!(m.contains("---\n~ "));
        assert_eq!(mask("kind: Pod\n  kind: CustomResourceDefinition\n"), None);
    }

    #[test]
    fn tells_a_crd_document_by_its_column_0_kind() {
        assert!(is_crd("kind: CustomResourceDefinition\n"));
        assert!(is_crd(
            "---\napiVersion: x\nkind: 'CustomResourceDefinition' # c\r\nspec: {}\n"
        ));
        assert!(!is_crd(
            "---\nkind: Pod\nspec:\n  kind: CustomResourceDefinition\n"
        ));
        assert!(!is_crd("--- kind: CustomResourceDefinition\n"));
        assert!(!is_crd("kind: CustomResourceDefinitionList\n"));
    }
}
