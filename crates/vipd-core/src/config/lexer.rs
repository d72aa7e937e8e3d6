//! The lexer: logical lines -> words and braces, each with its file:line:column.
//!
//! keepalived.conf is line oriented: a statement is a keyword and its arguments
//! on one line; `{` and `}` open and close blocks and may be glued to words
//! (`80{`, `}}`). Quoted strings (`"..."`, `'...'`) keep their white space and
//! understand shell-like escapes; quotes may be glued to unquoted text, which
//! makes one word. Any Unicode white space separates words: the seed configs are
//! indented with U+00A0 no-break spaces, which keepalived itself does not accept
//! (it takes them for part of the keyword); vipd accepts them with one warning
//! per file.

use super::diag::{Diagnostic, Diagnostics, FileId, Span};
use super::preprocess::LogicalLine;
use std::collections::BTreeMap;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A word or quoted string (quotes removed, escapes resolved).
    Word(String),
    /// `{`
    Open,
    /// `}`
    Close,
    /// End of a logical line.
    Eol,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Where it is.
    pub span: Span,
}

/// Per-file tally of non-ASCII white space, for the one warning per file.
#[derive(Debug)]
struct ExoticWs {
    first: Span,
    ch: char,
    lines: u32,
    last_line: u32,
}

/// Tokenizes preprocessed lines on demand, one line at a time, so a large
/// configuration never holds all its tokens at once.
#[derive(Debug)]
pub struct Lexer<'a> {
    lines: std::slice::Iter<'a, LogicalLine>,
    buf: Vec<Token>,
    pos: usize,
    exotic: BTreeMap<FileId, ExoticWs>,
}

impl<'a> Lexer<'a> {
    /// A lexer over `lines`.
    pub fn new(lines: &'a [LogicalLine]) -> Self {
        Lexer {
            lines: lines.iter(),
            buf: Vec::new(),
            pos: 0,
            exotic: BTreeMap::new(),
        }
    }

    /// The next token; lexical problems (an unterminated quote) go to `diags`.
    pub fn next_token(&mut self, diags: &mut Diagnostics) -> Option<Token> {
        while self.pos == self.buf.len() {
            let l = self.lines.next()?;
            self.buf.clear();
            self.pos = 0;
            lex_line(l, &mut self.buf, &mut self.exotic, diags);
        }
        let t = std::mem::replace(
            &mut self.buf[self.pos],
            Token {
                kind: TokenKind::Eol,
                span: Span::default(),
            },
        );
        self.pos += 1;
        Some(t)
    }

    /// Emits the per-file warnings about exotic white space.
    pub fn finish(self, diags: &mut Diagnostics) {
        for (_, e) in self.exotic {
            diags.push(
                Diagnostic::warning(format!(
                    "{} used as white space ({} line{} in this file)",
                    describe_ws(e.ch),
                    e.lines,
                    if e.lines == 1 { "" } else { "s" }
                ))
                .at(e.first)
                .label("not an ASCII space")
                .note("keepalived takes these characters for part of the keyword; vipd reads them as spaces")
                .help("replace them with ASCII spaces, e.g. `sed -i 's/\\xc2\\xa0/ /g' FILE`"),
            );
        }
    }
}

/// Tokenizes all lines at once (tests, tools). Lexical problems and the
/// exotic white-space warning go to `diags`.
pub fn lex(lines: &[LogicalLine], diags: &mut Diagnostics) -> Vec<Token> {
    let mut lexer = Lexer::new(lines);
    let mut toks = Vec::new();
    while let Some(t) = lexer.next_token(diags) {
        toks.push(t);
    }
    lexer.finish(diags);
    toks
}

fn describe_ws(c: char) -> String {
    let name = match c {
        '\u{a0}' => "no-break space",
        '\u{feff}' => "byte order mark",
        '\u{3000}' => "ideographic space",
        '\u{2002}'..='\u{200a}' => "typographic space",
        _ => "Unicode white space",
    };
    format!("{name} (U+{:04X})", c as u32)
}

fn is_ws(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

fn lex_line(
    l: &LogicalLine,
    toks: &mut Vec<Token>,
    exotic: &mut BTreeMap<FileId, ExoticWs>,
    diags: &mut Diagnostics,
) {
    let span = |col: usize, len: usize| Span {
        file: l.file,
        line: l.line,
        col: col as u32 + 1,
        len: len.max(1) as u32,
    };
    // (character column, char) pairs; `peek` looks one ahead.
    let mut it = l.text.chars().enumerate().peekable();
    let mut ncols = 0;
    while let Some(&(i, c)) = it.peek() {
        ncols = i + 1;
        if is_ws(c) {
            // A byte order mark (Windows editors write one) is not worth a warning.
            if !c.is_ascii() && c != '\u{feff}' && l.exact {
                let e = exotic.entry(l.file).or_insert(ExoticWs {
                    first: span(i, 1),
                    ch: c,
                    lines: 0,
                    last_line: 0,
                });
                if e.last_line != l.line {
                    e.lines += 1;
                    e.last_line = l.line;
                }
            }
            it.next();
            continue;
        }
        match c {
            '{' | '}' => {
                toks.push(Token {
                    kind: if c == '{' {
                        TokenKind::Open
                    } else {
                        TokenKind::Close
                    },
                    span: span(i, 1),
                });
                it.next();
            }
            _ => {
                let start = i;
                let mut end = i;
                let mut word = String::new();
                while let Some(&(j, c)) = it.peek() {
                    if is_ws(c) || c == '{' || c == '}' {
                        break;
                    }
                    it.next();
                    end = j + 1;
                    if c == '"' || c == '\'' {
                        let q = c;
                        let mut closed = false;
                        while let Some((k, c)) = it.next() {
                            end = k + 1;
                            if c == q {
                                closed = true;
                                break;
                            }
                            if c == '\\' {
                                if let Some(&(_, e)) = it.peek() {
                                    let _ = e;
                                    end = escape(&mut it, &mut word).max(end);
                                    continue;
                                }
                            }
                            word.push(c);
                        }
                        if !closed {
                            diags.push(
                                Diagnostic::error("unterminated quoted string")
                                    .at(span(j, 1))
                                    .label("this quote is never closed")
                                    .help(format!("add the closing {q} on the same line")),
                            );
                        }
                        continue;
                    }
                    word.push(c);
                }
                ncols = end;
                toks.push(Token {
                    kind: TokenKind::Word(word),
                    span: span(start, end - start),
                });
            }
        }
    }
    toks.push(Token {
        kind: TokenKind::Eol,
        span: span(ncols, 1),
    });
}

/// Resolves the escape whose first character (after `\\`) is next in `it`;
/// returns the column after it.
fn escape<I: Iterator<Item = (usize, char)>>(
    it: &mut std::iter::Peekable<I>,
    out: &mut String,
) -> usize {
    let Some((i, c)) = it.next() else { return 0 };
    let mut end = i + 1;
    let mut take_if = |it: &mut std::iter::Peekable<I>, f: &dyn Fn(char) -> bool| -> Option<char> {
        match it.peek() {
            Some(&(k, d)) if f(d) => {
                it.next();
                end = k + 1;
                Some(d)
            }
            _ => None,
        }
    };
    match c {
        'a' => out.push('\x07'),
        'b' => out.push('\x08'),
        'E' => out.push('\x1b'),
        'f' => out.push('\x0c'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        't' => out.push('\t'),
        'v' => out.push('\x0b'),
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match take_if(it, &|d| d.is_digit(8)) {
                    Some(d) => v = v * 8 + d.to_digit(8).unwrap_or(0),
                    None => break,
                }
            }
            out.push(char::from_u32(v & 0xff).unwrap_or('?'));
        }
        'x' => {
            let mut v: u32 = 0;
            let mut n = 0;
            while n < 2 {
                match take_if(it, &|d| d.is_ascii_hexdigit()) {
                    Some(d) => v = v * 16 + d.to_digit(16).unwrap_or(0),
                    None => break,
                }
                n += 1;
            }
            if n == 0 {
                out.push('x');
            } else {
                out.push(char::from_u32(v).unwrap_or('?'));
            }
        }
        'c' => match take_if(it, &|_| true) {
            Some(d) => {
                out.push(char::from_u32((d.to_ascii_uppercase() as u32) ^ 0x40).unwrap_or('?'))
            }
            None => out.push('c'),
        },
        other => out.push(other),
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> LogicalLine {
        LogicalLine {
            file: FileId(0),
            line: 1,
            text: text.to_owned(),
            exact: true,
        }
    }

    fn kinds(text: &str) -> (Vec<TokenKind>, Diagnostics) {
        let mut d = Diagnostics::default();
        let t = lex(&[line(text)], &mut d);
        (t.into_iter().map(|t| t.kind).collect(), d)
    }

    fn w(s: &str) -> TokenKind {
        TokenKind::Word(s.to_owned())
    }

    #[test]
    fn braces_glued_to_words() {
        let (k, _) = kinds("real_server 10.0.0.1 80{}}");
        assert_eq!(
            k,
            [
                w("real_server"),
                w("10.0.0.1"),
                w("80"),
                TokenKind::Open,
                TokenKind::Close,
                TokenKind::Close,
                TokenKind::Eol
            ]
        );
    }

    #[test]
    fn quotes_and_escapes() {
        let (k, d) = kinds(r#"a "b c" x"y z"w 'q\'' "\x41\101\t\cA""#);
        assert!(d.items.is_empty());
        assert_eq!(
            k,
            [
                w("a"),
                w("b c"),
                w("xy zw"),
                w("q'"),
                w("AA\t\x01"),
                TokenKind::Eol
            ]
        );
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let (k, d) = kinds("script \"/bin/true");
        assert_eq!(k[1], w("/bin/true"));
        assert_eq!(d.error_count(), 1);
        assert_eq!(d.items[0].span.unwrap().col, 8);
    }

    #[test]
    fn nbsp_is_white_space_with_one_warning_per_file() {
        let mut d = Diagnostics::default();
        let mut l2 = line("\u{a0}\u{a0}b\u{a0}2");
        l2.line = 2;
        let t = lex(&[line("a\u{a0}1"), l2], &mut d);
        let words = t
            .iter()
            .filter(|t| matches!(t.kind, TokenKind::Word(_)))
            .count();
        assert_eq!(words, 4);
        assert_eq!(d.items.len(), 1);
        assert!(d.items[0].message.contains("U+00A0"));
        assert!(d.items[0].message.contains("2 lines"));
        assert_eq!(d.items[0].span.unwrap().col, 2);
        assert_eq!(t[1].span.col, 3);
    }
}
