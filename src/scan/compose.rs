//! The compose extractor: `services.<name>.image` of a compose file, with
//! the service's `pull_policy` and whether it has a `build:` section (then
//! the image is the one it builds, not one to pull). Service keys are read
//! through merge keys (`<<: *common`), as compose reads them.
//!
//! An `image:` value holding variables (`app:${TAG:-1.2}`) is read as
//! compose interpolates it ([`interpolate`]), with values from the
//! project's `.env` ([`dotenv`], the compose file's directory) and the
//! defaults written in the file; the process environment only with
//! `--compose-env` ([`super::Options::compose_environment`]), so that a lockfile does not
//! depend on who runs imagelock. A variable with no value and no default
//! is an empty string, as compose substitutes it, with a warning; the
//! image is read when it is complete without it. Pinning writes the digest
//! where the resolved reference ends: after the value's literal tail,
//! inside the default that applied, or in the `.env` entry that sets the
//! last variable ([`EditPlan::DotEnv`]) when that changes nothing else;
//! otherwise at the end of the image value, after the expansion. Only a
//! reference ending in the environment or in `$$`, or a value shared
//! through an anchor or written with escapes, is refused with the reason.

pub mod dotenv;
pub mod interpolate;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::extraction::Extraction;
use super::EditPlan;
use super::{ComposeService, Context, FoundImage, ImageField, InvalidImage, ScanWarning};
use crate::reference::Reference;
use crate::yaml::{Doc, NodeId};
use interpolate::{End, Source, Unresolved, Value};

/// A variable that built a reference, for `list --format json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Variable {
    pub value: String,
    pub from: From,
}

/// Where a variable's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum From {
    /// The project's `.env` file.
    #[serde(rename = ".env")]
    DotEnv,
    /// The process environment (`--compose-env`).
    #[serde(rename = "environment")]
    Environment,
    /// The default written in the compose file (`${VAR:-default}`).
    #[serde(rename = "default")]
    Default,
    /// Not set and no default: an empty string, as compose substitutes.
    #[serde(rename = "unset")]
    Unset,
}

/// Whether `path` is a compose project's `.env` (what `pin` writes a
/// digest into when a `.env` variable ends a reference).
pub fn is_dotenv_name(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == ".env")
}

/// Whether a file name is one of compose variables, the project's own
/// or a template of it (`scanning` notes it, never reads it as YAML): `.env`,
/// `.env.*` (`.env.example`), `*.env`, or `env.example` / `env.sample` /
/// `env.template` / `env.dist`.
pub fn is_variables_file_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name == ".env"
        || name.starts_with(".env.")
        || (name.ends_with(".env") && name.len() > 4)
        || name
            .strip_prefix("env.")
            .is_some_and(|ext| ["example", "sample", "template", "dist"].contains(&ext))
}

/// A compose file: a top-level mapping with a `services` mapping and
/// neither `apiVersion` nor `kind` (those make it a Kubernetes object).
pub fn is_compose(doc: &Doc<'_>, root: NodeId) -> bool {
    super::extraction::untyped_with_map(doc, root, "services").is_some()
}

/// The compose project's variables: its `.env` (read once per document
/// that needs it) and, with `--compose-env`, the environment.
struct Project {
    path: PathBuf,
    dotenv: dotenv::DotEnv,
    environment: bool,
    /// The other compose files of the directory (which read the same
    /// `.env`): path and text, read when first asked.
    siblings: std::cell::OnceCell<Vec<(PathBuf, String)>>,
    /// This compose file.
    file: PathBuf,
}

impl Project {
    fn load(file: &Path, environment: bool, ex: &mut Extraction<'_>) -> Project {
        // Beside the compose file, named as the user named that file
        // (`.env`, not `./.env`, for a file named without a directory).
        let path = file.with_file_name(".env");
        let env_lookup = |k: &str| std::env::var(k).ok();
        let env_fn: Option<dotenv::Environment<'_>> = environment.then_some(&env_lookup);
        let dotenv = match dotenv::read(&path) {
            Ok(text) => match dotenv::parse(&text, env_fn) {
                Ok(d) => d,
                Err(e) => {
                    ex.out.warnings.push(ScanWarning {
                        file: Arc::from(path.as_path()),
                        line: e.line,
                        column: e.column,
                        message: format!(
                            "{}; compose refuses this .env, and imagelock reads none of its variables",
                            e.message
                        ),
                        placeholder: false,
                    });
                    dotenv::DotEnv::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => dotenv::DotEnv::default(),
            Err(e) => {
                ex.out.warnings.push(ScanWarning {
                    file: Arc::from(path.as_path()),
                    line: 1,
                    column: 1,
                    message: format!("cannot read the compose project's .env: {e}"),
                    placeholder: false,
                });
                dotenv::DotEnv::default()
            }
        };
        Project {
            path,
            dotenv,
            environment,
            siblings: std::cell::OnceCell::new(),
            file: file.to_path_buf(),
        }
    }

    /// Another compose file of the project directory that mentions
    /// `$name` or `${name…}` (compose reads the one `.env` for every
    /// compose file there: a digest written into it reaches them all).
    fn sibling_use(&self, name: &str) -> Option<&Path> {
        let siblings = self.siblings.get_or_init(|| {
            let Ok(entries) = fs_err::read_dir(directory(&self.file)) else {
                return Vec::new();
            };
            let this = fs_err::canonicalize(&self.file).ok();
            let mut out: Vec<(PathBuf, String)> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .filter(|p| fs_err::canonicalize(p).ok() != this)
                .filter_map(|p| {
                    let text = fs_err::read_to_string(&p).ok()?;
                    text.contains("services:").then_some((p, text))
                })
                .collect();
            out.sort();
            out
        });
        siblings
            .iter()
            .find(|(_, text)| mentions(text, name))
            .map(|(p, _)| p.as_path())
    }

    fn lookup(&self, name: &str) -> Option<Value> {
        if self.environment {
            if let Ok(value) = std::env::var(name) {
                return Some(Value {
                    value,
                    source: Source::Environment,
                });
            }
        }
        self.dotenv.entry(name).map(|e| Value {
            value: e.value.clone(),
            source: Source::DotEnv,
        })
    }

    /// Whether a value of the compose file names this project's `.env`
    /// (`env_file: .env`, `./.env`, `.//.env`, `sub/../.env`, an absolute
    /// path, `${DIR:-.}/.env`, or another name of the same file): a path
    /// relative to the compose file's directory, interpolated first.
    fn names_dotenv(&self, value: &str) -> bool {
        let v = value.trim();
        let resolved;
        let v = if v.contains('$') {
            match interpolate::parse(v)
                .ok()
                .and_then(|p| interpolate::resolve(&p, &|n| self.lookup(n)).ok())
            {
                Some(r) => {
                    resolved = r.text;
                    resolved.trim()
                }
                // Not resolvable: count what could name it.
                None => return v.ends_with(".env"),
            }
        } else {
            v
        };
        if v.is_empty() || !v.to_ascii_lowercase().ends_with("env") {
            return false;
        }
        let dir = self.path.parent().unwrap_or(Path::new(""));
        let named = dir.join(v);
        if normalized(&named) == normalized(&self.path) {
            return true;
        }
        match (
            fs_err::canonicalize(&named),
            fs_err::canonicalize(&self.path),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    fn how_to_set(&self, name: &str) -> String {
        if self.environment {
            format!(
                "set it in {} or in the environment, or write a default (`${{{name}:-…}}`)",
                self.path.display()
            )
        } else {
            format!(
                "set it in {} (or pass --compose-env to read the environment, as compose does), or write a default (`${{{name}:-…}}`)",
                self.path.display()
            )
        }
    }
}

/// The compose project directory: the compose file's (`.` for a file
/// named without one).
fn directory(file: &Path) -> &Path {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `path` made absolute (from the working directory) with `.` and `..`
/// resolved lexically.
fn normalized(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    super::walk::normalize_lexically(&absolute)
}

/// Read the image of every service of a compose document.
pub fn extract(doc: &Doc<'_>, root: NodeId, environment: bool, ex: &mut Extraction<'_>) {
    let Some(services) = doc
        .resolve(root)
        .and_then(|r| doc.get(r, "services"))
        .and_then(|s| doc.resolve(s))
    else {
        return;
    };
    let mut project: Option<Project> = None;
    // Images pinned through a `.env` entry: (index in `ex.out.images`,
    // the variable, the end of the image value when it could take the
    // digest instead).
    let mut through_dotenv: Vec<(usize, String, Option<usize>)> = Vec::new();
    for kv in doc.map_entries(services).chunks_exact(2) {
        let Some(name) = doc.scalar_str(kv[0]) else {
            continue;
        };
        let Some(service) = doc.resolve(kv[1]).filter(|&s| doc.is_map(s)) else {
            continue;
        };
        let Some((key, value)) = doc.entry_merged(service, "image") else {
            continue;
        };
        let Some(target) = doc.resolve(value) else {
            ex.warn_at(
                doc,
                key,
                "image: the alias refers to an unknown anchor; skipped".into(),
            );
            continue;
        };
        if !doc.is_scalar(target) {
            let what = doc.describe(target);
            ex.warn_at(
                doc,
                target,
                format!("image value is {what}, not a string; skipped"),
            );
            continue;
        }
        let mut context = ComposeService {
            service: name.to_string(),
            pull_policy: doc
                .get_str_merged(service, "pull_policy")
                .map(str::to_string),
            built: doc.entry_merged(service, "build").is_some(),
            ..ComposeService::default()
        };
        let templated = doc
            .scalar(target)
            .filter(|s| s.is_string() && interpolate::has_dollar(s.value));
        let policy_templated = context
            .pull_policy
            .as_deref()
            .is_some_and(interpolate::has_dollar);
        // The project's `.env` is read only for a value holding variables.
        if policy_templated || templated.is_some() {
            let file = ex.path().to_path_buf();
            let project = project.get_or_insert_with(|| Project::load(&file, environment, ex));
            if let Some(p) = context.pull_policy.as_deref().filter(|p| p.contains('$')) {
                // `pull_policy` is interpolated too; one that does not resolve
                // stays as written (the policy rules then say what it is).
                if let Ok(parts) = interpolate::parse(p) {
                    if let Ok(r) = interpolate::resolve(&parts, &|n| project.lookup(n)) {
                        context.pull_policy = Some(r.text);
                    }
                }
            }
        }
        let (Some(_), Some(project)) = (templated, project.as_ref()) else {
            ex.image(
                doc,
                key,
                target,
                ImageField::Image,
                Context::Compose(context),
                "image",
            );
            continue;
        };
        if let Some(through) = interpolated(doc, target, context, project, ex) {
            through_dotenv.push(through);
        }
    }
    if let Some(project) = &project {
        place_shared_dotenv(doc, project, &through_dotenv, ex);
    }
}

/// Report the image of a value holding variables: the reference compose
/// interpolates it to, with its pin plan; a warning when it does not
/// resolve. Returns the image's index when its plan writes into `.env`.
fn interpolated(
    doc: &Doc<'_>,
    id: NodeId,
    mut context: ComposeService,
    project: &Project,
    ex: &mut Extraction<'_>,
) -> Option<(usize, String, Option<usize>)> {
    let s = doc.scalar(id)?;
    let column_of = |at: usize| {
        let before = &s.value[..at.min(s.value.len())];
        if s.exact && !before.contains('\n') {
            s.column + before.chars().count()
        } else {
            s.column
        }
    };
    let parts = match interpolate::parse(s.value) {
        Ok(p) => p,
        Err(e) => {
            ex.warn(
                s.line,
                column_of(e.at),
                format!(
                    "image {:?} is not a valid compose interpolation: {}; skipped (compose refuses it too)",
                    s.value, e.message
                ),
            );
            return None;
        }
    };
    let resolved = match interpolate::resolve(&parts, &|n| project.lookup(n)) {
        Ok(r) => r,
        Err(Unresolved::Required { name, at, message }) => {
            ex.warn(
                s.line,
                column_of(at),
                format!(
                    "image {:?}: {name} is required ({message:?}) but not set; the image is skipped: {}",
                    s.value,
                    project.how_to_set(&name)
                ),
            );
            return None;
        }
    };
    // A variable with no value and no default is an empty string to
    // compose, which warns; so is it here. A reference that is still
    // complete without it is read (`${REGISTRY}app:1.2`); one that is not
    // (`app:${TAG}` → `app:`) is skipped, never an invalid value.
    if let Some((name, at)) = resolved.unset.first() {
        let where_ = if project.environment {
            "in .env or the environment"
        } else {
            "in .env"
        };
        let names: Vec<&str> = resolved.unset.iter().map(|(n, _)| n.as_str()).collect();
        let valid = !resolved.text.is_empty() && Reference::parse(&resolved.text).is_ok();
        let outcome = if valid {
            format!(
                "compose substitutes an empty string, so the image is {}",
                resolved.text
            )
        } else {
            format!(
                "compose substitutes an empty string, which leaves {:?}, no image reference; the image is skipped",
                resolved.text
            )
        };
        ex.warn(
            s.line,
            column_of(*at),
            format!(
                "image {:?}: {} {} not set {where_} and {} no default: {outcome}: {}",
                s.value,
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                if names.len() == 1 { "has" } else { "have" },
                project.how_to_set(name)
            ),
        );
        if !valid {
            return None;
        }
    }
    context.template = Some(s.value.to_string());
    for (name, _) in &resolved.unset {
        context.variables.insert(
            name.clone(),
            Variable {
                value: String::new(),
                from: From::Unset,
            },
        );
    }
    for u in &resolved.used {
        let from = match u.source {
            None => From::Default,
            Some(Source::DotEnv) => From::DotEnv,
            Some(Source::Environment) => From::Environment,
        };
        context.variables.insert(
            u.name.clone(),
            Variable {
                value: u.value.clone(),
                from,
            },
        );
    }
    let reference = match Reference::parse(&resolved.text) {
        Ok(r) => r,
        Err(e) => {
            let (line, column) = (s.line, s.column);
            ex.invalid_at(
                s.content.clone(),
                InvalidImage {
                    file: ex.file(),
                    line,
                    column,
                    value: resolved.text.clone(),
                    message: format!("{} (interpolated from {:?})", e.reason, s.value),
                },
            );
            return None;
        }
    };
    let tagless = reference.tag().is_none();
    let refuse = |why: String, hint: &str| EditPlan::Shared {
        reason: format!("no single place pins {}: {why}", resolved.text),
        hint: hint.to_string(),
    };
    // Where no written value ends the reference by itself, the digest
    // goes at the end of the image value, after the expansion (as in a
    // Dockerfile's FROM word): `app:${TAG}@sha256:…`.
    // Not when the value already brings a digest from a variable (a
    // `.env` value pinned for another image): a second one cannot follow.
    let value_end = (s.exact && reference.digest().is_none()).then_some(s.content.end);
    let mut dotenv_variable = None;
    let edit = match &resolved.end {
        End::Literal(span) if s.exact => EditPlan::AppendDigest {
            span: s.content.start + span.start..s.content.start + span.end,
            tagless,
        },
        End::Literal(_) => refuse(
            "the image value is written with escapes or line folding".into(),
            "write the image as a plain or simply quoted scalar on one line",
        ),
        End::DotEnv(name) => match project.dotenv.entry(name) {
            Some(e) if e.exact => {
                dotenv_variable = Some(name.clone());
                EditPlan::DotEnv {
                    file: project.path.clone(),
                    span: e.span.clone(),
                    tagless,
                    variable: name.clone(),
                }
            }
            _ => match value_end {
                Some(end) => after_value(end),
                None => refuse(
                    format!(
                        "it ends in `{name}`, whose value in {} is not written as it reads (escapes, or `${{…}}` inside it), and the image value is written with escapes or line folding or takes its digest from a variable",
                        project.path.display()
                    ),
                    "write the value plainly in .env (`NAME=value`), or the image as a plain or simply quoted scalar on one line",
                ),
            },
        },
        End::Nowhere(why) => match value_end {
            Some(end) => after_value(end),
            None => refuse(
                format!("{why}, and the image value is written with escapes or line folding or takes its digest from a variable"),
                "write the image as a plain or simply quoted scalar on one line, with no digest in a variable's value",
            ),
        },
        End::Unwritten(why) => refuse(
            why.clone(),
            "end the image value with a literal tag, a default (`${TAG:-1.2}`) or a .env variable",
        ),
    };
    let image = FoundImage {
        file: ex.file(),
        line: s.line,
        column: s.column,
        span: s.content.clone(),
        edit,
        style: s.style,
        // The plan says whether (and where) the reference can be pinned.
        exact: true,
        field: ImageField::Image,
        reference,
        context: Context::Compose(context),
        document: ex.document,
    };
    let index = ex.out.images.len();
    let reported = ex.found(doc, id, image);
    match (reported, dotenv_variable) {
        (true, Some(v)) => Some((index, v, value_end)),
        _ => None,
    }
}

/// Whether `text` names variable `name` as `$name` or `${name…}`.
fn mentions(text: &str, name: &str) -> bool {
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    text.match_indices('$').any(|(at, _)| {
        let rest = &text[at + 1..];
        let (braced, rest) = match rest.strip_prefix('{') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        rest.strip_prefix(name).is_some_and(|tail| {
            let next = tail.bytes().next();
            if braced {
                next.is_some_and(|c| !ident(c))
            } else {
                next.is_none_or(|c| !ident(c))
            }
        })
    })
}

/// The digest written at the end of an image value, after whatever the
/// expansion gives (`app:${TAG}@sha256:…`; an `@…` written there is
/// replaced): it wins over an override of the variables, as a digest in
/// a reference does.
fn after_value(end: usize) -> EditPlan {
    EditPlan::AppendDigest {
        span: end..end,
        tagless: false,
    }
}

/// Move off `.env` the plans that would change more than the reference
/// they pin, to the end of each image value (or refuse them where that is
/// not written as it reads): the variable is also used elsewhere in the
/// compose file, in `.env` or in another compose file of the directory,
/// the `.env` is given to containers (`env_file`), it ends an image a
/// service builds, or images with different repositories end in it (one
/// digest cannot serve both).
fn place_shared_dotenv(
    doc: &Doc<'_>,
    project: &Project,
    through: &[(usize, String, Option<usize>)],
    ex: &mut Extraction<'_>,
) {
    if through.is_empty() {
        return;
    }
    // Every mention of every variable in the document's scalars (keys
    // included), and whether the `.env` is handed to containers.
    let mut mentions: HashMap<String, usize> = HashMap::new();
    let mut env_file = false;
    for id in 0..doc.len() as NodeId {
        // An alias of a scalar is one more use of what it holds.
        let id = match doc.alias_target(id) {
            Some(Some(target)) => target,
            Some(None) => continue,
            None => id,
        };
        let Some(s) = doc.scalar_value(id) else {
            continue;
        };
        if !env_file && project.names_dotenv(s.value) {
            env_file = true;
        }
        if !s.value.contains('$') {
            continue;
        }
        let mut names = Vec::new();
        match interpolate::parse(s.value) {
            Ok(parts) => interpolate::names(&parts, &mut names),
            // Not a valid template: count what looks like a variable, to
            // stay on the safe side.
            Err(_) => names.extend(
                through
                    .iter()
                    .filter(|(_, n, _)| s.value.contains(n.as_str()))
                    .map(|(_, n, _)| n.clone()),
            ),
        }
        for n in names {
            *mentions.entry(n).or_default() += 1;
        }
    }
    let mut by_variable: BTreeMap<&str, Vec<(usize, Option<usize>)>> = BTreeMap::new();
    for (i, v, end) in through {
        by_variable.entry(v.as_str()).or_default().push((*i, *end));
    }
    let file = project.path.display().to_string();
    for (variable, images) in by_variable {
        let used = mentions.get(variable).copied().unwrap_or(0);
        let repositories: std::collections::BTreeSet<String> = images
            .iter()
            .map(|&(i, _)| ex.out.images[i].reference.name_str().to_string())
            .collect();
        let why = if env_file {
            Some((
                format!("{file} is also given to containers (`env_file`), so writing a digest into `{variable}` there would change their environment too"),
                "end the image value with a literal tag or a default (`${TAG:-1.2}`), or keep the image's variables in a file of their own",
            ))
        } else if used > images.len() || project.dotenv.mentioned(variable) {
            Some((
                format!("`{variable}` in {file} is also used elsewhere (not as the end of an image value), so writing a digest into it would change that use too"),
                "give the image its own variable (used only at the end of image values), or end the image value with a literal tag or a default",
            ))
        } else if let Some(other) = project.sibling_use(variable) {
            Some((
                format!("`{variable}` in {file} is also read by {}, another compose file of the project, so writing a digest into it would change that file's values too", other.display()),
                "give the image its own variable, or end the image value with a literal tag or a default",
            ))
        } else if let Some(built) =
            images
                .iter()
                .find_map(|&(i, _)| match &ex.out.images[i].context {
                    Context::Compose(c) if c.built => Some(c.service.clone()),
                    _ => None,
                })
        {
            Some((
                format!("`{variable}` in {file} also ends the image that service `{built}` builds (`build:`), whose name would then hold a digest (compose cannot tag a build with one)"),
                "give the built image its own tag variable, or end the pulled image's value with a literal tag or a default",
            ))
        } else if repositories.len() > 1 {
            Some((
                format!(
                    "images of different repositories ({}) end in `{variable}` from {file}: one digest cannot pin them all",
                    repositories.into_iter().collect::<Vec<_>>().join(", ")
                ),
                "give each image its own tag variable",
            ))
        } else {
            None
        };
        // The `.env` line cannot take the digest: the end of each image
        // value does, where it is written as it reads.
        if let Some((reason, hint)) = why {
            for (i, end) in images {
                let img = &mut ex.out.images[i];
                img.edit = match end {
                    Some(end) => after_value(end),
                    None if img.reference.digest().is_some() => EditPlan::Shared {
                        reason: format!("no single place pins {}: {reason}, and its digest is already written in that value, where another pin cannot replace it", img.reference),
                        hint: format!("remove the digest from `{variable}` in {file} and run pin again: the digest then goes at the end of each image value"),
                    },
                    None => EditPlan::Shared {
                        reason: format!("no single place pins {}: {reason}, and the image value is written with escapes or line folding", img.reference),
                        hint: hint.to_string(),
                    },
                };
            }
        }
    }
}
