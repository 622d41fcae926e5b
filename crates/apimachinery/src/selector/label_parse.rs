//! The label selector lexer and parser (apimachinery `labels` package semantics).

use super::label::{LabelOperator, LabelRequirement};
use super::validation::{invalid, label_key_errors, new_requirement};

/// The requirements of `selector`, in input order, or Go's error text.
pub(super) fn parse(selector: &str) -> Result<Vec<LabelRequirement>, String> {
    Parser {
        tokens: lex(selector),
        position: 0,
    }
    .parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    ClosePar,
    Comma,
    Not,
    DoubleEquals,
    Equals,
    Greater,
    Identifier,
    In,
    Less,
    NotEquals,
    NotIn,
    OpenPar,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    tok: Tok,
    text: &'a str,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn symbol(text: &str) -> Option<Tok> {
    Some(match text {
        ")" => Tok::ClosePar,
        "," => Tok::Comma,
        "!" => Tok::Not,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::Greater,
        "in" => Tok::In,
        "<" => Tok::Less,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

/// Splits the selector into tokens, ending with `Tok::End`.
///
/// Go's lexer reads a NUL byte as "end of input": at the start of a token it
/// ends the selector; inside a token it ends that token and is skipped.
fn lex(input: &str) -> Vec<Token<'_>> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        while bytes.get(pos).copied().is_some_and(is_blank) {
            pos += 1;
        }
        let first = match bytes.get(pos) {
            None | Some(0) => {
                tokens.push(Token {
                    tok: Tok::End,
                    text: "",
                });
                return tokens;
            }
            Some(&b) => b,
        };
        let start = pos;
        let mut end = pos;
        let mut hit_nul = false;
        if is_special(first) {
            // Longest run of symbols that is still a known operator.
            let mut best: Option<Tok> = None;
            loop {
                match bytes.get(end) {
                    Some(0) => {
                        hit_nul = true;
                        break;
                    }
                    Some(&b) if is_special(b) => match symbol(&input[start..=end]) {
                        Some(tok) => {
                            best = Some(tok);
                            end += 1;
                        }
                        None if best.is_some() => break,
                        None => end += 1,
                    },
                    _ => break,
                }
            }
            // Every single special byte is an operator, so `best` is always set.
            tokens.push(Token {
                tok: best.unwrap_or(Tok::Identifier),
                text: &input[start..end],
            });
        } else {
            loop {
                match bytes.get(end) {
                    Some(0) => {
                        hit_nul = true;
                        break;
                    }
                    Some(&b) if !is_special(b) && !is_blank(b) => end += 1,
                    _ => break,
                }
            }
            let text = &input[start..end];
            let tok = match text {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Identifier,
            };
            tokens.push(Token { tok, text });
        }
        pos = if hit_nul { end + 1 } else { end };
    }
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    position: usize,
}

impl<'a> Parser<'a> {
    /// The current token; `in`/`notin` read as identifiers where values are expected.
    fn peek(&self, values: bool) -> Token<'a> {
        let token = self.tokens.get(self.position).copied().unwrap_or(Token {
            tok: Tok::End,
            text: "",
        });
        as_context(token, values)
    }

    fn next(&mut self, values: bool) -> Token<'a> {
        let token = self.peek(values);
        if self.position < self.tokens.len() {
            self.position += 1;
        }
        token
    }

    fn parse(&mut self) -> Result<Vec<LabelRequirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let token = self.peek(true);
            match token.tok {
                Tok::Identifier | Tok::Not => {
                    let requirement = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    let after = self.next(true);
                    match after.tok {
                        Tok::End => return Ok(requirements),
                        Tok::Comma => {
                            let following = self.peek(true);
                            if following.tok != Tok::Identifier && following.tok != Tok::Not {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    following.text
                                ));
                            }
                        }
                        _ => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                after.text
                            ));
                        }
                    }
                }
                Tok::End => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        token.text
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<LabelRequirement, String> {
        let mut token = self.next(true);
        let negated = token.tok == Tok::Not;
        if negated {
            token = self.next(true);
        }
        if token.tok != Tok::Identifier {
            return Err(format!("found '{}', expected: identifier", token.text));
        }
        let key = token.text;
        let key_errors = label_key_errors(key);
        if !key_errors.is_empty() {
            return Err(invalid("<nil>", key, &key_errors.join("; ")));
        }
        let at_end = matches!(self.peek(true).tok, Tok::End | Tok::Comma);
        if negated {
            return new_requirement(key, LabelOperator::DoesNotExist, Vec::new());
        }
        if at_end {
            return new_requirement(key, LabelOperator::Exists, Vec::new());
        }
        let operator_token = self.next(false);
        let operator = match operator_token.tok {
            Tok::In => LabelOperator::In,
            Tok::Equals => LabelOperator::Equals,
            Tok::DoubleEquals => LabelOperator::DoubleEquals,
            Tok::Greater => LabelOperator::GreaterThan,
            Tok::Less => LabelOperator::LessThan,
            Tok::NotIn => LabelOperator::NotIn,
            Tok::NotEquals => LabelOperator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    operator_token.text
                ));
            }
        };
        let values = match operator {
            LabelOperator::In | LabelOperator::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        new_requirement(key, operator, values)
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        let open = self.next(true);
        if open.tok != Tok::OpenPar {
            return Err(format!("found '{}' expected: '('", open.text));
        }
        let first = self.peek(true);
        match first.tok {
            Tok::Identifier | Tok::Comma => {
                let values = self.identifier_list()?;
                if self.next(true).tok != Tok::ClosePar {
                    return Err(format!("found '{}', expected: ')'", first.text));
                }
                Ok(values)
            }
            Tok::ClosePar => {
                self.next(true);
                Ok(vec![String::new()])
            }
            _ => Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                first.text
            )),
        }
    }

    fn identifier_list(&mut self) -> Result<Vec<String>, String> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let token = self.next(true);
            match token.tok {
                Tok::Identifier => {
                    values.push(token.text.to_owned());
                    let following = self.peek(true);
                    match following.tok {
                        Tok::Comma => continue,
                        Tok::ClosePar => return Ok(values),
                        _ => {
                            return Err(format!(
                                "found '{}', expected: ',' or ')'",
                                following.text
                            ));
                        }
                    }
                }
                Tok::Comma => {
                    // Empty entries (`(,a)`, `(a,)`, `(a,,b)`) stand for the empty value.
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.peek(true).tok {
                        Tok::ClosePar => {
                            values.push(String::new());
                            return Ok(values);
                        }
                        Tok::Comma => {
                            self.next(true);
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                _ => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        token.text
                    ));
                }
            }
        }
    }

    fn exact_value(&mut self) -> Result<String, String> {
        if matches!(self.peek(true).tok, Tok::End | Tok::Comma) {
            return Ok(String::new());
        }
        let token = self.next(true);
        if token.tok == Tok::Identifier {
            Ok(token.text.to_owned())
        } else {
            Err(format!("found '{}', expected: identifier", token.text))
        }
    }
}

fn as_context(token: Token<'_>, values: bool) -> Token<'_> {
    if values && matches!(token.tok, Tok::In | Tok::NotIn) {
        Token {
            tok: Tok::Identifier,
            text: token.text,
        }
    } else {
        token
    }
}
