//! The differential pin test, over any directory of files (the fixtures
//! under `testdata/`, the real-world corpus in `scripts/check-corpus.sh`):
//! a copy of the tree, and for every file the real binary lists
//! references in, a lockfile covering every one of them, then `pin
//! --pull-policy if-not-present FILE`. The result must read back as the
//! old file with only image values changed and only digest and pull
//! policy keys added (YAML and JSON compared as the trees
//! `imagelock::yaml::value` reads, an independent reader from the scan's;
//! Dockerfiles as the same text once digests are taken out), list every
//! reference pinned to its locked digest, and change nothing on a second
//! pin. A file pin refuses must be left byte for byte as it was, and the
//! refusal must be one a user can act on, never the safety net's
//! internal error. Shared by `tests/it/pin_roundtrip.rs` and
//! `tools/pin_roundtrip.rs` (`#[path]`), so it uses only std, fs-err,
//! serde_json, tempfile and the library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use imagelock::lockfile::{Entry, Lockfile};
use imagelock::reference::{Digest, Reference};
use serde_json::Value;

/// What a round trip over a tree found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Files with references that pin rewrote and that read back right.
    pub(crate) pinned: Vec<PathBuf>,
    /// Files pin refused, with its error lines (left unchanged).
    pub(crate) refused: Vec<(PathBuf, String)>,
    /// Files whose references were all pinned already (nothing to write).
    pub(crate) unchanged: Vec<PathBuf>,
    /// Everything that went wrong.
    pub(crate) failures: Vec<String>,
}

/// The lock digest the round trip uses for `name:tag`.
fn digest_for(name: &str, tag: &str) -> Digest {
    Digest::sha256_of(format!("roundtrip {name}:{tag}").as_bytes())
}

/// Every file below `root` imagelock would read, in order (`.git` left).
fn files(root: &Path) -> Vec<PathBuf> {
    walk(root, &is_input)
}

/// A file imagelock reads: YAML, JSON, a Dockerfile or Containerfile.
fn is_input(p: &Path, name: &str) -> bool {
    name.ends_with(".yaml")
        || name.ends_with(".yml")
        || name.ends_with(".json")
        || imagelock::scan::dockerfile::is_dockerfile_name(p)
}

/// Every file below `root` (`.git` left) that `keep` takes, sorted.
fn walk(root: &Path, keep: &dyn Fn(&Path, &str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if name == ".git" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p, &name) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The files imagelock reads, and those beside them that change how a
/// file is read (a compose project's `.env`; a chart's `Chart.yaml` is a
/// `.yaml` already).
fn copy_tree(from: &Path, to: &Path) {
    for f in walk(from, &|p, name| is_input(p, name) || name == ".env") {
        let dest = to.join(f.strip_prefix(from).unwrap());
        fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
        fs_err::copy(&f, &dest).unwrap();
    }
}

fn imagelock(bin: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .arg("--no-config")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Round-trip every file under `root` (left untouched: a copy is pinned).
pub(crate) fn run(bin: &Path, root: &Path) -> Report {
    let bin = &fs_err::canonicalize(bin).unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    copy_tree(root, dir);
    let mut report = Report::default();
    for file in files(dir) {
        let rel = file.strip_prefix(dir).unwrap().to_path_buf();
        one(bin, dir, &rel, &mut report);
    }
    report
}

fn one(bin: &Path, dir: &Path, rel: &Path, report: &mut Report) {
    let shown = rel.display().to_string();
    let lockfile = dir.join(".roundtrip.lock");
    let Ok((refs, matrix_keys)) = listed(bin, dir, &shown) else {
        // Not read (a syntax error, a template): pin must refuse it too.
        return refused_unchanged(bin, dir, rel, report);
    };
    if refs.is_empty() {
        return;
    }
    let mut lock = Lockfile::new();
    for r in &refs {
        if r.tag().is_none() && r.digest().is_some() {
            continue;
        }
        let tag = r.effective_tag().unwrap_or("latest").to_string();
        lock.insert(Entry {
            name: r.name(),
            digest: digest_for(&r.name(), &tag),
            tag: Some(tag),
            media_type: None,
            platforms: BTreeMap::new(),
            signatures: Vec::new(),
            attestations: Vec::new(),
        });
    }
    fs_err::write(&lockfile, lock.to_toml()).unwrap();
    let path = dir.join(rel);
    let before = fs_err::read(&path).unwrap();
    // A compose file may pin through its project's `.env` (a variable
    // that ends a reference): that file changes with it, only by digests.
    let dotenv = path.with_file_name(".env");
    let env_before = fs_err::read(&dotenv).ok();
    let args = [
        "--lockfile",
        ".roundtrip.lock",
        "pin",
        "--pull-policy",
        "if-not-present",
        &shown,
    ];
    let o = imagelock(bin, dir, &args);
    let after = fs_err::read(&path).unwrap();
    let stderr = text(&o.stderr);
    let pin_stderr = stderr.clone();
    if stderr.contains("internal error") || stderr.contains("unsafe-edit") {
        report.failures.push(format!(
            "{shown}: the safety net refused a planned edit: {stderr}"
        ));
    }
    let env_after = fs_err::read(&dotenv).ok();
    if o.status.code() != Some(0) {
        if env_after != env_before {
            report.failures.push(format!(
                "{shown}: pin failed yet changed {}: {stderr}",
                dotenv.display()
            ));
        }
        if after != before {
            report.failures.push(format!(
                "{shown}: pin failed yet changed the file: {stderr}"
            ));
        }
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        report.refused.push((rel.to_path_buf(), errors.join("\n")));
        return;
    }
    let env_changed = env_after != env_before;
    if let (true, Some(b), Some(a)) = (env_changed, &env_before, &env_after) {
        if !pinned_within(&text(b), &text(a), &lock) {
            report.failures.push(format!(
                "{shown}: {} changed beyond digests:\n--- before\n{}\n--- after\n{}",
                dotenv.display(),
                text(b),
                text(a)
            ));
            return;
        }
    }
    if after == before && !env_changed {
        report.unchanged.push(rel.to_path_buf());
    } else if after == before {
        report.pinned.push(rel.to_path_buf());
    } else {
        let (b, a) = (text(&before), text(&after));
        if let Err(e) = same_but_pinned(rel, &b, &a, &lock, &matrix_keys) {
            report
                .failures
                .push(format!("{shown}: {e}\n--- before\n{b}\n--- after\n{a}"));
            return;
        }
        report.pinned.push(rel.to_path_buf());
    }
    // Read back: every reference that was listed is pinned to its digest.
    match listed(bin, dir, &shown) {
        Ok((now, _)) => {
            if now.len() != refs.len() {
                report.failures.push(format!(
                    "{shown}: {} reference(s) before pin, {} after",
                    refs.len(),
                    now.len()
                ));
            }
            for (was, is) in refs.iter().zip(&now) {
                // A reference pin leaves with a warning (a Helm values
                // mapping with no digest key) reads back as it was.
                if is == was && pin_stderr.contains(&format!("{was} is not pinned")) {
                    continue;
                }
                let want = match lock.lookup(was) {
                    Some(e) if was.tag().is_some() || was.digest().is_none() => Some(&e.digest),
                    _ => was.digest(),
                };
                if is.name() != was.name() || is.digest() != want {
                    report
                        .failures
                        .push(format!("{shown}: {was} read back as {is}"));
                }
            }
        }
        Err(stderr) => report.failures.push(format!(
            "{shown}: imagelock cannot list the pinned file: {stderr}"
        )),
    }
    // A second pin changes nothing.
    let o = imagelock(bin, dir, &args);
    if o.status.code() != Some(0)
        || fs_err::read(&path).unwrap() != after
        || fs_err::read(&dotenv).ok() != env_after
    {
        report.failures.push(format!(
            "{shown}: a second pin changed the file or failed: {}",
            text(&o.stderr)
        ));
    }
}

/// The references `list --format json FILE` finds (those pin would pin:
/// not built by compose, not ignored), with the workflow matrix keys whose
/// values are images (`context.matrix`: `strategy.matrix.db[0]` → `db`),
/// or its stderr when it lists none.
fn listed(bin: &Path, dir: &Path, shown: &str) -> Result<(Vec<Reference>, Vec<String>), String> {
    let o = imagelock(
        bin,
        dir,
        &[
            "--lockfile",
            ".roundtrip.lock",
            "list",
            "--format",
            "json",
            shown,
        ],
    );
    let v = serde_json::from_slice::<Value>(&o.stdout).map_err(|_| text(&o.stderr))?;
    let rows = v["references"].as_array().cloned().unwrap_or_default();
    let refs = rows
        .iter()
        .filter(|r| r["status"] != "built" && r["status"] != "ignored")
        .filter_map(|r| Reference::parse(r["reference"].as_str()?).ok())
        .collect();
    let keys = rows
        .iter()
        .filter_map(|r| r["context"]["matrix"].as_str())
        .filter_map(|m| m.rsplit(['.', '[']).find(|k| !k.ends_with(']')))
        .map(str::to_string)
        .collect();
    Ok((refs, keys))
}

fn refused_unchanged(bin: &Path, dir: &Path, rel: &Path, report: &mut Report) {
    let shown = rel.display().to_string();
    let path = dir.join(rel);
    let before = fs_err::read(&path).unwrap();
    let o = imagelock(bin, dir, &["--lockfile", ".roundtrip.lock", "pin", &shown]);
    if fs_err::read(&path).unwrap() != before {
        report
            .failures
            .push(format!("{shown}: list failed but pin changed the file"));
    }
    if o.status.code() != Some(0) {
        report
            .refused
            .push((rel.to_path_buf(), text(&o.stderr).lines().take(3).collect()));
    }
}

/// The new text is the old one with only image values pinned and digest
/// or pull policy keys added (YAML, JSON: as trees; Dockerfiles: as text
/// without digests).
fn same_but_pinned(
    rel: &Path,
    before: &str,
    after: &str,
    lock: &Lockfile,
    matrix_keys: &[String],
) -> Result<(), String> {
    if imagelock::scan::dockerfile::is_dockerfile_name(rel) {
        let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
        if b.len() != a.len() || before.ends_with('\n') != after.ends_with('\n') {
            return Err("the Dockerfile's lines changed".into());
        }
        for (x, y) in b.iter().zip(&a) {
            if !same_modulo_digests(x, y) {
                return Err(format!("the line {x:?} became {y:?}"));
            }
        }
        return Ok(());
    }
    // Go-YAML's indentation (what kubectl accepts) read with imagelock's
    // workaround when a strict reader refuses the file.
    let read = |t: &str| {
        imagelock::yaml::value::documents(t).or_else(|e| {
            let fix = imagelock::yaml::indent_fix::IndentFix::continuations(t);
            imagelock::yaml::value::documents(&fix.apply(t).text).map_err(|_| e)
        })
    };
    let b = read(before).map_err(|e| format!("old text: {e}"))?;
    let a = read(after).map_err(|e| format!("the pinned file is not YAML any more: {e}"))?;
    if a.len() != b.len() {
        return Err(format!("{} document(s) became {}", b.len(), a.len()));
    }
    for (i, (x, y)) in b.iter().zip(&a).enumerate() {
        same(x, y, lock, None, matrix_keys).map_err(|e| format!("document {}: {e}", i + 1))?;
    }
    Ok(())
}

/// Keys pin may add beside an image, with the value it writes.
fn added_key_ok(key: &str, value: &Value, lock: &Lockfile) -> bool {
    match (key, value) {
        ("imagePullPolicy" | "pullPolicy", Value::String(v)) => v == "IfNotPresent",
        ("digest", Value::String(v)) => lock.entries().any(|e| e.digest.to_string() == *v),
        _ => false,
    }
}

/// Keys whose values pin may rewrite into a pinned reference: an image
/// field (Kubernetes and compose `image`, an image volume's `reference`, a
/// workflow's `container` string, a `docker://` step's `uses`). A
/// reference pinned under any other key (a label, a selector, a name
/// reached through an alias) is a failure. Besides these, the workflow
/// matrix keys `list` read images from (`matrix_keys`).
const IMAGE_KEYS: &[&str] = &["image", "reference", "container", "uses"];

/// A Helm values key named like an image that may hold a whole reference
/// (consul's `imageK8S`, `sidecarImage`).
fn helm_image_key(k: &str) -> bool {
    k.strip_prefix("image")
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit()))
        || (k.ends_with("Image") && k.len() > "Image".len())
}

fn same(
    before: &Value,
    after: &Value,
    lock: &Lockfile,
    key: Option<&str>,
    matrix_keys: &[String],
) -> Result<(), String> {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => {
                        same(v, w, lock, Some(k), matrix_keys).map_err(|e| format!("{k}: {e}"))?;
                    }
                    None => return Err(format!("key {k} is gone")),
                }
            }
            for (k, v) in b {
                if !a.contains_key(k) && !added_key_ok(k, v, lock) {
                    return Err(format!("key {k}: {v} was added"));
                }
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(x, y, lock, key, matrix_keys).map_err(|e| format!("[{i}]: {e}"))?;
            }
            Ok(())
        }
        (Value::String(a), Value::String(b)) if a != b => {
            if (a == "Always" || a == "Never" || a == "IfNotPresent") && b == "IfNotPresent" {
                return Ok(());
            }
            // A digest key filled in (kustomize `digest`, Helm `digest`/`sha`).
            if lock
                .entries()
                .any(|e| e.digest.to_string() == *b || e.digest.encoded() == b.as_str())
                && (a.is_empty() || a.starts_with("sha256:") || a.len() == 64)
            {
                return Ok(());
            }
            // An image value pinned, under a key that holds images.
            let image_key = |k: &str| {
                IMAGE_KEYS.contains(&k) || matrix_keys.iter().any(|m| m == k) || helm_image_key(k)
            };
            if key.is_some_and(image_key) && pinned_within(a, b, lock) {
                return Ok(());
            }
            Err(format!("{a:?} became {b:?}"))
        }
        (Value::Null, Value::String(b)) if lock.entries().any(|e| e.digest.to_string() == *b) => {
            Ok(()) // `digest:` with no value, filled in
        }
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{a} became {b}")),
    }
}

/// `after` is `before` with one reference in it pinned to a locked digest
/// (`nginx:1.25` → `nginx:1.25@sha256:…`, an `@…` replaced).
fn pinned_within(before: &str, after: &str, lock: &Lockfile) -> bool {
    same_modulo_digests(before, after)
        && lock
            .entries()
            .any(|e| after.contains(&e.digest.to_string()))
}

/// Equal once every `@sha256:…` is taken out (and a `:latest` that pin
/// writes before the digest of an untagged reference).
fn same_modulo_digests(before: &str, after: &str) -> bool {
    let b = strip_digests(before);
    b == strip_digests(after) || b == strip_digests(&after.replace(":latest@sha256:", "@sha256:"))
}

/// `text` with every `@sha256:<hex>` removed.
pub(crate) fn strip_digests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("@sha256:") {
        out.push_str(&rest[..at]);
        let hex = &rest[at + 8..];
        let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
        rest = &hex[n..];
    }
    out.push_str(rest);
    out
}
