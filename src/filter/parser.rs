//! Recursive-descent parser: tokens → compiled `Node` tree.
//!
//! Grammar (nfdump precedence: `not` binds tighter than `and`, `and` tighter than `or`):
//! ```text
//! expr    := and_expr (("or" | "||") and_expr)*
//! and_expr:= unary (("and" | "&&") unary)*
//! unary   := ("not" | "!") unary | "(" expr ")" | primitive
//! ```
//! Primitives are parsed in `primitive.rs`.

use super::lexer::{Token, TokenKind};
use super::predicate::{Cmp, Node};
use super::FilterError;

pub(crate) struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    /// Column just past the end of the text, for "found the end of the filter" errors.
    end_column: usize,
    /// Nesting depth of parentheses and `not`, capped so hostile input cannot overflow the stack.
    depth: usize,
}

/// Deeper nesting than this is refused (each level is a recursion).
const MAX_DEPTH: usize = 200;

impl<'a> Parser<'a> {
    pub fn new(tokens: &'a [Token], end_column: usize) -> Parser<'a> {
        Parser { tokens, pos: 0, end_column, depth: 0 }
    }

    /// Parses the whole token list.
    pub fn parse(mut self) -> Result<Node, FilterError> {
        if self.tokens.is_empty() {
            return Ok(Node::True);
        }
        let node = self.expr()?;
        if self.peek().is_some() {
            return Err(self.expected("'and', 'or' or the end of the filter"));
        }
        Ok(node)
    }

    fn expr(&mut self) -> Result<Node, FilterError> {
        let mut node = self.and_expr()?;
        while self.eat_or() {
            let right = self.and_expr()?;
            node = Node::or(node, right);
        }
        Ok(node)
    }

    fn and_expr(&mut self) -> Result<Node, FilterError> {
        let mut node = self.unary()?;
        while self.eat_and() {
            let right = self.unary()?;
            node = Node::and(node, right);
        }
        Ok(node)
    }

    fn unary(&mut self) -> Result<Node, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(format!("filter nested more than {MAX_DEPTH} levels deep")));
        }
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Node, FilterError> {
        let Some(tok) = self.peek() else {
            return Err(self.expected("a filter primitive, 'not' or '('"));
        };
        match &tok.kind {
            TokenKind::Not => {
                self.pos += 1;
                Ok(Node::Not(Box::new(self.unary()?)))
            }
            TokenKind::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.pos += 1;
                Ok(Node::Not(Box::new(self.unary()?)))
            }
            TokenKind::LParen => {
                let open = tok.column;
                self.pos += 1;
                let node = self.expr()?;
                match self.peek().map(|t| &t.kind) {
                    Some(TokenKind::RParen) => {
                        self.pos += 1;
                        Ok(node)
                    }
                    Some(_) => Err(self.expected("'and', 'or' or ')'")),
                    None => Err(self.expected(&format!("')' to close the '(' at column {open}"))),
                }
            }
            TokenKind::Word(_) => self.primitive(),
            _ => Err(self.expected("a filter primitive, 'not' or '('")),
        }
    }

    fn eat_and(&mut self) -> bool {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::And) => {
                self.pos += 1;
                true
            }
            Some(TokenKind::Word(w)) if w.eq_ignore_ascii_case("and") => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn eat_or(&mut self) -> bool {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Or) => {
                self.pos += 1;
                true
            }
            Some(TokenKind::Word(w)) if w.eq_ignore_ascii_case("or") => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    // ---- token helpers shared with primitive.rs ----

    pub(super) fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    pub(super) fn peek_at(&self, ahead: usize) -> Option<&'a Token> {
        self.tokens.get(self.pos + ahead)
    }

    pub(super) fn advance(&mut self) {
        self.pos += 1;
    }

    /// The current token, lowercased, when it is a word.
    pub(super) fn peek_keyword(&self) -> Option<String> {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    /// Consumes the current token when it is the word `kw` (case-insensitive).
    pub(super) fn eat_keyword(&mut self, kw: &str) -> bool {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Word(w)) if w.eq_ignore_ascii_case(kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Consumes and returns the current token's word, or fails with "expected {what}".
    pub(super) fn word(&mut self, what: &str) -> Result<(&'a str, usize), FilterError> {
        match self.peek() {
            Some(Token { kind: TokenKind::Word(w), column }) => {
                self.pos += 1;
                Ok((w.as_str(), *column))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// An optional comparator (`=`, `==`, `>`, `<`, `>=`, `<=`, `eq`, `gt`, `lt`, `ge`, `le`);
    /// `==` when absent, as nfdump.
    pub(super) fn comparator(&mut self) -> Cmp {
        let cmp = match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Cmp(op)) => match op.as_str() {
                "=" | "==" => Cmp::Eq,
                ">" => Cmp::Gt,
                "<" => Cmp::Lt,
                ">=" => Cmp::Ge,
                _ => Cmp::Le,
            },
            Some(TokenKind::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Cmp::Eq,
                "gt" => Cmp::Gt,
                "lt" => Cmp::Lt,
                "ge" => Cmp::Ge,
                "le" => Cmp::Le,
                _ => return Cmp::Eq,
            },
            _ => return Cmp::Eq,
        };
        self.pos += 1;
        cmp
    }

    /// True when the current token is a comparator (for primitives that take none).
    pub(super) fn at_comparator(&self) -> bool {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Cmp(_)) => true,
            Some(TokenKind::Word(w)) => {
                matches!(w.to_ascii_lowercase().as_str(), "eq" | "gt" | "lt" | "ge" | "le")
            }
            _ => false,
        }
    }

    pub(super) fn is_kind(&self, kind: &TokenKind) -> bool {
        self.peek().map(|t| &t.kind) == Some(kind)
    }

    /// What the parser is looking at, as an error message shows it.
    fn found(&self) -> String {
        match self.peek() {
            Some(t) => t.describe(),
            None => "the end of the filter".into(),
        }
    }

    pub(super) fn column(&self) -> usize {
        self.peek().map(|t| t.column).unwrap_or(self.end_column)
    }

    /// "expected {what}, found {current token}" at the current token.
    pub(super) fn expected(&self, what: &str) -> FilterError {
        FilterError { column: self.column(), message: format!("expected {what}, found {}", self.found()) }
    }

    pub(super) fn error_here(&self, message: String) -> FilterError {
        FilterError { column: self.column(), message }
    }
}
