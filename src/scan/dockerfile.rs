//! Image references in Dockerfiles and Containerfiles: the `FROM` base
//! images, `COPY --from=<image>`, `RUN --mount=…,from=<image>` and the
//! `# syntax=` parser directive, with exact byte spans for pinning.
//!
//! Stage names, stage indexes and `scratch` are not images. Build
//! arguments declared before the first `FROM` (`ARG NAME=default`) are
//! substituted as BuildKit does, defaults built from other arguments
//! expanded in order; a reference that only `--build-arg` could complete,
//! or that varies by build platform, is a warning, never an error.
//!
//! Where the digest goes (`Scanner::finish`): into the `ARG` default only
//! when the argument ends the reference, is written literally, and nothing
//! but images ending in it (all the same reference) reads it; otherwise
//! into the image word right after the expansion. Never modifies a file.

mod expand;
mod instructions;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use self::expand::{Piece, Stop, Value};
/// `new` reads as `old` with only the given byte edits made to its
/// instruction words (the safety net, `crate::verify`).
pub(crate) use self::instructions::same_but_edits;
use self::instructions::{Instruction, Parsed};
use crate::reference::Reference;
use crate::scan::{
    Context, EditPlan, FileScan, FoundImage, ImageField, InvalidImage, QuoteStyle, ScanWarning,
};

/// Where in a Dockerfile a reference sits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DockerfileContext {
    pub instruction: DockerfileInstruction,
    /// The `AS` name of the `FROM`, or the stage a `COPY`/`RUN` is in.
    pub stage: Option<String>,
    /// `FROM --platform=…` as written.
    pub platform: Option<String>,
    /// The build argument substituted into the reference, when one was.
    pub via_arg: Option<String>,
    /// What the span holds, so what `pin` writes there.
    pub pin: DockerfilePin,
    /// Named by an `ONBUILD` trigger: pulled when a build uses this
    /// image as its base, not by this build.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub onbuild: bool,
}

/// The instruction that names the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DockerfileInstruction {
    From,
    CopyFrom,
    RunMount,
    Syntax,
}

/// What the span of a Dockerfile image holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DockerfilePin {
    /// The whole reference: pinned text is [`Reference::pinned`].
    Reference,
    /// The text that ends the reference (an `ARG` value such as `1.25` in
    /// `FROM nginx:${TAG}`, or the literal tail `:1.25` of
    /// `FROM ${REPO}:1.25`): pinned text is it with `@<digest>` appended
    /// (an existing `@…` replaced).
    AppendDigest,
}

/// Whether a file name is a Dockerfile or Containerfile: `Dockerfile`,
/// `Containerfile` (any case, as Docker and buildah accept), `*.Dockerfile`,
/// `*-Dockerfile`, `*.containerfile` (any case), and `Dockerfile.*`,
/// `Dockerfile-*`, `Dockerfile_*`, `Containerfile.*` (capitalised, as editors match them,
/// so a source file `dockerfile.rs` is not one) unless the extension says
/// another kind of file (`Dockerfile.dockerignore`, `Dockerfile.md`,
/// `Dockerfile.j2`).
pub fn is_dockerfile_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    for base in ["dockerfile", "containerfile"] {
        if lower == base {
            return true;
        }
        if lower
            .strip_suffix(base)
            .is_some_and(|head| head.ends_with(['.', '-', '_']))
        {
            return true;
        }
    }
    let rest = ["Dockerfile", "Containerfile"]
        .iter()
        .find_map(|base| name.strip_prefix(base))
        .and_then(|rest| rest.strip_prefix(['.', '-', '_']));
    let Some(rest) = rest.filter(|r| !r.is_empty()) else {
        return false;
    };
    let ext = rest.rsplit('.').next().unwrap_or(rest).to_ascii_lowercase();
    !NOT_DOCKERFILE_EXTENSIONS.contains(&ext.as_str())
}

/// A file whose name imagelock does not recognise (not a Dockerfile name,
/// not `.yaml`/`.yml`/`.json`) that reads as a Dockerfile: its first
/// instruction, after blank lines, comments and parser directives, is
/// `FROM` or `ARG` (as every Dockerfile's must be), a `FROM` written as
/// BuildKit takes one (`FROM [--flag…] image [AS name]`). That keyword.
pub fn sniffed(path: &Path, text: &str) -> Option<&'static str> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if is_dockerfile_name(path) || matches!(ext.as_deref(), Some("yaml" | "yml" | "json")) {
        return None;
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let (word, rest) = line.split_once([' ', '\t'])?;
    let keyword = ["FROM", "ARG"]
        .into_iter()
        .find(|k| word.eq_ignore_ascii_case(k))?;
    // A FROM as BuildKit takes it: one image word, or three with `AS` in
    // the middle, after its flags (so Python's `from os import path` is
    // not one).
    let mut words: Vec<&str> = rest
        .split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect();
    let continued = matches!(words.last(), Some(&"\\" | &"`"));
    if continued {
        words.pop();
    }
    let from_like = match words.as_slice() {
        [] => continued,
        [_] => true,
        [_, as_, _] => as_.eq_ignore_ascii_case("as"),
        _ => false,
    };
    (keyword == "ARG" || from_like).then_some(keyword)
}

/// Extensions of files named `Dockerfile.*` that are something else.
const NOT_DOCKERFILE_EXTENSIONS: [&str; 26] = [
    "dockerignore",
    "containerignore",
    "md",
    "txt",
    "rst",
    "adoc",
    "yaml",
    "yml",
    "json",
    "toml",
    "rs",
    "go",
    "py",
    "js",
    "ts",
    "sh",
    "orig",
    "bak",
    "swp",
    "j2",
    "jinja",
    "tmpl",
    "tpl",
    "template",
    "in",
    "erb",
];

/// Scan the text of one Dockerfile.
pub fn scan_text(path: &Path, text: &str) -> FileScan {
    let parsed = instructions::parse(text);
    let mut s = Scanner {
        file: Arc::from(path),
        text,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        escape: parsed.escape,
        out: FileScan::default(),
        globals: HashMap::new(),
        stage_args: HashMap::new(),
        stage_declared: Vec::new(),
        stages: Vec::new(),
        stage: None,
        in_stage: false,
        uses: Vec::new(),
        image_words: Vec::new(),
        pending: Vec::new(),
    };
    s.directives(&parsed);
    for ins in &parsed.instructions {
        s.instruction(ins);
    }
    if let Some((name, at)) = &parsed.unterminated {
        s.warn(
            *at,
            format!("heredoc <<{name} is never closed, so BuildKit rejects the file (unterminated heredoc); the lines after it are its body and are not read"),
        );
    }
    s.finish()
}

/// A build argument's declaration.
#[derive(Debug, Clone)]
enum Arg {
    Default(ArgValue),
    NoDefault,
    /// A default whose value the file does not give: it reads an
    /// argument with no default or a platform argument (`ARG A=${B}`: the
    /// argument named is that root), or uses expansion imagelock does not
    /// follow (`${B#prefix}`: the argument named is this one).
    Unresolved(String, Why),
}

/// Why a build argument's value is not known from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Declared with no default: only `--build-arg` sets it.
    NoDefault,
    /// One of BuildKit's automatic platform arguments.
    Platform,
    /// A default written with expansion imagelock does not follow.
    Unsupported,
    /// A default that expands to more than [`expand::MAX_EXPANDED`] bytes.
    TooLong,
}

/// BuildKit's automatic platform arguments: their values depend on the
/// build (`--platform`), never on the file.
const PLATFORM_ARGS: [&str; 8] = [
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// A build argument as a word reads it.
enum Resolved<'a> {
    Set(&'a ArgValue),
    /// Declared without a default, or not declared: `${A:-x}` is `x`.
    Unset(String),
    /// Has a value the file does not give: the argument at the root, and
    /// why.
    Unknown(String, Why),
}

impl<'a> Resolved<'a> {
    fn value_owned(self) -> Value<'a> {
        match self {
            Resolved::Set(v) => Value::Set(v.text.as_str()),
            Resolved::Unset(_) => Value::Unset,
            Resolved::Unknown(..) => Value::Unknown,
        }
    }

    /// The argument to name when it has no value, and why.
    fn root(self, name: &str) -> (String, Why) {
        match self {
            Resolved::Set(_) => (name.to_string(), Why::NoDefault),
            Resolved::Unset(r) => (r, Why::NoDefault),
            Resolved::Unknown(r, w) => (r, w),
        }
    }
}

#[derive(Debug, Clone)]
struct ArgValue {
    /// The value (quotes removed, other arguments expanded).
    text: String,
    /// Its bytes in the file, when they are exactly `text` (a literal
    /// default, not one built from other arguments).
    span: Option<Range<usize>>,
    style: QuoteStyle,
}

/// One image found, before the end-of-file checks.
struct Pending {
    image: FoundImage,
    /// Pinning in the `ARG` default instead of the image word, when the
    /// argument ends the reference: allowed only if nothing but this
    /// reference reads the argument (decided in [`Scanner::finish`]).
    arg_plan: Option<ArgPlan>,
}

struct ArgPlan {
    name: String,
    span: Range<usize>,
    style: QuoteStyle,
    pin: DockerfilePin,
    /// The expanded reference, which every image sharing the edit must be.
    value: String,
}

struct Scanner<'a> {
    /// The file, shared by every image found.
    file: Arc<Path>,
    text: &'a str,
    line_starts: Vec<usize>,
    escape: char,
    out: FileScan,
    /// `ARG`s before the first `FROM`.
    globals: HashMap<String, Arg>,
    /// `ARG`s of the current stage.
    stage_args: HashMap<String, Arg>,
    /// Arguments declared in a stage since the last `RUN` or heredoc: the
    /// next `RUN` has them in its environment, and a `COPY` or `ADD`
    /// heredoc body is expanded with them, so each reads them.
    stage_declared: Vec<String>,
    /// Stage names so far, lower case (BuildKit compares them so).
    stages: Vec<String>,
    stage: Option<String>,
    in_stage: bool,
    /// Each build-argument use in an image word: its name and whether it
    /// ends the reference on its own (`FROM nginx:${V}`).
    uses: Vec<(String, bool)>,
    /// The file bytes of every image word read (where a build argument's
    /// use is an image's).
    image_words: Vec<Range<usize>>,
    pending: Vec<Pending>,
}

/// What is being read, for messages and the context.
#[derive(Clone, Copy)]
struct Site<'p> {
    instruction: DockerfileInstruction,
    platform: Option<&'p str>,
    /// In an `ONBUILD` trigger.
    onbuild: bool,
}

impl Scanner<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        (line, column)
    }

    fn warn(&mut self, offset: usize, message: String) {
        let (line, column) = self.line_col(offset);
        self.out.warnings.push(ScanWarning {
            file: self.file.clone(),
            line,
            column,
            message,
            placeholder: false,
        });
    }

    fn directives(&mut self, parsed: &Parsed) {
        let Some(d) = parsed.directives.iter().find(|d| d.name == "syntax") else {
            return;
        };
        let (line, column) = self.line_col(d.span.start);
        match Reference::parse(&d.value) {
            Ok(reference) => self.push(Pending {
                image: self.found(
                    line,
                    column,
                    d.span.clone(),
                    QuoteStyle::Plain,
                    true,
                    reference,
                    DockerfileContext {
                        instruction: DockerfileInstruction::Syntax,
                        stage: None,
                        platform: None,
                        via_arg: None,
                        pin: DockerfilePin::Reference,
                        onbuild: false,
                    },
                ),
                arg_plan: None,
            }),
            Err(e) => self.invalid(line, column, &d.value, e.reason),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn found(
        &self,
        line: usize,
        column: usize,
        span: Range<usize>,
        style: QuoteStyle,
        exact: bool,
        reference: Reference,
        dockerfile: DockerfileContext,
    ) -> FoundImage {
        let edit = match dockerfile.pin {
            DockerfilePin::Reference => EditPlan::Replace { span: span.clone() },
            DockerfilePin::AppendDigest => EditPlan::AppendDigest {
                span: span.clone(),
                tagless: reference.tag().is_none(),
            },
        };
        FoundImage {
            file: self.file.clone(),
            line,
            column,
            span,
            edit,
            style,
            exact,
            field: ImageField::Image,
            reference,
            context: Context::Dockerfile(dockerfile),
            document: 0,
        }
    }

    fn push(&mut self, p: Pending) {
        self.pending.push(p);
    }

    fn invalid(&mut self, line: usize, column: usize, value: &str, message: String) {
        self.out.invalid.push(InvalidImage {
            file: self.file.clone(),
            line,
            column,
            value: value.to_string(),
            message,
        });
    }

    fn instruction(&mut self, ins: &Instruction) {
        let words = ins.words(self.escape);
        let Some((first, args)) = words.split_first() else {
            return;
        };
        let keyword = ins.slice(&first.range).to_ascii_uppercase();
        match keyword.as_str() {
            "ARG" => self.arg(ins, args),
            "FROM" => self.from(ins, args),
            "ONBUILD" => {
                let Some((trigger, rest)) = args.split_first() else {
                    return;
                };
                let t = ins.slice(&trigger.range).to_ascii_uppercase();
                if t == "FROM" {
                    let at = ins.file_offset(trigger.range.start);
                    self.warn(
                        at,
                        "ONBUILD FROM: BuildKit rejects FROM as an ONBUILD trigger, so this names no image; skipped".to_string(),
                    );
                } else {
                    self.triggers(ins, &t, rest, true);
                }
            }
            _ => {
                // A COPY or ADD heredoc too: its body is expanded (`# $V`
                // there is file content, not a comment).
                if keyword == "RUN"
                    || (matches!(keyword.as_str(), "COPY" | "ADD")
                        && !instructions::heredocs(ins, self.escape).is_empty())
                {
                    let read = std::mem::take(&mut self.stage_declared);
                    self.uses.extend(read.into_iter().map(|n| (n, false)));
                }
                self.triggers(ins, &keyword, args, false);
            }
        }
    }

    /// The images of a `COPY --from=` or `RUN --mount=…,from=`, also as an
    /// `ONBUILD` trigger (`onbuild`).
    fn triggers(
        &mut self,
        ins: &Instruction,
        keyword: &str,
        args: &[instructions::Word],
        onbuild: bool,
    ) {
        match keyword {
            "COPY" => {
                for w in flags(ins, args) {
                    if let Some(v) = flag_value(ins, w, "--from") {
                        let site = Site {
                            instruction: DockerfileInstruction::CopyFrom,
                            platform: None,
                            onbuild,
                        };
                        self.image(ins, v, site);
                    }
                }
            }
            "RUN" => {
                for w in flags(ins, args) {
                    let Some(v) = flag_value(ins, w, "--mount") else {
                        continue;
                    };
                    if let Some(from) = mount_from(ins, v, self.escape) {
                        let site = Site {
                            instruction: DockerfileInstruction::RunMount,
                            platform: None,
                            onbuild,
                        };
                        self.image(ins, from, site);
                    }
                }
            }
            _ => {}
        }
    }

    fn arg(&mut self, ins: &Instruction, args: &[instructions::Word]) {
        for w in args {
            let word = ins.slice(&w.range);
            let (name, decl) = match word.split_once('=') {
                None => (word.to_string(), Arg::NoDefault),
                Some((name, _)) => {
                    let value = w.range.start + name.len() + 1..w.range.end;
                    (name.to_string(), self.arg_value(ins, name, value))
                }
            };
            // `ARG V` with no default keeps the value V has: a global's
            // earlier default, or in a stage the global default (BuildKit
            // looks it up) else the stage's earlier one.
            let global_value = matches!(
                self.globals.get(&name),
                Some(Arg::Default(_) | Arg::Unresolved(..))
            );
            if self.in_stage {
                // The stage's arguments are the environment of its RUN
                // commands (and of stages built on it): a later RUN reads
                // them, whatever it writes.
                self.stage_declared.push(name.clone());
                if matches!(decl, Arg::NoDefault)
                    && !global_value
                    && self.stage_args.contains_key(&name)
                {
                    continue;
                }
                self.stage_args.insert(name, decl);
            } else {
                if matches!(decl, Arg::NoDefault) && self.globals.contains_key(&name) {
                    continue;
                }
                self.globals.insert(name, decl);
            }
        }
    }

    /// An `ARG` default: quotes removed; one built from other arguments
    /// (`${A}`, `${A:-x}`, `${A:+x}`, itself included: `ARG A=${A:-x}`) is
    /// expanded with the arguments declared so far, as BuildKit does.
    fn arg_value(&self, ins: &Instruction, name: &str, range: Range<usize>) -> Arg {
        let raw = ins.slice(&range);
        let (style, inner) = unquote(raw, range.clone());
        let text = ins.slice(&inner);
        if text.contains('$') {
            let from = !self.in_stage;
            let Some(pieces) = expand::pieces(&ins.text, inner.clone(), self.escape) else {
                return Arg::Unresolved(name.to_string(), Why::Unsupported);
            };
            let lookup = |n: &str| self.resolve(from, n).value_owned();
            return match expand::expand(&ins.text, &pieces, &lookup) {
                // Quotes written in the default (`${A:-"x"}`) are removed,
                // as the shell lexer does; a variable's value is kept.
                Ok(parts) => Arg::Default(ArgValue {
                    text: parts
                        .iter()
                        .map(|(t, src)| match src {
                            expand::Source::Word(_) => shell_unquote(t, self.escape),
                            expand::Source::Variable(_) => t.clone(),
                        })
                        .collect(),
                    span: None,
                    style,
                }),
                Err(Stop::NoDefault(n)) => {
                    let (root, why) = self.resolve(from, &n).root(&n);
                    Arg::Unresolved(root, why)
                }
                Err(Stop::TooLong) => Arg::Unresolved(name.to_string(), Why::TooLong),
            };
        }
        let clean = !text.contains(['"', '\'', self.escape]);
        let value = if clean {
            text.to_string()
        } else {
            // With the quotes around it: `'1.2\5'` keeps its `\`.
            shell_unquote(raw, self.escape)
        };
        Arg::Default(ArgValue {
            text: value,
            span: ins.file_span(&inner).filter(|_| clean),
            style,
        })
    }

    fn from(&mut self, ins: &Instruction, args: &[instructions::Word]) {
        let flags = flags(ins, args);
        let platform = flags
            .iter()
            .find_map(|w| flag_value(ins, w, "--platform"))
            .map(|r| ins.slice(&r).to_string());
        let rest = &args[flags.len()..];
        let name = match rest {
            [_, as_, name, ..] if ins.slice(&as_.range).eq_ignore_ascii_case("as") => {
                Some(ins.slice(&name.range).to_string())
            }
            _ => None,
        };
        self.in_stage = true;
        self.stage_args.clear();
        self.stage = name.clone();
        if let Some(image) = rest.first() {
            let site = Site {
                instruction: DockerfileInstruction::From,
                platform: platform.as_deref(),
                onbuild: false,
            };
            self.image(ins, image.range.clone(), site);
        }
        if let Some(n) = name {
            self.stages.push(n.to_ascii_lowercase());
        }
    }

    /// A build argument's value where a word reads it: global `ARG`s for
    /// a `FROM` (`from`), the stage's (re)declared ones elsewhere.
    fn resolve(&self, from: bool, name: &str) -> Resolved<'_> {
        let undeclared = || {
            if PLATFORM_ARGS.contains(&name) {
                Resolved::Unknown(name.to_string(), Why::Platform)
            } else {
                Resolved::Unset(name.to_string())
            }
        };
        let global = || match self.globals.get(name) {
            Some(Arg::Default(v)) => Resolved::Set(v),
            Some(Arg::Unresolved(root, why)) => Resolved::Unknown(root.clone(), *why),
            _ => undeclared(),
        };
        if from {
            return global();
        }
        match self.stage_args.get(name) {
            Some(Arg::Default(v)) => Resolved::Set(v),
            Some(Arg::NoDefault) => global(),
            Some(Arg::Unresolved(root, why)) => Resolved::Unknown(root.clone(), *why),
            None => undeclared(),
        }
    }

    /// An image word that names an earlier stage for some build platform
    /// (`FROM ${TARGETOS}` after `FROM base AS linux`): each common
    /// platform is tried, as BuildKit expands the word before it matches
    /// stage names.
    fn platform_stage(&self, ins: &Instruction, pieces: &[Piece], from: bool) -> bool {
        const OS: [&str; 4] = ["linux", "windows", "darwin", "freebsd"];
        const ARCH: [&str; 8] = [
            "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "loong64",
        ];
        OS.iter().any(|os| {
            ARCH.iter().any(|arch| {
                let platform = format!("{os}/{arch}");
                let lookup = |n: &str| match n {
                    "TARGETOS" | "BUILDOS" => Value::Set(os),
                    "TARGETARCH" | "BUILDARCH" => Value::Set(arch),
                    "TARGETPLATFORM" | "BUILDPLATFORM" => Value::Set(platform.as_str()),
                    "TARGETVARIANT" | "BUILDVARIANT" => Value::Set(""),
                    _ => self.resolve(from, n).value_owned(),
                };
                expand::expand(&ins.text, pieces, &lookup).is_ok_and(|parts| {
                    let value: String = parts.iter().map(|(t, _)| t.as_str()).collect();
                    self.stages.contains(&value.to_ascii_lowercase())
                })
            })
        })
    }

    /// An image word that starts like the stage names of a family
    /// (`FROM binaries-$TARGETOS` with stages `binaries-linux`, …): a
    /// stage BuildKit picks after expansion, not an image.
    fn stage_family(&self, ins: &Instruction, pieces: &[Piece]) -> bool {
        let Some(Piece::Literal(r)) = pieces.first() else {
            return false;
        };
        if pieces.len() < 2 {
            return false;
        }
        let prefix = ins.slice(r).to_ascii_lowercase();
        self.stages.iter().any(|s| s.starts_with(&prefix))
    }

    /// One image word (`range` in the instruction's text).
    fn image(&mut self, ins: &Instruction, range: Range<usize>, site: Site<'_>) {
        let word_offset = ins.file_offset(range.start);
        if !range.is_empty() {
            self.image_words
                .push(word_offset..ins.file_offset(range.end - 1) + 1);
        }
        let (line, column) = self.line_col(word_offset);
        let written = ins.slice(&range).to_string();
        let (word_style, inner) = unquote(&written, range.clone());
        let what = match site.instruction {
            DockerfileInstruction::From => "FROM",
            DockerfileInstruction::CopyFrom => "COPY --from",
            DockerfileInstruction::RunMount => "RUN --mount from",
            DockerfileInstruction::Syntax => "syntax",
        };
        let Some(pieces) = expand::pieces(&ins.text, inner.clone(), self.escape) else {
            self.warn(
                word_offset,
                format!("{what} {written:?} uses quoting or expansion imagelock does not follow; skipped"),
            );
            return;
        };
        let mut names = Vec::new();
        expand::names(&pieces, &mut names);
        if site.onbuild && !names.is_empty() {
            self.uses.extend(names.iter().map(|n| (n.clone(), false)));
            self.warn(
                word_offset,
                format!("ONBUILD {what} {written}: build arguments in a trigger are expanded by the build that uses this image, not this one; skipped"),
            );
            return;
        }
        // The argument that ends the word on its own (`nginx:${V}`).
        let last_var = match pieces.last() {
            Some(Piece::Var {
                name,
                modifier: expand::Modifier::None,
                ..
            }) => Some(name.clone()),
            _ => None,
        };
        self.uses.extend(names.iter().map(|n| (n.clone(), false)));
        let from = site.instruction == DockerfileInstruction::From;
        let lookup = |name: &str| self.resolve(from, name).value_owned();
        let expanded = match expand::expand(&ins.text, &pieces, &lookup) {
            Ok(e) => e,
            Err(Stop::TooLong) => {
                self.warn(
                    word_offset,
                    format!(
                        "{what} {written}: expands to more than {} bytes; skipped",
                        expand::MAX_EXPANDED
                    ),
                );
                return;
            }
            Err(Stop::NoDefault(name)) => {
                if self.stage_family(ins, &pieces) || self.platform_stage(ins, &pieces, from) {
                    return;
                }
                let (root, why) = self.resolve(from, &name).root(&name);
                let message = if why == Why::Platform {
                    format!("{what} {written}: the image varies by build platform (build argument {root} is set by BuildKit for each platform); skipped")
                } else if why == Why::Unsupported {
                    format!("{what} {written}: the default of build argument {root} uses expansion imagelock does not follow; skipped")
                } else if why == Why::TooLong {
                    format!("{what} {written}: the default of build argument {root} expands to more than {} bytes; skipped", expand::MAX_EXPANDED)
                } else {
                    let scope = if from {
                        "no default before the first FROM"
                    } else {
                        "no default in this stage"
                    };
                    let via = if root == name {
                        String::new()
                    } else {
                        format!(" (the default of {name} reads it)")
                    };
                    format!("{what} {written}: build argument {root} has {scope}{via}, so only --build-arg sets it; skipped")
                };
                self.warn(word_offset, message);
                return;
            }
        };
        let value: String = expanded.iter().map(|(t, _)| t.as_str()).collect();
        if self.is_stage_or_scratch(&value, site.instruction) {
            return;
        }
        if value.is_empty() {
            self.warn(
                word_offset,
                format!("{what} {written}: empty after substituting build arguments; skipped"),
            );
            return;
        }
        if site.onbuild && !value.contains(['/', ':', '@']) {
            self.warn(
                word_offset,
                format!("ONBUILD {what} {written}: may name a stage of the build that uses this image; skipped"),
            );
            return;
        }
        let reference = match Reference::parse(&value) {
            Ok(r) => r,
            Err(e) => {
                // `FROM ${IMAGE}@${IMAGE_SHA}` with `ARG IMAGE_SHA=""`: an
                // empty default is a placeholder `--build-arg` fills, not a
                // value the file means to build with.
                let empty = expanded.iter().find_map(|(t, s)| match s {
                    expand::Source::Variable(n) if t.is_empty() => Some(n.clone()),
                    _ => None,
                });
                if let Some(n) = empty {
                    self.warn(
                        word_offset,
                        format!("{what} {written}: with the defaults written it is {value:?}, no image reference ({}): build argument {n} is empty by default, so only --build-arg completes it; skipped", e.reason),
                    );
                    return;
                }
                return self.invalid(line, column, &value, e.reason);
            }
        };
        let mut ctx = DockerfileContext {
            instruction: site.instruction,
            stage: self.stage.clone(),
            platform: site.platform.map(str::to_string),
            via_arg: names.first().cloned(),
            pin: DockerfilePin::Reference,
            onbuild: site.onbuild,
        };
        if names.is_empty() {
            let clean = !ins.slice(&inner).contains(['"', '\'', self.escape]);
            let (span, exact) = match ins.file_span(&inner) {
                Some(span) => (span, clean),
                None => (word_offset..word_offset, false),
            };
            let image = self.found(line, column, span, word_style, exact, reference, ctx);
            self.push(Pending {
                image,
                arg_plan: None,
            });
            return;
        }
        // The digest goes into the word, after the expansion: onto its
        // literal tail (`${REPO}:1.25@…`, an `@…` there replaced), or
        // right after its last expansion (`nginx:${V}@…`). Never
        // `:latest`: `${BASE}@sha256:…` stays valid when `--build-arg`
        // gives BASE a tag.
        let (word_span, end_text) = match pieces.last() {
            Some(Piece::Literal(r)) => (ins.file_span(r), ins.slice(r).to_string()),
            _ => {
                let end = ins.file_offset(inner.end - 1) + 1;
                (Some(end..end), String::new())
            }
        };
        // A digest from an argument's value cannot be replaced in the word.
        let digest_ok = reference.digest().is_none() || end_text.contains('@');
        ctx.pin = DockerfilePin::AppendDigest;
        let arg_plan = last_var.and_then(|n| {
            let Resolved::Set(v) = self.resolve(from, &n) else {
                return None;
            };
            let span = v.span.clone()?;
            // A digest written outside the argument's value cannot be
            // replaced there.
            if reference.digest().is_some() && !v.text.contains('@') {
                return None;
            }
            let pin = if pieces.len() == 1 {
                DockerfilePin::Reference
            } else {
                DockerfilePin::AppendDigest
            };
            Some(ArgPlan {
                name: n,
                span,
                style: v.style,
                pin,
                value: value.clone(),
            })
        });
        let (span, exact) = match word_span {
            Some(span) => (span, digest_ok),
            None => (word_offset..word_offset, false),
        };
        let mut image = self.found(line, column, span, word_style, exact, reference, ctx);
        if let EditPlan::AppendDigest { tagless, .. } = &mut image.edit {
            *tagless = false;
        }
        if arg_plan.is_some() {
            // The last use recorded is the one that ends the word.
            if let Some(u) = self.uses.last_mut() {
                u.1 = true;
            }
        }
        self.push(Pending { image, arg_plan });
    }

    /// Every name `$name` or `${name…}` reads outside every image word (in
    /// any instruction, heredoc bodies and other `ARG` defaults included),
    /// in one pass over the file.
    fn reads_outside_images(&self) -> HashSet<&str> {
        let b = self.text.as_bytes();
        let ident = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
        let escape = self.escape as u8;
        let mut words = self.image_words.clone();
        words.sort_by_key(|w| w.start);
        let in_image = |at: usize| {
            let k = words.partition_point(|w| w.start <= at);
            k > 0 && words[k - 1].contains(&at)
        };
        // A comment line (`# uses $V`, a shell comment in a heredoc) and an
        // escaped `\$V` expand nothing.
        let in_comment = |at: usize| {
            let line_start = b[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |i| i + 1);
            self.text[line_start..at].trim_start().starts_with('#')
        };
        let mut out = HashSet::new();
        for at in memchr::memchr_iter(b'$', b) {
            if (at > 0 && b[at - 1] == escape) || in_comment(at) || in_image(at) {
                continue;
            }
            let mut from = at + 1;
            if b.get(from) == Some(&b'{') {
                from += 1;
            }
            let len = b[from..].iter().take_while(|c| ident(c)).count();
            if len > 0 {
                out.insert(&self.text[from..from + len]);
            }
        }
        out
    }

    /// A stage index, an earlier stage's name or `scratch` (case-insensitive).
    fn is_stage_or_scratch(&self, value: &str, site: DockerfileInstruction) -> bool {
        let lower = value.to_ascii_lowercase();
        if site == DockerfileInstruction::From && lower == "scratch" {
            return true;
        }
        if site != DockerfileInstruction::From
            && !value.is_empty()
            && value.bytes().all(|b| b.is_ascii_digit())
        {
            return true;
        }
        self.stages.contains(&lower)
    }

    /// Where each image's digest goes. In the `ARG` default only when
    /// the argument ends the reference and nothing else reads it: no
    /// other instruction (`RUN`, `ENV`, `LABEL`, another `ARG` default, …),
    /// no image word where it is not the end, and every image ending in it
    /// is the same reference (one edit, shared). Otherwise in the image
    /// word, after the expansion.
    fn finish(mut self) -> FileScan {
        let pending = std::mem::take(&mut self.pending);
        let outside = self.reads_outside_images();
        let not_ending: HashSet<&str> = self
            .uses
            .iter()
            .filter(|(_, end)| !end)
            .map(|(n, _)| n.as_str())
            .collect();
        // Per argument name: whether every plan through it is the same edit
        // of the same reference.
        let mut shared: HashMap<&str, (&ArgPlan, bool)> = HashMap::new();
        for a in pending.iter().filter_map(|p| p.arg_plan.as_ref()) {
            shared
                .entry(a.name.as_str())
                .and_modify(|(first, same)| {
                    *same &= first.span == a.span && first.value == a.value && first.pin == a.pin;
                })
                .or_insert((a, true));
        }
        let ok = |p: &Pending| {
            let Some(a) = &p.arg_plan else { return false };
            let name = a.name.as_str();
            !outside.contains(name)
                && !not_ending.contains(name)
                && shared.get(name).is_some_and(|(_, same)| *same)
        };
        let allowed: Vec<bool> = pending.iter().map(ok).collect();
        drop(outside);
        drop(not_ending);
        drop(shared);
        for (mut p, allowed) in pending.into_iter().zip(allowed) {
            if let (true, Some(a)) = (allowed, p.arg_plan.take()) {
                let tagless = p.image.reference.tag().is_none();
                p.image.span = a.span.clone();
                p.image.style = a.style;
                p.image.exact = true;
                p.image.edit = match a.pin {
                    DockerfilePin::Reference => EditPlan::Replace { span: a.span },
                    DockerfilePin::AppendDigest => EditPlan::AppendDigest {
                        span: a.span,
                        tagless,
                    },
                };
                if let Context::Dockerfile(d) = &mut p.image.context {
                    d.via_arg = Some(a.name);
                    d.pin = a.pin;
                }
            }
            self.out.images.push(p.image);
        }
        self.out
    }
}

/// The leading `--flag…` words of an instruction's arguments.
fn flags<'w>(ins: &Instruction, args: &'w [instructions::Word]) -> &'w [instructions::Word] {
    let n = args
        .iter()
        .take_while(|w| ins.slice(&w.range).starts_with("--"))
        .count();
    &args[..n]
}

/// The value range of `--name=value`.
fn flag_value(ins: &Instruction, w: &instructions::Word, name: &str) -> Option<Range<usize>> {
    let word = ins.slice(&w.range);
    let rest = word.strip_prefix(name)?.strip_prefix('=')?;
    Some(w.range.end - rest.len()..w.range.end)
}

/// The `from=` option of a `--mount` value (comma-separated `key=value`),
/// read as BuildKit reads it: the flag's quotes removed first (`--mount=
/// "type=bind,from=img"`, `type=bind,"from=img"`), the key in any case
/// (`FROM=img`).
fn mount_from(ins: &Instruction, value: Range<usize>, escape: char) -> Option<Range<usize>> {
    // The logical positions of the characters the flag parser keeps.
    let mut kept: Vec<(usize, char)> = Vec::new();
    let mut quote = None;
    let mut chars = ins.slice(&value).char_indices();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            _ if c == escape => {
                if let Some((j, n)) = chars.next() {
                    kept.push((value.start + j, n));
                }
            }
            _ => kept.push((value.start + i, c)),
        }
    }
    // The last `from=` is the one BuildKit keeps.
    kept.split(|&(_, c)| c == ',').rev().find_map(|field| {
        let key: String = field.iter().take(5).map(|&(_, c)| c).collect();
        if !key.eq_ignore_ascii_case("from=") {
            return None;
        }
        let v = &field[5..];
        Some(match (v.first(), v.last()) {
            (Some(&(a, _)), Some(&(b, c))) => a..b + c.len_utf8(),
            _ => {
                let at = field[4].0 + 1;
                at..at
            }
        })
    })
}

/// A word with its quotes and escapes removed as BuildKit's shell lexer
/// removes them: the escape character keeps the next character outside
/// quotes (`\\` is `\`), nothing is special inside single quotes, and
/// inside double quotes it escapes only `"`, `$` and itself.
fn shell_unquote(s: &str, escape: char) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some('\'') if c == '\'' => quote = None,
            Some('\'') => out.push(c),
            Some(_) if c == '"' => quote = None,
            Some(_) if c == escape => match chars.peek() {
                None => {}
                Some(&n) if n == '"' || n == '$' || n == escape => {
                    out.push(n);
                    chars.next();
                }
                Some(_) => out.push(c),
            },
            Some(_) => out.push(c),
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == escape => out.extend(chars.next()),
            None => out.push(c),
        }
    }
    out
}

/// A word wholly in matching quotes: its style and the range inside them.
fn unquote(word: &str, range: Range<usize>) -> (QuoteStyle, Range<usize>) {
    let b = word.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] {
        let inner = range.start + 1..range.end - 1;
        match b[0] {
            b'"' => return (QuoteStyle::DoubleQuoted, inner),
            b'\'' => return (QuoteStyle::SingleQuoted, inner),
            _ => {}
        }
    }
    (QuoteStyle::Plain, range)
}
