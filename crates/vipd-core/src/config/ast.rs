//! The syntax tree: statements (a keyword, its arguments, an optional block),
//! before any meaning is given to them.
//!
//! A block's `{` may be glued to the last argument, stand alone at the end of
//! the line, or (as keepalived allows) start the next line. A block may also sit
//! on one line: `authentication { auth_type PASS }`.

use super::diag::{Diagnostic, Diagnostics, Span};
use super::lexer::{Lexer, Token, TokenKind};
use super::preprocess::LogicalLine;

/// A word and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text (quotes removed).
    pub text: String,
    /// Where it is.
    pub span: Span,
}

/// A `{ ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Where the `{` is.
    pub open: Span,
    /// The statements inside.
    pub nodes: Vec<Node>,
}

/// One statement: `keyword arg... [{ ... }]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The first word.
    pub keyword: Word,
    /// The other words on the line.
    pub args: Vec<Word>,
    /// The block, if any.
    pub block: Option<Block>,
}

impl Node {
    /// The span from the keyword to the last argument, on the keyword's line.
    pub fn line_span(&self) -> Span {
        let mut s = self.keyword.span;
        if let Some(last) = self.args.last() {
            if last.span.line == s.line && last.span.file == s.file && last.span.col >= s.col {
                s.len = last.span.col + last.span.len - s.col;
            }
        }
        s
    }
}

/// Nesting deeper than this is refused (keepalived's deepest real nesting is 5).
const MAX_DEPTH: usize = 32;

/// Builds the whole tree at once (tests, tools). Unbalanced braces are errors
/// naming where the block opened.
pub fn parse(lines: &[LogicalLine], diags: &mut Diagnostics) -> Vec<Node> {
    let mut p = Parser::new(lines);
    let mut nodes = Vec::new();
    while let Some(n) = p.next_top() {
        nodes.push(n);
    }
    p.finish(diags);
    nodes
}

/// A streaming parser: hands out one top-level statement (with its block) at a
/// time, so a large configuration is never held as one tree.
#[derive(Debug)]
pub struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<Token>,
    diags: Diagnostics,
    /// The last token handed out was an end of line (or none yet): the next
    /// one starts its line.
    at_line_start: bool,
    /// The first `}` that starts its line at another indentation than the
    /// line that opened its block: (the `}`, the opening keyword or `{`).
    misindented: Option<(Span, Span)>,
    /// That diagnostic is out already.
    misindented_told: bool,
}

impl<'a> Parser<'a> {
    /// A parser over preprocessed lines.
    pub fn new(lines: &'a [LogicalLine]) -> Self {
        Parser {
            lex: Lexer::new(lines),
            peeked: None,
            diags: Diagnostics::default(),
            at_line_start: true,
            misindented: None,
            misindented_told: false,
        }
    }

    /// The next top-level statement, or None at the end of input.
    pub fn next_top(&mut self) -> Option<Node> {
        loop {
            match &self.peek()?.kind {
                TokenKind::Eol => {
                    self.bump();
                }
                TokenKind::Close => {
                    let span = self.bump()?.span;
                    self.diags.push(
                        Diagnostic::error("unmatched `}`")
                            .at(span)
                            .label("no block is open here")
                            .help("remove this `}` or add the `{` it was meant to close"),
                    );
                    self.tell_misindented();
                }
                TokenKind::Open => {
                    let open = self.bump()?.span;
                    self.stray_block(open, 0);
                }
                TokenKind::Word(_) => return self.statement(0),
            }
        }
    }

    /// Lexical and syntax diagnostics, and the lexer's per-file warnings.
    pub fn finish(self, diags: &mut Diagnostics) {
        let mut d = self.diags;
        self.lex.finish(&mut d);
        diags.items.extend(d.items);
    }

    fn peek(&mut self) -> Option<&Token> {
        if self.peeked.is_none() {
            self.peeked = self.lex.next_token(&mut self.diags);
        }
        self.peeked.as_ref()
    }

    fn bump(&mut self) -> Option<Token> {
        self.peek();
        let t = self.peeked.take();
        if let Some(t) = &t {
            self.at_line_start = matches!(t.kind, TokenKind::Eol);
        }
        t
    }

    /// With an unbalanced brace, the first `}` whose indentation disagrees
    /// with the block it closes is where the mistake most likely is (as rustc
    /// points at the delimiter the indentation shows to be misplaced).
    fn tell_misindented(&mut self) {
        let Some((close, opener)) = self.misindented else {
            return;
        };
        if std::mem::replace(&mut self.misindented_told, true) {
            return;
        }
        let (label, help) = if close.col < opener.col {
            (
                "a `}` is probably missing before this line",
                "this `}` is indented like an outer block: close the inner block first",
            )
        } else {
            (
                "this `}` is probably one too many",
                "this `}` is indented like an inner block that is already closed: remove it",
            )
        };
        self.diags.push(
            Diagnostic::error(format!(
                "this `}}` closes the block opened at line {}, but its indentation does not match that line",
                opener.line
            ))
            .at(close)
            .label(label)
            .help(help),
        );
    }

    /// A `{` that follows no keyword: parsed (for brace balance) and dropped.
    fn stray_block(&mut self, open: Span, depth: usize) {
        self.diags.push(
            Diagnostic::warning("block without a keyword; ignored")
                .at(open)
                .label("this `{` follows no keyword")
                .help("put the keyword that owns this block before the `{`"),
        );
        self.block(open, depth);
    }

    /// One statement starting at a word: keyword, arguments, optional block
    /// (on the same line, or starting the next non-empty line).
    fn statement(&mut self, depth: usize) -> Option<Node> {
        let Token {
            kind: TokenKind::Word(text),
            span,
        } = self.bump()?
        else {
            return None;
        };
        let keyword = Word { text, span };
        let mut args = Vec::new();
        let mut block = None;
        let mut at_eol = false;
        while let Some(t) = self.peek() {
            match t.kind {
                TokenKind::Word(_) => {
                    if let Some(Token {
                        kind: TokenKind::Word(text),
                        span,
                    }) = self.bump()
                    {
                        args.push(Word { text, span });
                    }
                }
                TokenKind::Eol => {
                    self.bump();
                    at_eol = true;
                    break;
                }
                TokenKind::Close => break,
                TokenKind::Open => {
                    let open = self.bump()?.span;
                    block = Some(self.block_of(open, span, depth));
                    break;
                }
            }
        }
        if at_eol {
            // keepalived also accepts the `{` at the start of a following line.
            while matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Eol)) {
                self.bump();
            }
            if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Open)) {
                let open = self.bump()?.span;
                block = Some(self.block_of(open, span, depth));
            }
        }
        Some(Node {
            keyword,
            args,
            block,
        })
    }

    /// Parses a block body after its `{`, and its `}`.
    fn block(&mut self, open: Span, depth: usize) -> Block {
        self.block_of(open, open, depth)
    }

    /// [`Parser::block`] of a block whose line starts with `opener` (its
    /// keyword): a `}` alone on its line should be indented like it.
    fn block_of(&mut self, open: Span, opener: Span, depth: usize) -> Block {
        let mut nodes = Vec::new();
        if depth + 1 > MAX_DEPTH {
            self.diags.push(
                Diagnostic::error(format!("blocks nest more than {MAX_DEPTH} deep"))
                    .at(open)
                    .help("check for stray `{`"),
            );
            // Skip to the matching `}` without recursing.
            let mut level = 1usize;
            while let Some(t) = self.bump() {
                match t.kind {
                    TokenKind::Open => level += 1,
                    TokenKind::Close => {
                        level -= 1;
                        if level == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            return Block { open, nodes };
        }
        loop {
            match self.peek().map(|t| &t.kind) {
                None => {
                    self.diags.push(
                        Diagnostic::error("unbalanced braces: this block is never closed")
                            .at(open)
                            .label("block opened here")
                            .help("add the missing `}`"),
                    );
                    self.tell_misindented();
                    break;
                }
                Some(TokenKind::Close) => {
                    let starts_line = self.at_line_start;
                    if let Some(t) = self.bump() {
                        if starts_line && t.span.col != opener.col && self.misindented.is_none() {
                            self.misindented = Some((t.span, opener));
                        }
                    }
                    break;
                }
                Some(TokenKind::Eol) => {
                    self.bump();
                }
                Some(TokenKind::Open) => {
                    if let Some(t) = self.bump() {
                        self.stray_block(t.span, depth + 1);
                    }
                }
                Some(TokenKind::Word(_)) => {
                    if let Some(n) = self.statement(depth + 1) {
                        nodes.push(n);
                    }
                }
            }
        }
        Block { open, nodes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::FileId;
    use crate::config::preprocess::LogicalLine;

    fn tree(text: &str) -> (Vec<Node>, Diagnostics) {
        let lines: Vec<LogicalLine> = text
            .lines()
            .enumerate()
            .map(|(i, t)| LogicalLine {
                file: FileId(0),
                line: i as u32 + 1,
                text: t.to_owned(),
                exact: true,
            })
            .collect();
        let mut d = Diagnostics::default();
        let nodes = parse(&lines, &mut d);
        (nodes, d)
    }

    #[test]
    fn blocks_in_all_spellings() {
        let (n, d) = tree("a 1{\n b\n}\nc\n{\n d 2 }\ne { f g }\n");
        assert!(d.items.is_empty(), "{d:?}");
        assert_eq!(n.len(), 3);
        assert_eq!(n[0].args[0].text, "1");
        assert_eq!(n[0].block.as_ref().unwrap().nodes[0].keyword.text, "b");
        assert_eq!(n[1].block.as_ref().unwrap().nodes[0].args[0].text, "2");
        assert_eq!(n[2].block.as_ref().unwrap().nodes[0].args[0].text, "g");
    }

    #[test]
    fn unclosed_block_names_its_opening_line() {
        let (_, d) = tree("a {\n b {\n }\n");
        assert_eq!(d.error_count(), 1);
        assert_eq!(d.items[0].span.unwrap().line, 1);
    }

    #[test]
    fn a_missing_close_is_pointed_at_by_indentation() {
        let text = "virtual_server a {\n    real_server b {\n        TCP_CHECK {\n            connect_port 80\n    }\n}\n";
        let (_, d) = tree(text);
        assert_eq!(d.error_count(), 2, "{d:?}");
        assert_eq!(d.items[0].span.unwrap().line, 1, "never closed");
        let hint = &d.items[1];
        assert_eq!(hint.span.unwrap().line, 5, "{hint:?}");
        assert!(hint.message.contains("opened at line 3"), "{hint:?}");
    }

    #[test]
    fn an_extra_close_is_pointed_at_by_indentation() {
        let text = "virtual_server a {\n    real_server b {\n        TCP_CHECK {\n        }\n        }\n    }\n}\nvrrp_script c {\n}\n";
        let (_, d) = tree(text);
        assert_eq!(d.error_count(), 2, "{d:?}");
        assert_eq!(d.items[0].span.unwrap().line, 7, "unmatched");
        let hint = &d.items[1];
        assert_eq!(hint.span.unwrap().line, 5, "{hint:?}");
        assert!(hint.message.contains("opened at line 2"), "{hint:?}");
    }

    #[test]
    fn stray_close_is_an_error() {
        let (n, d) = tree("a\n}\nb\n");
        assert_eq!(n.len(), 2);
        assert_eq!(d.error_count(), 1);
        assert_eq!(d.items[0].span.unwrap().line, 2);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "a {".repeat(10_000);
        let (_, d) = tree(&text);
        assert!(d.has_errors());
    }
}
