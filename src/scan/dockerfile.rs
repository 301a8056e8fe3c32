//! Image references in Dockerfiles and Containerfiles: the `FROM` base
//! images, `COPY --from=<image>`, `RUN --mount=…,from=<image>` and the
//! `# syntax=` parser directive, with exact byte spans for pinning.
//!
//! Stage names, stage indexes and `scratch` are not images. Build
//! arguments declared before the first `FROM` (`ARG NAME=default`) are
//! substituted as BuildKit does; a reference that only `--build-arg` could
//! complete is a warning, never an error. Never modifies a file.

mod expand;
mod instructions;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use self::expand::{NoDefault, Piece, Source, Value};
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
/// `Dockerfile-*`, `Containerfile.*` (capitalised, as editors match them,
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
        .and_then(|rest| rest.strip_prefix(['.', '-']));
    let Some(rest) = rest.filter(|r| !r.is_empty()) else {
        return false;
    };
    let ext = rest.rsplit('.').next().unwrap_or(rest).to_ascii_lowercase();
    !NOT_DOCKERFILE_EXTENSIONS.contains(&ext.as_str())
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
    s.finish()
}

/// A build argument's declaration.
#[derive(Debug, Clone)]
enum Arg {
    Default(ArgValue),
    NoDefault,
}

#[derive(Debug, Clone)]
struct ArgValue {
    /// The value (quotes removed).
    text: String,
    /// Its bytes in the file, when they are exactly `text`.
    span: Option<Range<usize>>,
    style: QuoteStyle,
}

/// One image found, before the end-of-file checks.
struct Pending {
    image: FoundImage,
    /// The build argument whose value `pin` edits.
    edits_arg: Option<String>,
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
    /// Stage names so far, lower case (BuildKit compares them so).
    stages: Vec<String>,
    stage: Option<String>,
    in_stage: bool,
    /// Each build-argument use: its name and whether it ends the reference.
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
                    },
                ),
                edits_arg: None,
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
            "COPY" => {
                for w in flags(ins, args) {
                    if let Some(v) = flag_value(ins, w, "--from") {
                        let site = Site {
                            instruction: DockerfileInstruction::CopyFrom,
                            platform: None,
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
                    if let Some(from) = mount_from(ins, v) {
                        let site = Site {
                            instruction: DockerfileInstruction::RunMount,
                            platform: None,
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
                    (name.to_string(), self.arg_value(ins, value))
                }
            };
            if self.in_stage {
                self.stage_args.insert(name, decl);
            } else {
                self.globals.insert(name, decl);
            }
        }
    }

    /// An `ARG` default: quotes removed; a value built from other
    /// arguments is not followed (treated as having no default).
    fn arg_value(&self, ins: &Instruction, range: Range<usize>) -> Arg {
        let raw = ins.slice(&range);
        let (style, inner) = unquote(raw, range.clone());
        let text = ins.slice(&inner);
        if text.contains('$') {
            return Arg::NoDefault;
        }
        let clean = !text.contains(['"', '\'', self.escape]);
        let value = if clean {
            text.to_string()
        } else {
            text.chars()
                .filter(|c| *c != '"' && *c != '\'' && *c != self.escape)
                .collect()
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
            };
            self.image(ins, image.range.clone(), site);
        }
        if let Some(n) = name {
            self.stages.push(n.to_ascii_lowercase());
        }
    }

    /// A build argument's value where `site` reads it: global `ARG`s for a
    /// `FROM`, the stage's (re)declared ones elsewhere.
    fn lookup(&self, site: DockerfileInstruction, name: &str) -> Option<&ArgValue> {
        let global = || match self.globals.get(name) {
            Some(Arg::Default(v)) => Some(v),
            _ => None,
        };
        if site == DockerfileInstruction::From {
            return global();
        }
        match self.stage_args.get(name) {
            Some(Arg::Default(v)) => Some(v),
            Some(Arg::NoDefault) => global(),
            None => None,
        }
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
        let lookup = |name: &str| match self.lookup(site.instruction, name) {
            Some(v) => Value::Set(v.text.as_str()),
            None => Value::Unset,
        };
        let expanded = match expand::expand(&ins.text, &pieces, lookup) {
            Ok(e) => e,
            Err(NoDefault(name)) => {
                let scope = if site.instruction == DockerfileInstruction::From {
                    "no default before the first FROM"
                } else {
                    "no default in this stage"
                };
                self.warn(
                    word_offset,
                    format!("{what} {written}: build argument {name} has {scope}, so only --build-arg sets it; skipped"),
                );
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
        let reference = match Reference::parse(&value) {
            Ok(r) => r,
            Err(e) => return self.invalid(line, column, &value, e.reason),
        };
        let vars: Vec<&String> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Var { name, .. } => Some(name),
                Piece::Literal(_) => None,
            })
            .collect();
        let end = expanded.iter().rposition(|(t, _)| !t.is_empty());
        for (i, (_, s)) in expanded.iter().enumerate() {
            if let Source::Variable(n) = s {
                self.uses.push((n.clone(), Some(i) == end));
            }
        }
        let mut ctx = DockerfileContext {
            instruction: site.instruction,
            stage: self.stage.clone(),
            platform: site.platform.map(str::to_string),
            via_arg: vars.first().map(|n| String::clone(n)),
            pin: DockerfilePin::Reference,
        };
        let mut edits_arg = None;
        let (span, style, exact) = if vars.is_empty() {
            let clean = !ins.slice(&inner).contains(['"', '\'', self.escape]);
            match ins.file_span(&inner) {
                Some(span) => (span, word_style, clean),
                None => (word_offset..word_offset, word_style, false),
            }
        } else {
            // The bytes that end the reference take the digest.
            let end = end.map(|i| &expanded[i]);
            let whole = expanded.iter().filter(|(t, _)| !t.is_empty()).count() == 1;
            let (span, style) = match end {
                Some((_, Source::Variable(n))) => {
                    ctx.via_arg = Some(n.clone());
                    edits_arg = Some(n.clone());
                    let v = self.lookup(site.instruction, n);
                    (
                        v.and_then(|v| v.span.clone()),
                        v.map_or(QuoteStyle::Plain, |v| v.style),
                    )
                }
                Some((_, Source::Word(r))) => (ins.file_span(r), word_style),
                None => (None, word_style),
            };
            let end_text = end.map_or("", |(t, _)| t.as_str());
            ctx.pin = if whole && edits_arg.is_some() {
                DockerfilePin::Reference
            } else {
                DockerfilePin::AppendDigest
            };
            // A digest written outside the end text cannot be replaced there.
            let digest_ok = reference.digest().is_none() || end_text.contains('@');
            match span {
                Some(span) => (span, style, digest_ok),
                None => (word_offset..word_offset, style, false),
            }
        };
        let image = self.found(line, column, span, style, exact, reference, ctx);
        self.push(Pending { image, edits_arg });
    }

    /// The first byte where `$name` or `${name…}` is written outside every
    /// image word (in any instruction, heredoc bodies and other `ARG`
    /// defaults included).
    fn use_outside_images(&self, name: &str) -> Option<usize> {
        let b = self.text.as_bytes();
        let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let escape = self.escape as u8;
        // A comment line (`# uses $V`, a shell comment in a heredoc) and an
        // escaped `\$V` expand nothing.
        let in_comment = |at: usize| {
            let line_start = b[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |i| i + 1);
            self.text[line_start..at].trim_start().starts_with('#')
        };
        memchr::memchr_iter(b'$', b).find(|&at| {
            if (at > 0 && b[at - 1] == escape) || in_comment(at) {
                return false;
            }
            let rest = &self.text[at + 1..];
            let braced = rest.starts_with('{');
            let after_name = if braced { &rest[1..] } else { rest };
            let named = after_name
                .strip_prefix(name)
                .is_some_and(|tail| tail.bytes().next().is_none_or(|c| !ident(c)));
            named && !self.image_words.iter().any(|w| w.contains(&at))
        })
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

    /// An `ARG` value that ends one reference but sits in the middle of
    /// another cannot take a digest: those images are not exact.
    fn finish(mut self) -> FileScan {
        let pending = std::mem::take(&mut self.pending);
        for mut p in pending {
            // A default that other instructions read too (`RUN curl
            // …/v$V.tar.gz`, `LABEL version=$V`) would take the digest there.
            if let (Some(arg), EditPlan::AppendDigest { .. }) = (&p.edits_arg, &p.image.edit) {
                if let Some(at) = self.use_outside_images(arg) {
                    let (line, _) = self.line_col(at);
                    p.image.edit = EditPlan::Shared {
                        reason: format!("the build argument {arg} is also used at line {line}, not as an image: writing the digest into its default would change that use too"),
                        hint: format!("give the image a build argument of its own (`ARG IMAGE=…:tag` and `FROM $IMAGE`), or write the tag in the FROM line instead of ${arg}"),
                    };
                }
            }
            if let Some(arg) = &p.edits_arg {
                if self.uses.iter().any(|(n, end)| n == arg && !end) {
                    p.image.exact = false;
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

/// The `from=` option of a `--mount` value (comma-separated `key=value`).
fn mount_from(ins: &Instruction, value: Range<usize>) -> Option<Range<usize>> {
    let text = ins.slice(&value);
    let mut at = value.start;
    for field in text.split(',') {
        if let Some(v) = field.strip_prefix("from=") {
            let start = at + "from=".len();
            return Some(start..start + v.len());
        }
        at += field.len() + 1;
    }
    None
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
