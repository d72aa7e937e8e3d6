//! Diagnostics: what vipd says about a configuration, and where.
//!
//! Every problem found while reading keepalived.conf is a [`Diagnostic`] with a
//! severity, a message, an optional location ([`Span`]: file, line, column) and an
//! optional `help:` line that says what to write instead. [`Diagnostics::render`]
//! prints them the way rustc does, with the offending source line and a caret.
//!
//! Other areas reuse this type for their own configuration-level refusals (for
//! example the data plane refusing a scheduler it does not implement): build a
//! [`Diagnostic`] with [`Diagnostic::error`], attach the model element's
//! [`Loc`] with [`Diagnostic::at_loc`], and render it against the same
//! [`SourceMap`] that [`super::load`] returned.

use serde::{Deserialize, Serialize};
use std::fmt::{self, Write as _};

/// Index of a file in a [`SourceMap`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct FileId(pub u32);

/// A location in a configuration file: 1-based line and column (columns count
/// Unicode scalar values, as rustc does), and the length of the underlined text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Span {
    /// Which file.
    pub file: FileId,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Number of characters to underline (at least one caret is printed).
    pub len: u32,
}

/// Where a model element came from. Locations never take part in model
/// equality (two models that say the same thing are equal wherever they were
/// written), and are not serialized.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loc(pub Option<Span>);

impl PartialEq for Loc {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}
impl Eq for Loc {}

impl From<Span> for Loc {
    fn from(s: Span) -> Self {
        Loc(Some(s))
    }
}

/// The files read to build one configuration (the main file and its includes),
/// kept so that diagnostics can quote source lines.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

#[derive(Debug, Clone)]
struct SourceFile {
    name: String,
    text: String,
    /// Byte offset where each line starts.
    starts: Vec<u32>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a file's name and text; returns its id.
    pub fn add(&mut self, name: &str, text: &str) -> FileId {
        let id = FileId(self.files.len() as u32);
        let mut starts = vec![0u32];
        starts.extend(text.match_indices('\n').map(|(i, _)| i as u32 + 1));
        self.files.push(SourceFile {
            name: name.to_owned(),
            text: text.to_owned(),
            starts,
        });
        id
    }

    /// The name a file was registered under.
    pub fn name(&self, id: FileId) -> &str {
        self.files
            .get(id.0 as usize)
            .map(|f| f.name.as_str())
            .unwrap_or("<unknown>")
    }

    /// One source line (1-based), without its line end.
    pub fn line(&self, id: FileId, line: u32) -> Option<&str> {
        let f = self.files.get(id.0 as usize)?;
        let i = (line as usize).checked_sub(1)?;
        let start = *f.starts.get(i)? as usize;
        let end = f
            .starts
            .get(i + 1)
            .map_or(f.text.len(), |&e| e as usize - 1);
        // A final line end does not start another line.
        if start == f.text.len() && i > 0 {
            return None;
        }
        let l = &f.text[start..end];
        Some(l.strip_suffix('\r').unwrap_or(l))
    }

    /// Number of registered files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file is registered.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Splits text into lines, accepting `\n`, `\r\n` and a final line without end.
pub(crate) fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n')
        .filter(move |_| !empty)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Parsing goes on and the result is used; the operator should look.
    Warning,
    /// The configuration cannot be honoured as written; vipd refuses it.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One message about the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Warning or error.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// Where (when known).
    pub span: Option<Span>,
    /// Text printed under the caret.
    pub label: Option<String>,
    /// Extra context lines (`= note: ...`).
    pub notes: Vec<String>,
    /// What to do about it (`= help: ...`).
    pub help: Option<String>,
}

impl Diagnostic {
    /// A new error without location.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }
    /// A new warning without location.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }
    fn new(severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            span: None,
            label: None,
            notes: Vec::new(),
            help: None,
        }
    }
    /// Attaches a location.
    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }
    /// Attaches a model element's location, when it has one.
    pub fn at_loc(mut self, loc: Loc) -> Self {
        self.span = loc.0;
        self
    }
    /// Text under the caret.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    /// Adds a `note:` line.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    /// Sets the `help:` line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders this diagnostic rustc-style against `sources`.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}: {}", self.severity, self.message);
        let mut gutter = 1;
        if let Some(span) = self.span {
            let num = span.line.to_string();
            gutter = num.len() + 1;
            let pad = " ".repeat(gutter);
            let _ = writeln!(
                out,
                "{}--> {}:{}:{}",
                " ".repeat(gutter - 1),
                sources.name(span.file),
                span.line,
                span.col
            );
            if let Some(src) = sources.line(span.file, span.line) {
                // Tabs and exotic white space are shown as single spaces so the
                // caret lines up with what the terminal prints.
                let shown: String = src
                    .chars()
                    .map(|c| if c.is_whitespace() { ' ' } else { c })
                    .collect();
                let _ = writeln!(out, "{pad}|");
                let _ = writeln!(out, "{num} | {}", shown.trim_end());
                let lead = " ".repeat(span.col.saturating_sub(1) as usize);
                let carets = "^".repeat(span.len.max(1) as usize);
                match &self.label {
                    Some(l) => {
                        let _ = writeln!(out, "{pad}| {lead}{carets} {l}");
                    }
                    None => {
                        let _ = writeln!(out, "{pad}| {lead}{carets}");
                    }
                }
            }
        }
        let pad = " ".repeat(gutter);
        for n in &self.notes {
            let _ = writeln!(out, "{pad}= note: {n}");
        }
        if let Some(h) = &self.help {
            let _ = writeln!(out, "{pad}= help: {h}");
        }
        out
    }
}

/// An ordered collection of diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// In the order they were found.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }
    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }
    /// True when at least one error is present.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }
    /// Turns every warning into an error (`--strict`).
    pub fn make_strict(&mut self) {
        for d in &mut self.items {
            d.severity = Severity::Error;
        }
    }
    /// Iterates in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }
    /// Renders all of them, blank line separated, followed by a summary line.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&d.render(sources));
            out.push('\n');
        }
        out
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.conf", "vrrp_instance X {\n    priority 300\n}\n");
        let d = Diagnostic::error("priority 300 is out of range")
            .at(Span {
                file: f,
                line: 2,
                col: 14,
                len: 3,
            })
            .label("must be 1..=255")
            .help("use a priority between 1 and 255");
        assert_eq!(
            d.render(&sm),
            "error: priority 300 is out of range\n --> a.conf:2:14\n  |\n2 |     priority 300\n  |              ^^^ must be 1..=255\n  = help: use a priority between 1 and 255\n"
        );
    }

    #[test]
    fn split_lines_handles_crlf_and_last_line() {
        let v: Vec<_> = split_lines("a\r\nb\nc").collect();
        assert_eq!(v, ["a", "b", "c"]);
        assert_eq!(split_lines("").count(), 0);
        assert_eq!(split_lines("x\n").count(), 1);
    }
}
