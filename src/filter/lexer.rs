//! Splits filter text into tokens, each with the 1-based column it starts at.
//! Words are kept as written (keywords are compared case-insensitively by the
//! parser; flag letters and addresses are not lowercased here).

use super::FilterError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A keyword, number, address, network or flag string.
    Word(String),
    /// `=`, `==`, `>`, `<`, `>=`, `<=`.
    Cmp(String),
    And,
    Or,
    Not,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// 1-based column (in characters) where the token starts.
    pub column: usize,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(w) | TokenKind::Cmp(w) => format!("'{w}'"),
            TokenKind::And => "'&&'".into(),
            TokenKind::Or => "'||'".into(),
            TokenKind::Not => "'!'".into(),
            TokenKind::LParen => "'('".into(),
            TokenKind::RParen => "')'".into(),
            TokenKind::LBracket => "'['".into(),
            TokenKind::RBracket => "']'".into(),
            TokenKind::Comma => "','".into(),
        }
    }
}

/// Characters that make up a word: keywords, numbers with scale suffixes,
/// IPv4/IPv6 addresses and CIDR networks, `icmp-type`.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '-' | '_')
}

pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let single = |kind| Token { kind, column };
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '(' => {
                tokens.push(single(TokenKind::LParen));
                i += 1;
            }
            ')' => {
                tokens.push(single(TokenKind::RParen));
                i += 1;
            }
            '[' => {
                tokens.push(single(TokenKind::LBracket));
                i += 1;
            }
            ']' => {
                tokens.push(single(TokenKind::RBracket));
                i += 1;
            }
            ',' => {
                tokens.push(single(TokenKind::Comma));
                i += 1;
            }
            '&' | '|' => {
                if chars.get(i + 1) != Some(&c) {
                    return Err(FilterError {
                        column,
                        message: format!(
                            "unexpected '{c}': write '{c}{c}' or '{}'",
                            if c == '&' { "and" } else { "or" }
                        ),
                    });
                }
                tokens.push(single(if c == '&' { TokenKind::And } else { TokenKind::Or }));
                i += 2;
            }
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    return Err(FilterError {
                        column,
                        message:
                            "'!=' is not an nfdump comparator: write 'not port 80' instead of 'port != 80'"
                                .into(),
                    });
                }
                tokens.push(single(TokenKind::Not));
                i += 1;
            }
            '=' | '<' | '>' => {
                let mut op = String::from(c);
                if chars.get(i + 1) == Some(&'=') {
                    op.push('=');
                }
                i += op.len();
                tokens.push(single(TokenKind::Cmp(op)));
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(Token { kind: TokenKind::Word(word), column });
            }
            other => {
                return Err(FilterError { column, message: format!("unexpected character '{other}'") });
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<TokenKind> {
        tokenize(s).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn words_operators_and_columns() {
        let toks = tokenize("src port >= 1k && !(ip ::1) # note").unwrap();
        let cols: Vec<usize> = toks.iter().map(|t| t.column).collect();
        assert_eq!(cols, vec![1, 5, 10, 13, 16, 19, 20, 21, 24, 27]);
        assert_eq!(
            kinds("a||b,[c]"),
            vec![
                TokenKind::Word("a".into()),
                TokenKind::Or,
                TokenKind::Word("b".into()),
                TokenKind::Comma,
                TokenKind::LBracket,
                TokenKind::Word("c".into()),
                TokenKind::RBracket
            ]
        );
    }

    #[test]
    fn comment_runs_to_end_of_line_only() {
        assert_eq!(kinds("any # x\nor any").len(), 3);
    }

    #[test]
    fn stray_characters_are_errors_with_columns() {
        assert_eq!(tokenize("port 80 & any").unwrap_err().column, 9);
        assert_eq!(tokenize("port $x").unwrap_err().column, 6);
        assert_eq!(tokenize("port != 80").unwrap_err().column, 6);
    }
}
