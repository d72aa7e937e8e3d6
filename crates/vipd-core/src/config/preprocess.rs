//! Preprocessing, as keepalived does it before parsing: comments, `include`,
//! `@id` / `@^id` conditional lines, `$NAME=value` definitions with `$NAME` /
//! `${NAME}` substitution (multi-line with `\`), and `~SEQ(var,start,step,end)` /
//! `~SEQx(...)` / `~LST(var,v1,v2,...)` line generators.
//!
//! The preprocessor is pure: it asks a [`Loader`] to read files and expand glob
//! patterns, so the same code runs on real files (in the `vipd` crate) and on
//! in-memory files (tests, fuzzing). Its output is a list of [`LogicalLine`]s,
//! each remembering the file and line it came from, which the lexer tokenizes.

use super::diag::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use std::collections::HashMap;

/// How the preprocessor reaches files. Implemented over the file system by the
/// `vipd` crate and over a map of strings in tests.
pub trait Loader {
    /// Reads the whole file at `path`. The error is a human-readable reason
    /// ("No such file or directory").
    fn read(&mut self, path: &str) -> Result<String, String>;
    /// Expands a glob pattern (already made absolute or relative to the working
    /// directory) into the matching paths, sorted.
    fn glob(&mut self, pattern: &str) -> Result<Vec<String>, String>;
}

/// A line ready for the lexer: comments removed, conditionals resolved,
/// parameters substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// File the line comes from.
    pub file: FileId,
    /// 1-based line number in that file.
    pub line: u32,
    /// The text. When `exact`, character `i` is at column `i + 1` of the source.
    pub text: String,
    /// False when substitution changed the text, so columns are approximate.
    pub exact: bool,
}

/// Why the main configuration file could not be processed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The main file could not be read (missing, permissions, a directory...).
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path as given.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

/// Upper bounds that keep hostile or broken input from exhausting memory.
const MAX_INCLUDE_DEPTH: usize = 32;
const MAX_SUBST_DEPTH: usize = 16;
const MAX_LINE_LEN: usize = 1 << 20;
const MAX_GENERATED_LINES: usize = 4_000_000;

/// The keywords that include other files.
const INCLUDE_KEYWORDS: &[&str] = &[
    "include", "includer", "includem", "includew", "includeb", "includea",
];

/// Output of [`preprocess`].
#[derive(Debug, Default)]
pub struct Preprocessed {
    /// The lines, in order.
    pub lines: Vec<LogicalLine>,
    /// Every file read.
    pub sources: SourceMap,
}

/// Reads `root` and everything it includes through `loader`, and returns the
/// logical lines. Problems go to `diags`; only an unreadable main file is fatal.
pub fn preprocess(
    root: &str,
    loader: &mut dyn Loader,
    config_id: &str,
    diags: &mut Diagnostics,
) -> Result<Preprocessed, LoadError> {
    let text = loader.read(root).map_err(|reason| LoadError::Read {
        path: root.to_owned(),
        reason,
    })?;
    let mut pp = Pp {
        loader,
        config_id: config_id.to_owned(),
        defs: HashMap::new(),
        out: Preprocessed::default(),
        stack: Vec::new(),
        diags,
        generated: 0,
        overflow_reported: false,
    };
    pp.file(root, &text);
    Ok(pp.out)
}

struct Pp<'a> {
    loader: &'a mut dyn Loader,
    config_id: String,
    /// Definitions: name -> lines of its value (one line unless multi-line).
    defs: HashMap<String, Vec<String>>,
    out: Preprocessed,
    /// Normalised paths of the files being read, outermost first (cycle check).
    stack: Vec<String>,
    diags: &'a mut Diagnostics,
    generated: usize,
    overflow_reported: bool,
}

/// Where a line being processed came from.
#[derive(Clone, Copy)]
struct Origin {
    file: FileId,
    line: u32,
    exact: bool,
    depth: usize,
}

impl Origin {
    fn span(&self, col: u32, len: u32) -> Span {
        Span {
            file: self.file,
            line: self.line,
            col: col.max(1),
            len,
        }
    }
}

impl Pp<'_> {
    fn file(&mut self, path: &str, text: &str) {
        let file = self.out.sources.add(path, text);
        self.stack.push(normalize(path));
        let dir = dirname(path);
        let lines: Vec<&str> = super::diag::split_lines(text).collect();
        let mut i = 0;
        while i < lines.len() {
            let origin = Origin {
                file,
                line: i as u32 + 1,
                exact: true,
                depth: 0,
            };
            let mut line = strip_comment(lines[i]);
            i += 1;
            // Fast path for the common line: no preprocessor syntax at all.
            let first = line
                .trim_start_matches(char::is_whitespace)
                .as_bytes()
                .first();
            if !matches!(first, None | Some(b'@' | b'$' | b'~' | b'i')) && !line.contains('$') {
                if line.len() > MAX_LINE_LEN {
                    line = &line[..floor_char_boundary(line, MAX_LINE_LEN)];
                }
                self.push(line.to_owned(), origin);
                continue;
            }
            // A multi-line definition: `$NAME= \` followed by lines ending in `\`.
            if let Some((name, first)) = definition(line) {
                if let Some(head) = first.strip_suffix('\\') {
                    let mut value = Vec::new();
                    if !head.trim().is_empty() {
                        value.push(head.trim_end().to_owned());
                    }
                    while i < lines.len() {
                        let l = strip_comment(lines[i]);
                        i += 1;
                        match l.trim_end().strip_suffix('\\') {
                            Some(part) => value.push(part.trim_end().to_owned()),
                            None => {
                                value.push(l.trim_end().to_owned());
                                break;
                            }
                        }
                    }
                    value.retain(|l| !l.trim().is_empty());
                    self.defs.insert(name, value);
                    continue;
                }
            }
            if line.len() > MAX_LINE_LEN {
                line = &line[..floor_char_boundary(line, MAX_LINE_LEN)];
            }
            self.line(line, origin, &dir);
        }
        self.stack.pop();
    }

    /// Processes one line: conditionals, definitions, generators, substitution,
    /// includes; appends what remains to the output.
    fn line(&mut self, text: &str, origin: Origin, dir: &str) {
        if origin.depth > MAX_SUBST_DEPTH {
            self.diags.push(
                Diagnostic::error(
                    "parameter substitution nests too deeply (a definition that refers to itself?)",
                )
                .at(origin.span(1, 1))
                .help("check the $NAME definitions used on this line for a cycle"),
            );
            return;
        }
        let mut text = text.to_owned();
        // `@id` / `@^id`: keep the rest of the line only when the id matches.
        let lead = leading_ws(&text);
        if text[lead..].starts_with('@') {
            let rest = &text[lead + 1..];
            let (negate, rest) = match rest.strip_prefix('^') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let id_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let id = &rest[..id_len];
            let keep = (id == self.config_id) != negate;
            if !keep {
                return;
            }
            // Blank the prefix out so columns still match the source.
            let prefix_end = text.len() - rest.len() + id_len;
            let blanks = " ".repeat(text[..prefix_end].chars().count());
            text = format!("{blanks}{}", &text[prefix_end..]);
        }
        // `$NAME=value`
        if let Some((name, value)) = definition(&text) {
            self.defs.insert(name, vec![value.trim_end().to_owned()]);
            return;
        }
        // `~SEQ(...)`, `~SEQx(...)`, `~LST(...)`
        let lead = leading_ws(&text);
        if text[lead..].starts_with("~SEQ") || text[lead..].starts_with("~LST") {
            self.generator(&text, lead, origin, dir);
            return;
        }
        // Substitution; a multi-line value makes several lines.
        if text.contains('$') {
            let (subst, changed) = self.substitute(&text, origin);
            if changed {
                let o = Origin {
                    exact: false,
                    depth: origin.depth + 1,
                    ..origin
                };
                for l in subst.split('\n') {
                    self.line(l, o, dir);
                }
                return;
            }
        }
        // `include PATTERN`
        let trimmed = text.trim_start_matches(char::is_whitespace);
        let first = trimmed.split(char::is_whitespace).next().unwrap_or("");
        if INCLUDE_KEYWORDS.contains(&first) {
            let col = text[..text.len() - trimmed.len()].chars().count() as u32 + 1;
            let arg = trimmed[first.len()..].trim();
            self.include(arg, origin.span(col, first.chars().count() as u32), dir);
            return;
        }
        self.push(text, origin);
    }

    /// Appends a finished line (blank lines are dropped).
    fn push(&mut self, text: String, origin: Origin) {
        if text.trim().is_empty() {
            return;
        }
        self.generated += 1;
        if self.generated > MAX_GENERATED_LINES {
            if !self.overflow_reported {
                self.overflow_reported = true;
                self.diags.push(
                    Diagnostic::error(format!(
                        "the configuration expands to more than {MAX_GENERATED_LINES} lines"
                    ))
                    .at(origin.span(1, 1))
                    .help("check ~SEQ/~LST ranges and multi-line definitions"),
                );
            }
            return;
        }
        self.out.lines.push(LogicalLine {
            file: origin.file,
            line: origin.line,
            text,
            exact: origin.exact,
        });
    }

    fn include(&mut self, arg: &str, span: Span, dir: &str) {
        let pattern = unquote(arg);
        if pattern.is_empty() {
            self.diags.push(
                Diagnostic::error("include without a file name")
                    .at(span)
                    .help("write `include /etc/keepalived/conf.d/*.conf`"),
            );
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.push(
                Diagnostic::error(format!("includes nest more than {MAX_INCLUDE_DEPTH} deep"))
                    .at(span)
                    .help("check for an include cycle through symbolic links"),
            );
            return;
        }
        let full = join(dir, &pattern);
        let has_glob = pattern.contains(['*', '?', '[']);
        let paths = match self.loader.glob(&full) {
            Ok(p) => p,
            Err(reason) => {
                self.diags.push(
                    Diagnostic::error(format!("cannot expand include pattern {full}: {reason}"))
                        .at(span),
                );
                return;
            }
        };
        if paths.is_empty() {
            let d = if has_glob {
                Diagnostic::warning(format!("include pattern {full} matches no file"))
                    .at(span)
                    .note("keepalived silently includes nothing in this case")
            } else {
                Diagnostic::error(format!("included file {full} does not exist"))
                    .at(span)
                    .help("fix the path (relative paths are relative to the including file's directory)")
            };
            self.diags.push(d);
            return;
        }
        for path in paths {
            let norm = normalize(&path);
            if let Some(pos) = self.stack.iter().position(|p| *p == norm) {
                let mut chain: Vec<&str> = self.stack[pos..].iter().map(String::as_str).collect();
                chain.push(&norm);
                self.diags.push(
                    Diagnostic::error(format!("include cycle: {}", chain.join(" -> ")))
                        .at(span)
                        .help("remove the include that leads back to a file already being read"),
                );
                continue;
            }
            match self.loader.read(&path) {
                Ok(text) => self.file(&path, &text),
                Err(reason) => self.diags.push(
                    Diagnostic::error(format!("cannot read included file {path}: {reason}"))
                        .at(span),
                ),
            }
        }
    }

    /// Expands `~SEQ(var, start, step, end) rest` and `~LST(var, a, b) rest`.
    fn generator(&mut self, text: &str, lead: usize, origin: Origin, dir: &str) {
        let body = &text[lead..];
        let col = text[..lead].chars().count() as u32 + 1;
        let bad = |pp: &mut Self, msg: &str| {
            pp.diags.push(
                Diagnostic::error(msg.to_owned())
                    .at(origin.span(col, 4))
                    .help("write ~SEQ(NAME, START, STEP, END) or ~LST(NAME, V1, V2, ...) followed by the line to repeat"),
            );
        };
        let Some(open) = body.find('(') else {
            return bad(self, "generator without an argument list");
        };
        let Some(close) = body.find(')') else {
            return bad(self, "generator without a closing `)`");
        };
        if close < open {
            return bad(self, "generator with a misplaced `)`");
        }
        let kind = &body[..open];
        let args: Vec<&str> = body[open + 1..close].split(',').map(str::trim).collect();
        // The remainder keeps its columns: blank out the generator itself.
        let blanks = " ".repeat(text[..lead + close + 1].chars().count());
        let rest = format!("{blanks}{}", &body[close + 1..]);
        let var = args[0].to_owned();
        if var.is_empty() || !is_param_name(&var) {
            return bad(
                self,
                "generator variable must be a parameter name (A-Za-z0-9_)",
            );
        }
        let values: Vec<String> = match kind {
            "~SEQ" | "~SEQx" => {
                let nums: Result<Vec<i64>, _> = args[1..].iter().map(|a| parse_int(a)).collect();
                let Ok(nums) = nums else {
                    return bad(self, "~SEQ bounds must be integers");
                };
                let (start, step, end) = match nums[..] {
                    [end] => {
                        let s = if end >= 0 { 1 } else { -1 };
                        (s, s, end)
                    }
                    [start, end] => (start, if end >= start { 1 } else { -1 }, end),
                    [start, step, end] => (start, step, end),
                    _ => return bad(self, "~SEQ takes 1 to 3 numbers after the variable"),
                };
                let (start, step, end) = (i128::from(start), i128::from(step), i128::from(end));
                if step == 0 || (step > 0 && start > end) || (step < 0 && start < end) {
                    return bad(self, "~SEQ step does not lead from start to end");
                }
                if (end - start) / step + 1 > MAX_GENERATED_LINES as i128 {
                    return bad(self, "~SEQ generates too many lines");
                }
                let mut v = Vec::new();
                let mut x = start;
                while (step > 0 && x <= end) || (step < 0 && x >= end) {
                    v.push(if kind == "~SEQx" {
                        format!("{x:x}")
                    } else {
                        x.to_string()
                    });
                    x += step;
                }
                v
            }
            "~LST" => {
                if args.len() < 2 {
                    return bad(self, "~LST needs at least one value");
                }
                args[1..].iter().map(|s| s.to_string()).collect()
            }
            _ => return bad(self, &format!("unknown generator {kind}")),
        };
        let saved = self.defs.get(&var).cloned();
        let o = Origin {
            exact: false,
            depth: origin.depth + 1,
            ..origin
        };
        for v in values {
            if self.generated > MAX_GENERATED_LINES {
                break;
            }
            self.defs.insert(var.clone(), vec![v]);
            self.line(&rest, o, dir);
        }
        match saved {
            Some(s) => self.defs.insert(var, s),
            None => self.defs.remove(&var),
        };
    }

    /// Replaces `${NAME}` and `$NAME` (followed by white space or end of line)
    /// by their values. Unknown names stay as written, as in keepalived (scripts
    /// use `$1` and the like). Returns the text and whether anything changed.
    fn substitute(&self, text: &str, _origin: Origin) -> (String, bool) {
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, consumed) = if let Some(b) = after.strip_prefix('{') {
                match b.find('}') {
                    Some(end) => (&b[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                let next = after[end..].chars().next();
                if next.is_some_and(|c| !c.is_whitespace()) {
                    ("", 0)
                } else {
                    (&after[..end], end)
                }
            };
            match (consumed > 0).then(|| self.value(name)).flatten() {
                Some(v) => {
                    out.push_str(&v);
                    changed = true;
                    rest = &after[consumed..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        (out, changed)
    }

    fn value(&self, name: &str) -> Option<String> {
        match name {
            "_PWD" => Some(
                self.stack
                    .last()
                    .map(|p| dirname(p))
                    .unwrap_or_else(|| ".".to_owned()),
            ),
            "_INSTANCE" => Some(self.config_id.clone()),
            "_HASH" => Some("#".to_owned()),
            "_BANG" => Some("!".to_owned()),
            _ => self.defs.get(name).map(|v| v.join("\n")),
        }
    }
}

/// The largest char boundary at or below `i`.
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte length of leading (Unicode) white space.
fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start_matches(char::is_whitespace).len()
}

/// `$NAME=value` at the start of a line (only white space before `$`, no space
/// before `=`): returns the name and the raw value.
fn definition(line: &str) -> Option<(String, &str)> {
    let t = line.trim_start_matches(char::is_whitespace);
    let rest = t.strip_prefix('$')?;
    let eq = rest.find('=')?;
    let name = &rest[..eq];
    if !is_param_name(name) {
        return None;
    }
    Some((
        name.to_owned(),
        rest[eq + 1..].trim_start_matches(char::is_whitespace),
    ))
}

fn is_param_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_int(s: &str) -> Result<i64, std::num::ParseIntError> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16)?,
        None => body.parse()?,
    };
    Ok(if neg { -v } else { v })
}

/// Cuts a line at the first `#` or `!` that is not inside quotes: keepalived's
/// comments may start anywhere on a line.
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '#' | '!' => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    s.to_owned()
}

/// The directory part of a path ("." for a bare file name).
pub(crate) fn dirname(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
        None => ".".to_owned(),
    }
}

/// `rel` relative to `dir`, unless it is absolute.
pub(crate) fn join(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') || dir == "." {
        rel.to_owned()
    } else if dir.ends_with('/') {
        format!("{dir}{rel}")
    } else {
        format!("{dir}/{rel}")
    }
}

/// Lexical normalisation (`.`, `..`, repeated `/`) used to recognise include
/// cycles without touching the file system.
pub(crate) fn normalize(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(l) if *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if abs {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// A [`Loader`] over an in-memory map of files, for tests and fuzzing. Globs
/// support `*` and `?` in the last path component.
#[derive(Debug, Clone, Default)]
pub struct MemLoader {
    /// Path -> contents.
    pub files: std::collections::BTreeMap<String, String>,
}

impl MemLoader {
    /// A loader holding one file.
    pub fn single(path: &str, text: &str) -> Self {
        let mut m = Self::default();
        m.files.insert(path.to_owned(), text.to_owned());
        m
    }
    /// Adds a file.
    pub fn with(mut self, path: &str, text: &str) -> Self {
        self.files.insert(path.to_owned(), text.to_owned());
        self
    }
}

impl Loader for MemLoader {
    fn read(&mut self, path: &str) -> Result<String, String> {
        self.files
            .get(&normalize(path))
            .or_else(|| self.files.get(path))
            .cloned()
            .ok_or_else(|| "No such file or directory".to_owned())
    }
    fn glob(&mut self, pattern: &str) -> Result<Vec<String>, String> {
        let pat = normalize(pattern);
        Ok(self
            .files
            .keys()
            .filter(|k| wildcard_match(&pat, &normalize(k)))
            .cloned()
            .collect())
    }
}

/// `*` and `?` matching (`*` does not cross `/`).
fn wildcard_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && t[0] != '/' && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(loader: &mut MemLoader, id: &str) -> (Vec<String>, Diagnostics) {
        let mut d = Diagnostics::default();
        let p = preprocess("/etc/k/main.conf", loader, id, &mut d).unwrap();
        (
            p.lines
                .into_iter()
                .map(|l| l.text.trim().to_owned())
                .collect(),
            d,
        )
    }

    #[test]
    fn comments_conditionals_and_definitions() {
        let mut l = MemLoader::single(
            "/etc/k/main.conf",
            "a 1 # c\n! whole\n@main b 2\n@^main c 3\n@other d 4\n$P=240\nprio $P\nx ${P}y \"$P\"\n$U\n",
        );
        let (lines, d) = run(&mut l, "main");
        assert!(d.items.is_empty(), "{d:?}");
        // `$P"` is not followed by white space, so (as in keepalived) it stays.
        assert_eq!(lines, ["a 1", "b 2", "prio 240", "x 240y \"$P\"", "$U"]);
    }

    #[test]
    fn multiline_definitions_expand_to_several_lines() {
        let mut l = MemLoader::single(
            "/etc/k/main.conf",
            "$B= \\\nblock ${N} { \\\n  @main k v \\\n}\n$N=1\n$B\n$N=2\n$B\n",
        );
        let (lines, _) = run(&mut l, "main");
        assert_eq!(lines, ["block 1 {", "k v", "}", "block 2 {", "k v", "}"]);
    }

    #[test]
    fn seq_and_lst() {
        let mut l = MemLoader::single(
            "/etc/k/main.conf",
            "~SEQ(I, 0, 2, 4) ip 10.0.${I}.1\n~SEQx(H, 144, 16, 176) h ${H}\n~SEQ(J,2) j $J\n~LST(V, a, b) v $V\n",
        );
        let (lines, d) = run(&mut l, "x");
        assert!(d.items.is_empty(), "{d:?}");
        assert_eq!(
            lines,
            [
                "ip 10.0.0.1",
                "ip 10.0.2.1",
                "ip 10.0.4.1",
                "h 90",
                "h a0",
                "h b0",
                "j 1",
                "j 2",
                "v a",
                "v b"
            ]
        );
    }

    #[test]
    fn includes_are_relative_and_globbed_and_cycles_reported() {
        let mut l = MemLoader::single("/etc/k/main.conf", "include conf.d/*.conf\nend\n")
            .with("/etc/k/conf.d/a.conf", "a\n")
            .with("/etc/k/conf.d/b.conf", "b\ninclude ../main.conf\n");
        let (lines, d) = run(&mut l, "x");
        assert_eq!(lines, ["a", "b", "end"]);
        assert_eq!(d.items.len(), 1);
        assert!(
            d.items[0].message.starts_with(
                "include cycle: /etc/k/main.conf -> /etc/k/conf.d/b.conf -> /etc/k/main.conf"
            ),
            "{}",
            d.items[0].message
        );
        assert_eq!(d.items[0].span.unwrap().line, 2);
    }

    #[test]
    fn missing_includes() {
        let mut l = MemLoader::single("/etc/k/main.conf", "include nope.conf\ninclude d/*.conf\n");
        let (_, d) = run(&mut l, "x");
        assert_eq!(d.error_count(), 1);
        assert_eq!(d.warning_count(), 1);
    }

    #[test]
    fn self_referencing_definition_stops() {
        let mut l = MemLoader::single("/etc/k/main.conf", "$A=x $A\n$A\n");
        let (_, d) = run(&mut l, "x");
        assert!(d.has_errors());
    }

    #[test]
    fn unreadable_root_is_fatal() {
        let mut l = MemLoader::default();
        let mut d = Diagnostics::default();
        assert!(preprocess("/nope", &mut l, "x", &mut d).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(normalize("/a/./b/../c//d"), "/a/c/d");
        assert_eq!(join("/etc/k", "x.conf"), "/etc/k/x.conf");
        assert_eq!(join("/etc/k", "/x.conf"), "/x.conf");
        assert_eq!(dirname("x.conf"), ".");
        assert!(wildcard_match("/a/*.conf", "/a/b.conf"));
        assert!(!wildcard_match("/a/*.conf", "/a/b/c.conf"));
    }
}
