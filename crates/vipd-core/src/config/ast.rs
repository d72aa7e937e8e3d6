//! The syntax tree: statements (a keyword, its arguments, an optional block),
//! before any meaning is given to them.
//!
//! A block's `{` may be glued to the last argument, stand alone at the end of
//! the line, or (as keepalived allows) start the next line. A block may also sit
//! on one line: `authentication { auth_type PASS }`.

use super::diag::{Diagnostic, Diagnostics, Span};
use super::lexer::{Token, TokenKind};

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

/// Builds the tree. Unbalanced braces are errors naming where the block opened.
pub fn parse(tokens: &[Token], diags: &mut Diagnostics) -> Vec<Node> {
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        diags,
    };
    let mut nodes = Vec::new();
    loop {
        p.statements(&mut nodes, 0);
        match p.peek() {
            None => break,
            Some(t) => {
                // A `}` with nothing open.
                let span = t.span;
                p.pos += 1;
                p.diags.push(
                    Diagnostic::error("unmatched `}`")
                        .at(span)
                        .label("no block is open here")
                        .help("remove this `}` or add the `{` it was meant to close"),
                );
            }
        }
    }
    nodes
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    diags: &'a mut Diagnostics,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    /// Parses statements until end of input or a `}` (left unconsumed).
    fn statements(&mut self, out: &mut Vec<Node>, depth: usize) {
        while let Some(t) = self.peek() {
            match &t.kind {
                TokenKind::Eol => self.pos += 1,
                TokenKind::Close => return,
                TokenKind::Open => {
                    // A `{` on its own line belongs to the statement before it.
                    let open = t.span;
                    self.pos += 1;
                    let block = self.block(open, depth);
                    match out.last_mut() {
                        Some(prev) if prev.block.is_none() => prev.block = Some(block),
                        _ => self.diags.push(
                            Diagnostic::warning("block without a keyword; ignored")
                                .at(open)
                                .label("this `{` follows no keyword")
                                .help("put the keyword that owns this block before the `{`"),
                        ),
                    }
                }
                TokenKind::Word(text) => {
                    let keyword = Word {
                        text: text.clone(),
                        span: t.span,
                    };
                    self.pos += 1;
                    let mut args = Vec::new();
                    let mut block = None;
                    while let Some(t) = self.peek() {
                        match &t.kind {
                            TokenKind::Word(w) => {
                                args.push(Word {
                                    text: w.clone(),
                                    span: t.span,
                                });
                                self.pos += 1;
                            }
                            TokenKind::Eol => {
                                self.pos += 1;
                                break;
                            }
                            TokenKind::Close => break,
                            TokenKind::Open => {
                                let open = t.span;
                                self.pos += 1;
                                block = Some(self.block(open, depth));
                                break;
                            }
                        }
                    }
                    out.push(Node {
                        keyword,
                        args,
                        block,
                    });
                }
            }
        }
    }

    /// Parses a block body after its `{`, and its `}`.
    fn block(&mut self, open: Span, depth: usize) -> Block {
        let mut nodes = Vec::new();
        if depth + 1 > MAX_DEPTH {
            self.diags.push(
                Diagnostic::error(format!("blocks nest more than {MAX_DEPTH} deep"))
                    .at(open)
                    .help("check for stray `{`"),
            );
            // Skip to the matching `}` without recursing.
            let mut level = 1usize;
            while let Some(kind) = self.peek().map(|t| t.kind.clone()) {
                self.pos += 1;
                match kind {
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
        self.statements(&mut nodes, depth + 1);
        match self.peek() {
            Some(t) if t.kind == TokenKind::Close => self.pos += 1,
            _ => self.diags.push(
                Diagnostic::error("unbalanced braces: this block is never closed")
                    .at(open)
                    .label("block opened here")
                    .help("add the missing `}`"),
            ),
        }
        Block { open, nodes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::FileId;
    use crate::config::lexer::lex;
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
        let toks = lex(&lines, &mut d);
        (parse(&toks, &mut d), d)
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
