//! The chart beside a values file: its `Chart.yaml` (the `appVersion`,
//! the subcharts it depends on) and what its templates do with the
//! `appVersion` when a values mapping leaves the tag empty.
//!
//! Reading the templates is no rendering: it is a search of their text for
//! the one thing that decides whether an empty tag is the `appVersion` as
//! written. A template line that prints it unchanged right after the
//! repository's `:` (`{{ .Values.server.image.repository }}:{{
//! .Values.server.image.tag | default .Chart.AppVersion }}"`) confirms it
//! for that mapping; any other use that could reach an image (`v{{ … }}`,
//! `{{ … }}-jdk21`, a `printf`, an assignment printed elsewhere) makes the
//! tag unknown, and the scan warns rather than guess.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

/// A values file's chart, read lazily: most values files never need it.
pub(super) struct Chart {
    dir: PathBuf,
    meta: OnceCell<Result<Meta, String>>,
    templates: OnceCell<Templates>,
    defaults: OnceCell<Option<serde_json::Value>>,
}

/// What `Chart.yaml` says.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    /// `appVersion`, or why there is none to use.
    pub(super) app_version: Result<String, String>,
    /// The subcharts named in `dependencies` (their alias when they have
    /// one: that is the key their values sit under).
    pub(super) dependencies: Vec<String>,
}

impl Chart {
    /// The chart a values file at `values` belongs to (its directory).
    pub(super) fn beside(values: &Path) -> Chart {
        Chart {
            dir: values
                .parent()
                .unwrap_or_else(|| Path::new(""))
                .to_path_buf(),
            meta: OnceCell::new(),
            templates: OnceCell::new(),
            defaults: OnceCell::new(),
        }
    }

    /// The chart's own `values.yaml` (its first document), which Helm
    /// merges under any other values file: `None` when there is no chart
    /// (`Chart.yaml`) or no such file, or it cannot be read.
    pub(super) fn defaults(&self) -> Option<&serde_json::Value> {
        self.defaults
            .get_or_init(|| {
                if !self.dir.join("Chart.yaml").is_file() {
                    return None;
                }
                let text = fs_err::read_to_string(self.dir.join("values.yaml")).ok()?;
                let docs = crate::yaml::value::documents(&text).ok()?;
                docs.into_iter().next().filter(serde_json::Value::is_object)
            })
            .as_ref()
    }

    /// `Chart.yaml`'s contents, or why it cannot be read ("there is no
    /// x/Chart.yaml").
    pub(super) fn meta(&self) -> Result<&Meta, &str> {
        self.meta
            .get_or_init(|| read_meta(&self.dir.join("Chart.yaml")))
            .as_ref()
            .map_err(String::as_str)
    }

    /// When this chart is a subchart unpacked in a parent chart's
    /// `charts/` directory: the parent's `values.yaml` under each key its
    /// `Chart.yaml` gives this chart (its alias, else its name), and the
    /// parent's `global` (as a `{"global": …}` mapping). Helm merges these
    /// over this chart's values.
    pub(super) fn parent_values(&self) -> Vec<(String, serde_json::Value)> {
        let Some(parent) = self
            .dir
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == "charts"))
            .and_then(Path::parent)
        else {
            return Vec::new();
        };
        let read = |path: PathBuf| {
            let text = fs_err::read_to_string(path).ok()?;
            crate::yaml::value::documents(&text)
                .ok()?
                .into_iter()
                .next()
        };
        let (Some(own), Some(meta)) = (
            read(self.dir.join("Chart.yaml")),
            read(parent.join("Chart.yaml")),
        ) else {
            return Vec::new();
        };
        let Some(name) = own.get("name").and_then(|n| n.as_str()) else {
            return Vec::new();
        };
        let Some(values) = read(parent.join("values.yaml")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for dep in meta
            .get("dependencies")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
        {
            if dep.get("name").and_then(|n| n.as_str()) != Some(name) {
                continue;
            }
            let key = dep
                .get("alias")
                .and_then(|a| a.as_str())
                .unwrap_or(name)
                .to_string();
            if let Some(v) = values.get(&key) {
                out.push((key, v.clone()));
            }
        }
        if let Some(global) = values.get("global") {
            out.push(("global".into(), serde_json::json!({ "global": global })));
        }
        out
    }

    /// Whether the templates read the key `key` (`digest`) of the mapping
    /// at `path` (`server.image`): directly, through `with` or a helper
    /// given the mapping, or Bitnami's library; `None` when there are no
    /// templates to tell.
    pub(super) fn reads(&self, path: &str, key: &str) -> Option<bool> {
        let t = self.templates.get_or_init(|| Templates::read(&self.dir));
        if t.unreadable.is_some() {
            return None;
        }
        let root = if path.is_empty() {
            ".Values".to_string()
        } else {
            format!(".Values.{path}")
        };
        let needle = format!("{root}.{key}");
        Some(
            t.reads
                .iter()
                .any(|b| mentions(b, &needle) || hands_over(b, &root))
                || t.library_image.iter().any(|u| {
                    u.text
                        .split(&root)
                        .skip(1)
                        .any(|rest| rest.starts_with([' ', ')', '\t']) || rest.is_empty())
                }),
        )
    }

    /// How the templates print a `sha` key, when they print it one way
    /// only; `None` without templates or evidence (or with both).
    pub(super) fn sha_form(&self) -> Option<ShaForm> {
        let t = self.templates.get_or_init(|| Templates::read(&self.dir));
        match (t.sha_hex, t.sha_full) {
            (true, false) => Some(ShaForm::Hex),
            (false, true) => Some(ShaForm::Full),
            _ => None,
        }
    }

    /// Whether the templates print an empty tag of the mapping at `key`
    /// (`server.image`) as the `appVersion`, unchanged: `Ok(())`, or the
    /// reason they may not.
    pub(super) fn prints_app_version_for(&self, key: &str) -> Result<(), String> {
        let t = self.templates.get_or_init(|| Templates::read(&self.dir));
        if let Some(why) = &t.unreadable {
            return Err(why.clone());
        }
        if let Some(changed) = &t.changed {
            return Err(format!(
                "{} prints the appVersion as `{}`, which may change it",
                changed.at, changed.text
            ));
        }
        let root = if key.is_empty() {
            ".Values".to_string()
        } else {
            format!(".Values.{key}")
        };
        let needle = format!("{root}.tag");
        // Every other action that reads this tag (or hands the whole
        // mapping to something) decides too: `| default "latest"` in one
        // template and the appVersion in another render two tags.
        if let Some(other) = t
            .tag_uses
            .iter()
            .find(|u| !u.unchanged && (mentions(&u.body, &needle) || hands_over(&u.body, &root)))
        {
            return Err(format!(
                "{} prints `{needle}` as `{}`, which is not the appVersion unchanged",
                other.use_.at, other.use_.text
            ));
        }
        let confirmed = t
            .tag_uses
            .iter()
            .any(|u| u.unchanged && mentions(&u.body, &needle))
            || t.library_image.iter().any(|u| {
                // `"imageRoot" .Values.x.image` followed by a space or `)`.
                u.text
                    .split(&root)
                    .skip(1)
                    .any(|rest| rest.starts_with([' ', ')', '\t']) || rest.is_empty())
            });
        if confirmed {
            Ok(())
        } else {
            Err(format!(
                "no template line prints `{needle} | default .Chart.AppVersion` unchanged after the repository"
            ))
        }
    }
}

/// `body` reads the value path `path` itself (`.Values.image.tag`, not
/// `.Values.image.tagOverride`).
fn mentions(body: &str, path: &str) -> bool {
    body.match_indices(path).any(|(i, _)| {
        !body[i + path.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `body` hands the mapping at `root` (`.Values.image`) to something
/// whole (`with`, `include`, an assignment), which may print its tag in
/// any way.
fn hands_over(body: &str, root: &str) -> bool {
    // Bitnami's library helpers that read an image mapping for its pull
    // secrets or to warn about it, and print no image.
    const PRINT_NO_IMAGE: [&str; 4] = [
        "\"common.warnings.",
        "\"common.errors.",
        "\"common.images.renderPullSecrets\"",
        "\"common.images.pullSecrets\"",
    ];
    if PRINT_NO_IMAGE.iter().any(|h| body.contains(h)) {
        return false;
    }
    body.match_indices(root).any(|(i, _)| {
        !body[i + root.len()..]
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    }) && !body.starts_with("if ")
        && !body.starts_with("else if ")
}

fn read_meta(path: &Path) -> Result<Meta, String> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("there is no {}", path.display()))
        }
        Err(e) => return Err(e.to_string()),
    };
    let v = crate::yaml::value::document(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let app_version = match v.get("appVersion") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Err(format!(
            "{}'s appVersion {n} is a number, which Helm reads as text only when quoted",
            path.display()
        )),
        _ => Err(format!("{} has no appVersion", path.display())),
    };
    let dependencies = v
        .get("dependencies")
        .and_then(|d| d.as_array())
        .map(|deps| {
            deps.iter()
                .filter_map(|d| {
                    d.get("alias")
                        .and_then(|a| a.as_str())
                        .or_else(|| d.get("name").and_then(|n| n.as_str()))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Meta {
        app_version,
        dependencies,
    })
}

/// One template action (`{{ … }}`) that reads the appVersion.
#[derive(Debug, Clone)]
struct Use {
    /// `templates/deployment.yaml:42`.
    at: String,
    /// The action's text, `{{` to `}}`.
    text: String,
}

/// An action that reads the appVersion or a `.Values` path.
#[derive(Debug, Clone)]
struct TagUse {
    use_: Use,
    /// The action between its delimiters.
    body: String,
    /// It prints the appVersion (or the value, else the appVersion)
    /// unchanged right after a repository's `:`; otherwise it is a
    /// condition, a label, or a use that may change what it prints.
    unchanged: bool,
}

/// The chart's templates, as far as the appVersion goes.
#[derive(Debug, Default)]
struct Templates {
    /// Why they could not be read (no `templates/` directory).
    unreadable: Option<String>,
    /// Actions that read the appVersion or a values path: whether each
    /// prints it unchanged after a `:`.
    tag_uses: Vec<TagUse>,
    /// Bitnami's `common.images.image` given the chart (`"chart"
    /// .Chart`), which prints the appVersion unchanged for an empty tag.
    library_image: Vec<Use>,
    /// The first use that may change it (or whose printing is elsewhere).
    changed: Option<Use>,
    /// A `.sha` printed after `@sha256:` (kube-prometheus-stack: the hex)
    /// and after a bare `@` (kube-state-metrics: the whole digest).
    sha_hex: bool,
    sha_full: bool,
    /// Every action reading a `.Values` path, conditions included.
    reads: Vec<String>,
}

/// What a chart's templates print after the `@` from a `sha` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShaForm {
    /// `@sha256:{{ .sha }}`: the key holds the bare hex.
    Hex,
    /// `@{{ .sha }}`: the key holds the whole `sha256:…` digest.
    Full,
}

/// More template text than this is not searched (a chart's templates are
/// a few hundred KiB at most).
const MAX_TEMPLATE_BYTES: u64 = 16 << 20;

impl Templates {
    fn read(dir: &Path) -> Templates {
        let root = dir.join("templates");
        let mut files = Vec::new();
        if let Err(why) = collect(&root, &mut files, 0) {
            return Templates {
                unreadable: Some(why),
                ..Templates::default()
            };
        }
        files.sort();
        let mut t = Templates::default();
        let mut total = 0u64;
        for file in files {
            // Helm renders any bytes: a template that is not UTF-8 is
            // searched as well (what it prints is ASCII around the
            // actions), and one that cannot be read leaves the tag unknown.
            let text = match fs_err::read(&file) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    t.unreadable = Some(format!("{e}, so its templates cannot all be searched"));
                    return t;
                }
            };
            total += text.len() as u64;
            if total > MAX_TEMPLATE_BYTES {
                t.unreadable = Some(format!(
                    "{} holds more template text than imagelock searches",
                    root.display()
                ));
                return t;
            }
            let name = file
                .strip_prefix(dir)
                .unwrap_or(&file)
                .display()
                .to_string();
            t.search(&name, &text);
        }
        t
    }

    fn search(&mut self, name: &str, text: &str) {
        for action in actions(text) {
            let body = action.body;
            let at = || Use {
                at: format!("{name}:{}", action.line),
                text: line_of(text, action.start, action.text),
            };
            if body.contains("common.images.image") && body.contains("\"chart\" .Chart") {
                self.library_image.push(at());
                continue;
            }
            if body.contains(".Values") {
                self.reads.push(body.to_string());
            }
            if mentions(body, ".sha") {
                let before = &text[..action.start];
                if body.contains("@sha256:%s") || before.ends_with("@sha256:") {
                    self.sha_hex = true;
                } else if body.contains("@%s") || before.ends_with('@') {
                    self.sha_full = true;
                }
            }
            let app = body.contains("Chart.AppVersion");
            if !app && !body.contains(".Values") {
                continue;
            }
            let class = classify(text, &action);
            if app && matches!(class, Class::Changed) && self.changed.is_none() {
                self.changed = Some(at());
            }
            if matches!(class, Class::Ignored) {
                continue;
            }
            self.tag_uses.push(TagUse {
                use_: at(),
                body: body.to_string(),
                unchanged: matches!(class, Class::Unchanged),
            });
        }
    }
}

/// The template line around an action, trimmed (at most 160 characters:
/// an action is shown whole).
fn line_of(text: &str, at: usize, action: &str) -> String {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[start..end].trim();
    if line.chars().count() <= 160 {
        line.to_string()
    } else {
        action.to_string()
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
    let entries = fs_err::read_dir(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("there is no {} beside it to read", dir.display())
        } else {
            e.to_string()
        }
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        // Through symbolic links, as Helm loads a chart directory.
        let kind = fs_err::metadata(&path).map_err(|e| e.to_string())?;
        if kind.is_dir() {
            if depth >= 8 {
                return Err(format!(
                    "{} is nested deeper than imagelock searches",
                    path.display()
                ));
            }
            collect(&path, out, depth + 1)?;
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// A template action: `{{ … }}`.
struct Action<'t> {
    /// Byte offsets of `{{` and just past `}}`.
    start: usize,
    end: usize,
    /// 1-based line of `{{`.
    line: usize,
    text: &'t str,
    /// Between the delimiters, without trim markers and spaces.
    body: &'t str,
}

fn actions(text: &str) -> Vec<Action<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| from + i) {
        let Some(close) = text[open + 2..].find("}}").map(|i| open + 2 + i) else {
            break;
        };
        let inner = &text[open + 2..close];
        let body = inner.strip_prefix('-').unwrap_or(inner).trim_start();
        let body = body.strip_suffix('-').unwrap_or(body).trim_end();
        out.push(Action {
            start: open,
            end: close + 2,
            line: text[..open].matches('\n').count() + 1,
            text: &text[open..close + 2],
            body,
        });
        from = close + 2;
    }
    out
}

enum Class {
    /// A condition, a label value or a comment: it prints no image part.
    Ignored,
    /// Printed unchanged right after a repository's `:`.
    Unchanged,
    /// Anything else: it may reach an image changed.
    Changed,
}

fn classify(text: &str, a: &Action<'_>) -> Class {
    let body = a.body;
    // (`with` sets the dot to what it reads, which `{{ . }}` then prints
    // anywhere: not a mere condition.)
    if body.starts_with("/*") || ["if ", "else if "].iter().any(|k| body.starts_with(k)) {
        return Class::Ignored;
    }
    // A whole YAML value (`app.kubernetes.io/version: {{ … | quote }}`):
    // a label, an annotation or an environment value, never part of an
    // image string, unless its key is an image's (`image: {{ printf
    // "%s:v%s" … }}`).
    let line_start = text[..a.start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..a.start];
    if before.trim_end() != before && before.trim_end().ends_with(':') {
        let key = before.trim_end().trim_end_matches(':');
        let key = key.rsplit([' ', '\t', '{', ',']).next().unwrap_or(key);
        if !key.to_ascii_lowercase().contains("image") {
            return Class::Ignored;
        }
    }
    if !clean_expression(body) {
        return Class::Changed;
    }
    let prev = text[..a.start].chars().next_back();
    // After `-}}` Helm drops the whitespace that follows: what comes next
    // is glued on.
    let glued = |after: &'_ str, action: &str| {
        if action.ends_with("-}}") {
            after.trim_start().to_string()
        } else {
            after.to_string()
        }
    };
    let after = glued(&text[a.end..], a.text);
    let ends = match after.chars().next() {
        None | Some('"' | '\'' | '@' | '\n' | '\r' | ' ') => true,
        Some('{') => {
            let inner = after.trim_start_matches("{{").trim_start_matches('-');
            let inner = inner.trim_start();
            if inner.starts_with("end") || inner.starts_with("else") {
                true
            } else if inner.starts_with("if ") || inner.starts_with("with ") {
                // A part printed only sometimes right after the tag: a
                // digest (`@…`) and nothing else.
                let close = after.find("}}").map_or(after.len(), |i| i + 2);
                glued(&after[close..], &after[..close]).starts_with('@')
            } else {
                false
            }
        }
        _ => false,
    };
    if prev == Some(':') && ends {
        Class::Unchanged
    } else {
        Class::Changed
    }
}

/// `.Chart.AppVersion`, `X | default .Chart.AppVersion` or `default
/// .Chart.AppVersion X` (optionally `| toString`), where X is a value
/// path (`.Values.a.tag`, `$.Values.a.tag`, `.tag`): nothing that adds
/// to the text.
fn clean_expression(body: &str) -> bool {
    let body = body.strip_suffix("| toString").map_or(body, str::trim_end);
    let app = |s: &str| matches!(s, ".Chart.AppVersion" | "$.Chart.AppVersion");
    let path = |s: &str| {
        (s.starts_with('.') || s.starts_with("$."))
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '$'))
    };
    let words: Vec<&str> = body.split_whitespace().collect();
    match words.as_slice() {
        [a] => app(a),
        [x, "|", "default", a] => path(x) && app(a),
        ["default", a, x] => path(x) && app(a),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> &'static str {
        let a = actions(text)
            .into_iter()
            .find(|a| a.body.contains("AppVersion"))
            .unwrap();
        match classify(text, &a) {
            Class::Ignored => "ignored",
            Class::Unchanged => "unchanged",
            Class::Changed => "changed",
        }
    }

    #[test]
    fn a_tag_is_mentioned_by_its_whole_path() {
        assert!(mentions(
            "(.Values.image.tag | default \"x\")",
            ".Values.image.tag"
        ));
        assert!(mentions("$.Values.image.tag", ".Values.image.tag"));
        assert!(!mentions(".Values.image.tagOverride", ".Values.image.tag"));
        assert!(hands_over("include \"x\" .Values.image", ".Values.image"));
        assert!(hands_over("with .Values.image", ".Values.image"));
        assert!(!hands_over("if .Values.image", ".Values.image"));
        assert!(!hands_over(".Values.image.repository", ".Values.image"));
        assert!(!hands_over(".Values.imagePullSecrets", ".Values.image"));
        assert!(!hands_over(
            "include \"common.warnings.rollingTag\" .Values.image",
            ".Values.image"
        ));
        assert!(!hands_over(
            "include \"common.images.renderPullSecrets\" (dict \"images\" (list .Values.image) \"context\" $)",
            ".Values.image"
        ));
    }

    #[test]
    fn what_the_templates_do_with_the_app_version() {
        for t in [
            "image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}\"",
            "image: {{ .Values.a.repository }}:{{ default .Chart.AppVersion .Values.a.tag }}\n",
            "image: '{{ .Values.a.repository }}:{{- .Values.a.tag | default $.Chart.AppVersion -}}'",
            "image: \"{{ .r }}:{{ .tag | default $.Chart.AppVersion }}{{ with .digest }}@{{ . }}{{ end }}\"",
            "image: \"{{ .r }}:{{ .tag | default $.Chart.AppVersion }}{{- if .digest -}}\n@{{ .digest }}{{ end }}\"",
            "image: {{ .r }}:{{ .tag | default $.Chart.AppVersion -}}\n",
        ] {
            assert_eq!(class(t), "unchanged", "{t}");
        }
        for t in [
            "image: \"{{ .r }}:v{{ .Values.image.tag | default .Chart.AppVersion }}\"",
            "image: \"{{ .r }}:{{ .Values.image.tag | default .Chart.AppVersion }}-jdk21\"",
            "image: \"{{ .r }}:{{ .Values.image.tag | default (printf \"v%s\" .Chart.AppVersion) }}\"",
            "{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}",
            "image: {{ .r }}:{{ .Values.t | default .Chart.AppVersion }}{{ .Values.suffix }}",
            "{{- with .Chart.AppVersion }}",
            "image: \"{{ .r }}:{{ .t | default .Chart.AppVersion }}{{ if .Values.variant }}-{{ .Values.variant }}{{ end }}\"",
            "image: \"{{ .r }}:{{ .t | default .Chart.AppVersion -}}\n   -debian\"",
            "        image: {{ printf \"%s:v%s\" .r (.t | default .Chart.AppVersion) }}\n",
        ] {
            assert_eq!(class(t), "changed", "{t}");
        }
        for t in [
            "  app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}\n",
            "{{- if .Chart.AppVersion }}\n",
            "    version: {{ .Chart.AppVersion | replace \"+\" \"_\" | trunc 63 }}\n",
        ] {
            assert_eq!(class(t), "ignored", "{t}");
        }
    }
}
