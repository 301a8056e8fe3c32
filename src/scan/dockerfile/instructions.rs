//! Splitting a Dockerfile into parser directives and logical instructions,
//! as BuildKit's parser does: line continuations (the escape character at
//! the end of a line), comment and blank lines inside a continuation
//! dropped, heredoc bodies (`RUN <<EOF … EOF`) skipped.
//!
//! Every byte of an instruction's text keeps its offset in the file, so a
//! word can be mapped back to the exact bytes it was read from. Pure code:
//! no I/O, no image references.

use std::ops::Range;

/// A parser directive at the top of the file (`# syntax=…`, `# escape=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// Lower-cased name (`syntax`).
    pub name: String,
    pub value: String,
    /// Bytes of the value in the file.
    pub span: Range<usize>,
}

/// One logical instruction (continuation lines joined).
#[derive(Debug, Clone)]
pub(crate) struct Instruction {
    /// The instruction's text with continuations removed.
    pub text: String,
    /// File byte offset of each byte of `text`.
    pub offsets: Vec<usize>,
}

/// A word of an instruction: its logical range in [`Instruction::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub range: Range<usize>,
}

impl Instruction {
    pub(crate) fn slice(&self, r: &Range<usize>) -> &str {
        &self.text[r.clone()]
    }

    /// The file bytes of a logical range when they are contiguous in the
    /// file (not broken by a line continuation).
    pub(crate) fn file_span(&self, r: &Range<usize>) -> Option<Range<usize>> {
        if r.is_empty() {
            let at = self
                .offsets
                .get(r.start)
                .copied()
                .or_else(|| self.offsets.last().map(|o| o + 1))?;
            return Some(at..at);
        }
        let start = self.offsets[r.start];
        let end = self.offsets[r.end - 1] + 1;
        (end - start == r.len()).then_some(start..end)
    }

    /// File byte offset where a logical position starts.
    pub(crate) fn file_offset(&self, at: usize) -> usize {
        self.offsets
            .get(at)
            .copied()
            .unwrap_or_else(|| self.offsets.last().map_or(0, |o| o + 1))
    }

    /// Split the text into words on unquoted blanks; quotes and the escape
    /// character keep blanks inside a word.
    pub(crate) fn words(&self, escape: char) -> Vec<Word> {
        let mut out = Vec::new();
        let mut start = None;
        let mut quote = None;
        let mut chars = self.text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match quote {
                Some(q) if c == q => quote = None,
                Some('"') if c == escape => {
                    chars.next();
                }
                Some(_) => {}
                None if c == ' ' || c == '\t' => {
                    if let Some(s) = start.take() {
                        out.push(Word { range: s..i });
                    }
                }
                None => {
                    start.get_or_insert(i);
                    if c == '"' || c == '\'' {
                        quote = Some(c);
                    } else if c == escape {
                        chars.next();
                    }
                }
            }
        }
        if let Some(s) = start {
            out.push(Word {
                range: s..self.text.len(),
            });
        }
        out
    }
}

/// A whole Dockerfile, split.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub directives: Vec<Directive>,
    /// `\` unless the `escape` directive says `` ` ``.
    pub escape: char,
    pub instructions: Vec<Instruction>,
    /// A heredoc never closed (BuildKit: "unterminated heredoc"): its name
    /// and the file offset of the instruction that opens it. The rest of
    /// the file is its body.
    pub unterminated: Option<(String, usize)>,
}

/// One physical line: its bytes without the line break (and without `\r`).
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
}

fn lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            let end = if i > start && text.as_bytes()[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            out.push(Line { start, end });
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(Line {
            start,
            end: text.len(),
        });
    }
    out
}

/// `# name=value` at the top of the file.
fn directive(text: &str, line: Line) -> Option<Directive> {
    let s = &text[line.start..line.end];
    let rest = s.strip_prefix('#')?;
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    // BuildKit knows these three; any other `# a=b` is a comment, and
    // the first comment ends the directives.
    if !["syntax", "escape", "check"]
        .iter()
        .any(|k| name.eq_ignore_ascii_case(k))
    {
        return None;
    }
    let lead = value.len() - value.trim_start().len();
    let mut value_trimmed = value.trim();
    // `# syntax=image opts`: the image is the first word (BuildKit's
    // DetectSyntax cuts at the first space; the rest is the frontend's).
    if name.eq_ignore_ascii_case("syntax") {
        value_trimmed = value_trimmed.split(' ').next().unwrap_or(value_trimmed);
    }
    let value_start = line.start + 1 + name_offset(rest, '=') + 1 + lead;
    Some(Directive {
        name: name.to_ascii_lowercase(),
        value: value_trimmed.to_string(),
        span: value_start..value_start + value_trimmed.len(),
    })
}

fn name_offset(s: &str, c: char) -> usize {
    s.find(c).unwrap_or(0)
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn is_comment(s: &str) -> bool {
    s.trim_start().starts_with('#')
}

/// Split `text` into directives and logical instructions.
pub(crate) fn parse(text: &str) -> Parsed {
    let all = lines(text);
    let mut directives = Vec::new();
    // A shebang first line: BuildKit's DetectSyntax skips it and still
    // finds `# syntax=` below, but its parser takes the shebang for the
    // comment that ends the directives, so no `# escape=` there counts.
    let shebang = all
        .first()
        .is_some_and(|l| text[l.start..l.end].starts_with("#!"));
    let mut i = usize::from(shebang);
    while i < all.len() {
        match directive(text, all[i]) {
            Some(d) if !directives.iter().any(|x: &Directive| x.name == d.name) => {
                directives.push(d);
                i += 1;
            }
            _ => break,
        }
    }
    if shebang {
        directives.retain(|d| d.name == "syntax");
    }
    let escape = match directives.iter().find(|d| d.name == "escape") {
        Some(d) if d.value == "`" => '`',
        _ => '\\',
    };
    let mut instructions = Vec::new();
    let mut unterminated = None;
    while i < all.len() {
        let line = &text[all[i].start..all[i].end];
        if is_blank(line) || is_comment(line) {
            i += 1;
            continue;
        }
        let mut ins = Instruction {
            text: String::new(),
            offsets: Vec::new(),
        };
        loop {
            let l = all[i];
            let s = &text[l.start..l.end];
            i += 1;
            let trimmed = s.trim_end_matches([' ', '\t']);
            let continued = trimmed.ends_with(escape);
            let keep = if continued {
                &s[..trimmed.len() - escape.len_utf8()]
            } else {
                s
            };
            ins.text.push_str(keep);
            ins.offsets.extend(l.start..l.start + keep.len());
            if !continued {
                break;
            }
            // Comment and blank lines inside a continuation are dropped.
            while i < all.len() {
                let next = &text[all[i].start..all[i].end];
                if is_blank(next) || is_comment(next) {
                    i += 1;
                } else {
                    break;
                }
            }
            if i >= all.len() {
                break;
            }
        }
        for (name, strip_tabs) in heredocs(&ins, escape) {
            let mut closed = false;
            while i < all.len() {
                let body = &text[all[i].start..all[i].end];
                i += 1;
                let body = if strip_tabs {
                    body.trim_start_matches('\t')
                } else {
                    body
                };
                if body == name {
                    closed = true;
                    break;
                }
            }
            if !closed && unterminated.is_none() {
                let at = ins.offsets.first().copied().unwrap_or(0);
                unterminated = Some((name, at));
            }
        }
        instructions.push(ins);
    }
    Parsed {
        directives,
        escape,
        instructions,
        unterminated,
    }
}

/// The heredocs an instruction opens (`<<EOF`, `<<-"EOF"`), in order, with
/// whether leading tabs are stripped, as BuildKit's parser finds them
/// (`heredocsFromLine`): only in `RUN`, `COPY` and `ADD` (as `ONBUILD`
/// triggers too), and only in a
/// shell word (split on blanks, quotes kept, `\` escaping) that matches
/// `^\d*<<-?\s*[^<]+$`; the name is that rest with its quotes removed, and
/// must be one word. So `sed 's/x<<EOF/y/'`, `$((1<<3))` and
/// `"print(1<<4)"` open nothing.
pub(crate) fn heredocs(ins: &Instruction, escape: char) -> Vec<(String, bool)> {
    let words = ins.words(escape);
    let Some(first) = words.first() else {
        return Vec::new();
    };
    let mut keyword = ins.slice(&first.range).to_ascii_uppercase();
    // An ONBUILD trigger is looked at as its own instruction
    // (`canContainHeredoc`): `ONBUILD RUN <<EOF` opens one.
    if keyword == "ONBUILD" {
        let Some(trigger) = words.get(1) else {
            return Vec::new();
        };
        keyword = ins.slice(&trigger.range).to_ascii_uppercase();
    }
    if !matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") || !ins.text.contains("<<") {
        return Vec::new();
    }
    shell_words(&ins.text)
        .iter()
        .filter_map(|w| heredoc_word(w))
        .collect()
}

/// Split a line into shell words as BuildKit's lexer does with raw quotes
/// (quotes stay in the word) and `\` as the escape character.
fn shell_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                word.push(c);
            }
            Some(q) => {
                word.push(c);
                if q == '"' && c == '\\' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
            None if c == ' ' || c == '\t' || c == '\r' || c == '\n' => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            None => {
                started = true;
                word.push(c);
                if c == '"' || c == '\'' {
                    quote = Some(c);
                } else if c == '\\' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// A shell word that opens a heredoc: its name (quotes removed) and
/// whether `<<-` strips leading tabs.
fn heredoc_word(word: &str) -> Option<(String, bool)> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let inner = shell_words(rest);
    if inner.len() != 1 {
        return None;
    }
    // Quotes removed, escapes resolved (`"EOF"`, `'EOF'`, `E"O"F`).
    let mut name = String::new();
    let mut quote = None;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == '\\' => name.extend(chars.next()),
            Some(_) => name.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '\\' => name.extend(chars.next()),
            None => name.push(c),
        }
    }
    (!name.is_empty()).then_some((name, strip_tabs))
}

/// Whether `new` holds the directives and instructions of `old` with only
/// the byte `edits` (spans of `old`, each inside one word of one physical
/// line) made: the same directives, the same logical instructions in the
/// same order, each equal to its old text with its edits applied. `Err`
/// names the byte of `old` where they part and how.
pub(crate) fn same_but_edits(
    old: &str,
    new: &str,
    edits: &[(Range<usize>, &str)],
) -> Result<(), (usize, String)> {
    let before = parse(old);
    let after = parse(new);
    let mut directives: Vec<(String, String)> = before
        .directives
        .iter()
        .map(|d| (d.name.clone(), d.value.clone()))
        .collect();
    let mut texts: Vec<String> = before.instructions.iter().map(|i| i.text.clone()).collect();
    // Apply the edits from the last to the first, so earlier logical
    // positions stay valid.
    let mut sorted: Vec<&(Range<usize>, &str)> = edits.iter().collect();
    sorted.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    for (span, replacement) in sorted {
        if let Some(k) = before
            .directives
            .iter()
            .position(|d| d.span.start <= span.start && span.end <= d.span.end)
        {
            let d = &before.directives[k];
            let (a, b) = (span.start - d.span.start, span.end - d.span.start);
            directives[k].1.replace_range(a..b, replacement);
            continue;
        }
        let found = before.instructions.iter().enumerate().find_map(|(k, ins)| {
            let len = span.end - span.start;
            if len == 0 {
                // An insertion right after a byte of the instruction (a
                // digest after the word's last expansion).
                let a = ins
                    .offsets
                    .binary_search(&span.start.checked_sub(1)?)
                    .ok()?
                    + 1;
                return Some((k, a, a));
            }
            let a = ins.offsets.binary_search(&span.start).ok()?;
            // Contiguous in the file: not across a line continuation.
            let b = a + len;
            (len > 0 && b <= ins.offsets.len() && ins.offsets[b - 1] == span.end - 1)
                .then_some((k, a, b))
        });
        let Some((k, a, b)) = found else {
            return Err((
                span.start,
                "the edit is not inside one word of an instruction or directive".into(),
            ));
        };
        texts[k].replace_range(a..b, replacement);
    }
    let got: Vec<(String, String)> = after
        .directives
        .iter()
        .map(|d| (d.name.clone(), d.value.clone()))
        .collect();
    if got != directives {
        return Err((
            0,
            format!("the parser directives would read {got:?}, not {directives:?}"),
        ));
    }
    for (k, want) in texts.iter().enumerate() {
        let at = before.instructions[k].offsets.first().copied().unwrap_or(0);
        match after.instructions.get(k) {
            Some(ins) if &ins.text == want => {}
            Some(ins) => {
                return Err((
                    at,
                    format!("the instruction would read {:?}, not {want:?}", ins.text),
                ))
            }
            None => return Err((at, "the instruction would be gone".into())),
        }
    }
    if after.instructions.len() > texts.len() {
        let extra = &after.instructions[texts.len()].text;
        return Err((
            old.len(),
            format!("a new instruction {extra:?} would appear"),
        ));
    }
    Ok(())
}
