//! Label and field selectors with apimachinery's syntax, errors and matching.
//!
//! [`LabelSelector::parse`] follows `labels.Parse`: `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`, requirements
//! separated by commas, blanks (space, tab, CR, LF) between tokens, key and
//! value validation, and the same error texts (`unable to parse requirement:
//! ...`). Like Go, the lexer works on bytes and stops at a NUL byte.
//!
//! [`FieldSelector::parse`] follows `fields.ParseSelector` (`=`, `==`, `!=`,
//! comma-separated terms, `\,` `\=` `\\` escapes) plus metrics-server's field
//! label conversion, which only knows `metadata.name` and `metadata.namespace`.
//!
//! Both can be turned into the selector requirements of a
//! SubjectAccessReview (`to_sar_requirements`), as the apiserver's webhook
//! authorizer sends them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

use crate::goquote::quote;

/// A selector that could not be parsed; the message is the apiserver's 400 text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A malformed label selector.
    #[error("{0}")]
    Label(String),
    /// A malformed field selector.
    #[error("{0}")]
    Field(String),
    /// A field selector on a field metrics-server does not index.
    #[error("{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"", quote(.0))]
    UnknownField(String),
}

/// Anything labels can be looked up in.
pub trait LabelSource {
    /// The value of label `key`, if the object has it.
    fn label(&self, key: &str) -> Option<&str>;
}

impl LabelSource for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> LabelSource for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl LabelSource for [(&str, &str)] {
    fn label(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl<T: LabelSource + ?Sized> LabelSource for &T {
    fn label(&self, key: &str) -> Option<&str> {
        (**self).label(key)
    }
}

impl<T: LabelSource + ?Sized> LabelSource for Arc<T> {
    fn label(&self, key: &str) -> Option<&str> {
        (**self).label(key)
    }
}

/// The operator of a label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelOperator {
    /// `k=v`
    Equals,
    /// `k==v`
    DoubleEquals,
    /// `k!=v`
    NotEquals,
    /// `k in (a,b)`
    In,
    /// `k notin (a,b)`
    NotIn,
    /// `k`
    Exists,
    /// `!k`
    DoesNotExist,
    /// `k>1`
    GreaterThan,
    /// `k<1`
    LessThan,
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelRequirement {
    key: String,
    operator: LabelOperator,
    /// Sorted and de-duplicated, as Go's string set lists them.
    values: Vec<String>,
}

impl LabelRequirement {
    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> LabelOperator {
        self.operator
    }

    /// The values, sorted (empty for `Exists`/`DoesNotExist`).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether an object with `labels` satisfies this requirement.
    pub fn matches<L: LabelSource + ?Sized>(&self, labels: &L) -> bool {
        let value = labels.label(&self.key);
        match self.operator {
            LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In => {
                value.is_some_and(|v| self.has_value(v))
            }
            LabelOperator::NotEquals | LabelOperator::NotIn => {
                !value.is_some_and(|v| self.has_value(v))
            }
            LabelOperator::Exists => value.is_some(),
            LabelOperator::DoesNotExist => value.is_none(),
            LabelOperator::GreaterThan | LabelOperator::LessThan => {
                let (Some(actual), [limit]) = (value, self.values.as_slice()) else {
                    return false;
                };
                let (Ok(actual), Ok(limit)) = (actual.parse::<i64>(), limit.parse::<i64>()) else {
                    return false;
                };
                if self.operator == LabelOperator::GreaterThan {
                    actual > limit
                } else {
                    actual < limit
                }
            }
        }
    }

    fn has_value(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }

    /// The SubjectAccessReview form; `None` for `>`/`<`, which it cannot express.
    fn to_sar(&self) -> Option<SarLabelRequirement> {
        let operator = match self.operator {
            LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In => "In",
            LabelOperator::NotEquals | LabelOperator::NotIn => "NotIn",
            LabelOperator::Exists => "Exists",
            LabelOperator::DoesNotExist => "DoesNotExist",
            LabelOperator::GreaterThan | LabelOperator::LessThan => return None,
        };
        Some(SarLabelRequirement {
            key: self.key.clone(),
            operator,
            values: self.values.clone(),
        })
    }
}

impl fmt::Display for LabelRequirement {
    /// Go's `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == LabelOperator::DoesNotExist {
            f.write_char('!')?;
        }
        f.write_str(&self.key)?;
        let (operator, parenthesised) = match self.operator {
            LabelOperator::Exists | LabelOperator::DoesNotExist => return Ok(()),
            LabelOperator::Equals => ("=", false),
            LabelOperator::DoubleEquals => ("==", false),
            LabelOperator::NotEquals => ("!=", false),
            LabelOperator::In => (" in ", true),
            LabelOperator::NotIn => (" notin ", true),
            LabelOperator::GreaterThan => (">", false),
            LabelOperator::LessThan => ("<", false),
        };
        f.write_str(operator)?;
        if parenthesised {
            f.write_char('(')?;
        }
        f.write_str(&self.values.join(","))?;
        if parenthesised {
            f.write_char(')')?;
        }
        Ok(())
    }
}

/// A parsed label selector: the AND of its requirements, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

/// A label selector requirement as a SubjectAccessReview carries it
/// (`metav1.LabelSelectorRequirement`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SarLabelRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: &'static str,
    /// Values; omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// The selector that matches everything.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// Parses a selector with `labels.Parse`'s grammar; `""` matches everything.
    pub fn parse(selector: &str) -> Result<LabelSelector, SelectorError> {
        let tokens = lex(selector);
        let mut parser = Parser {
            tokens,
            position: 0,
        };
        let mut requirements = parser.parse().map_err(SelectorError::Label)?;
        // Go sorts by key (not stably, but keys rarely repeat); stable keeps input order for ties.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// Whether the selector has no requirements (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }

    /// Whether an object with `labels` satisfies every requirement.
    pub fn matches<L: LabelSource + ?Sized>(&self, labels: &L) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The AND of two selectors (for example a request's and `--node-selector`).
    pub fn and(&self, other: &LabelSelector) -> LabelSelector {
        let mut requirements = self.requirements.clone();
        requirements.extend(other.requirements.iter().cloned());
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements }
    }

    /// The requirements a SubjectAccessReview carries for this selector.
    /// `>` and `<` have no SAR form and are left out.
    pub fn to_sar_requirements(&self) -> Vec<SarLabelRequirement> {
        self.requirements
            .iter()
            .filter_map(LabelRequirement::to_sar)
            .collect()
    }
}

impl fmt::Display for LabelSelector {
    /// Go's `Selector.String()`: requirements joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, requirement) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_char(',')?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LabelSelector::parse(s)
    }
}

// ---------------------------------------------------------------------------
// Label selector lexer and parser (apimachinery `labels` package semantics).

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

/// `labels.NewRequirement`: value checks, with Go's field-error texts.
fn new_requirement(
    key: &str,
    operator: LabelOperator,
    mut values: Vec<String>,
) -> Result<LabelRequirement, String> {
    values.sort();
    values.dedup();
    let mut errors: Vec<String> = Vec::new();
    if matches!(
        operator,
        LabelOperator::GreaterThan | LabelOperator::LessThan
    ) {
        for (index, value) in values.iter().enumerate() {
            if value.parse::<i64>().is_err() {
                errors.push(invalid(
                    &format!("values[{index}]"),
                    value,
                    "for 'Gt', 'Lt' operators, the value must be an integer",
                ));
            }
        }
    }
    for (index, value) in values.iter().enumerate() {
        let value_errors = label_value_errors(value);
        if !value_errors.is_empty() {
            errors.push(invalid(
                &format!("values[{index}][{key}]"),
                value,
                &value_errors.join("; "),
            ));
        }
    }
    errors.dedup();
    match errors.len() {
        0 => Ok(LabelRequirement {
            key: key.to_owned(),
            operator,
            values,
        }),
        1 => Err(errors.remove(0)),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

/// `field.Invalid(path, value, detail).Error()`.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {}: {detail}", quote(value))
}

const LABEL_KEY_REGEX: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_MESSAGE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS_SUBDOMAIN_REGEX: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// apimachinery's `RegexError`, double spaces included.
fn regex_error(message: &str, regex: &str, examples: &[&str]) -> String {
    let mut out = format!("{message} (e.g. ");
    for (index, example) in examples.iter().enumerate() {
        if index > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(example);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(regex);
    out.push_str("')");
    out
}

fn max_len_error(limit: usize) -> String {
    format!("must be no more than {limit} bytes")
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`
fn is_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let bytes = label.as_bytes();
        let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                edge(first) && edge(last) && bytes.iter().all(|b| edge(b) || *b == b'-')
            }
            _ => false,
        }
    })
}

/// `content.IsLabelKey`.
fn label_key_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_owned());
            } else {
                if prefix.len() > 253 {
                    errors.push(format!("prefix part {}", max_len_error(253)));
                }
                if !is_dns_subdomain(prefix) {
                    errors.push(format!(
                        "prefix part {}",
                        regex_error(DNS_SUBDOMAIN_MESSAGE, DNS_SUBDOMAIN_REGEX, &["example.com"])
                    ));
                }
            }
            *name
        }
        _ => {
            errors.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_MESSAGE, LABEL_KEY_REGEX, &["MyName", "my.name", "123-abc"])
            ));
            return errors;
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errors.push(format!("name part {}", max_len_error(63)));
    }
    if !is_label_name(name) {
        errors.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_MESSAGE,
                LABEL_KEY_REGEX,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errors
}

/// `IsValidLabelValue`.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push(max_len_error(63));
    }
    if !value.is_empty() && !is_label_name(value) {
        errors.push(regex_error(
            LABEL_VALUE_MESSAGE,
            &format!("({LABEL_KEY_REGEX})?"),
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
}

// ---------------------------------------------------------------------------
// Field selectors.

/// The fields metrics-server can select on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `metadata.name`
    Name,
    /// `metadata.namespace`
    Namespace,
}

impl Field {
    /// The field path as written in selectors.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "metadata.name",
            Field::Namespace => "metadata.namespace",
        }
    }
}

/// The operator of a field requirement (Go treats `=` and `==` alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `f=v` or `f==v`
    Equals,
    /// `f!=v`
    NotEquals,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    field: String,
    operator: FieldOperator,
    value: String,
}

impl FieldRequirement {
    /// The field path (`metadata.name`, ...).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The operator.
    pub fn operator(&self) -> FieldOperator {
        self.operator
    }

    /// The unescaped value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A field requirement as a SubjectAccessReview carries it (`FieldSelectorRequirement`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SarFieldRequirement {
    /// Field path.
    pub key: String,
    /// `In` or `NotIn`.
    pub operator: &'static str,
    /// The single value.
    pub values: Vec<String>,
}

/// A parsed field selector: the AND of its terms, in Go's (sorted) order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// Parses a field selector and rejects fields other than `metadata.name`
    /// and `metadata.namespace`, as metrics-server's field label conversion does.
    pub fn parse(selector: &str) -> Result<FieldSelector, SelectorError> {
        let parsed = FieldSelector::parse_any_field(selector)?;
        if let Some(unknown) = parsed
            .requirements
            .iter()
            .find(|r| r.field != Field::Name.as_str() && r.field != Field::Namespace.as_str())
        {
            return Err(SelectorError::UnknownField(unknown.field.clone()));
        }
        Ok(parsed)
    }

    /// Parses the syntax only (`fields.ParseSelector`), accepting any field name;
    /// this is what the apiserver's request-info step does.
    pub fn parse_any_field(selector: &str) -> Result<FieldSelector, SelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::with_capacity(terms.len());
        for term in terms {
            if term.is_empty() {
                continue;
            }
            let Some((field, operator, raw_value)) = split_term(term) else {
                return Err(SelectorError::Field(format!(
                    "invalid selector: '{selector}'; can't understand '{term}'"
                )));
            };
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                operator,
                value: unescape_field_value(raw_value)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms, in Go's order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether an object matches. A field the object does not have (a node's
    /// namespace: pass `None`) counts as `""`, as Go's `fields.Set` does.
    pub fn matches(&self, name: &str, namespace: Option<&str>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = match r.field.as_str() {
                "metadata.name" => name,
                "metadata.namespace" => namespace.unwrap_or(""),
                _ => "",
            };
            match r.operator {
                FieldOperator::Equals => actual == r.value,
                FieldOperator::NotEquals => actual != r.value,
            }
        })
    }

    /// The value `field` must equal for the selector to match, if one term requires it
    /// (Go's `RequiresExactMatch`; the apiserver uses it to name the object of a list).
    pub fn exact_match(&self, field: Field) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field.as_str() && r.operator != FieldOperator::NotEquals)
            .map(|r| r.value.as_str())
    }

    /// The requirements a SubjectAccessReview carries for this selector.
    pub fn to_sar_requirements(&self) -> Vec<SarFieldRequirement> {
        self.requirements
            .iter()
            .map(|r| SarFieldRequirement {
                key: r.field.clone(),
                operator: match r.operator {
                    FieldOperator::Equals => "In",
                    FieldOperator::NotEquals => "NotIn",
                },
                values: vec![r.value.clone()],
            })
            .collect()
    }
}

impl fmt::Display for FieldSelector {
    /// Go's `Selector.String()`, with values escaped again.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, r) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_char(',')?;
            }
            f.write_str(&r.field)?;
            f.write_str(match r.operator {
                FieldOperator::NotEquals => "!=",
                FieldOperator::Equals => "=",
            })?;
            for ch in r.value.chars() {
                if matches!(ch, '\\' | ',' | '=') {
                    f.write_char('\\')?;
                }
                f.write_char(ch)?;
            }
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

/// Splits on commas that are not escaped with a backslash (the escape is kept).
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (index, ch) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == ',' {
            terms.push(&selector[start..index]);
            start = index + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits at the first operator (`!=`, then `==`, then `=`, tried at each position).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [
        ("!=", FieldOperator::NotEquals),
        ("==", FieldOperator::Equals),
        ("=", FieldOperator::Equals),
    ];
    for (index, _) in term.char_indices() {
        let rest = &term[index..];
        for (text, operator) in OPERATORS {
            if let Some(value) = rest.strip_prefix(text) {
                return Some((&term[..index], operator, value));
            }
        }
    }
    None
}

fn unescape_field_value(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for ch in raw.chars() {
        if escaped {
            if !matches!(ch, '\\' | ',' | '=') {
                return Err(SelectorError::Field(format!(
                    "invalid field selector: invalid escape sequence: \\{ch}"
                )));
            }
            out.push(ch);
            escaped = false;
            continue;
        }
        match ch {
            '\\' => escaped = true,
            ',' | '=' => {
                // Go prints the rune with %v, i.e. as its code point.
                return Err(SelectorError::Field(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(ch)
                )));
            }
            other => out.push(other),
        }
    }
    if escaped {
        return Err(SelectorError::Field(
            "invalid field selector: invalid escape sequence: \\".to_owned(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selects(selector: &str, pairs: &[(&str, &str)]) -> bool {
        LabelSelector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector:?}: {e}"))
            .matches(&labels(pairs))
    }

    #[test]
    fn parses_and_matches_every_operator() {
        let web = [("app", "web"), ("tier", "3")];
        assert!(selects("", &web));
        assert!(selects("app=web", &web));
        assert!(selects("app==web", &web));
        assert!(!selects("app!=web", &web));
        assert!(selects("app!=db", &web));
        assert!(selects("missing!=x", &web));
        assert!(selects("app in (db,web)", &web));
        assert!(!selects("app notin (db,web)", &web));
        assert!(selects("missing notin (a)", &web));
        assert!(!selects("missing in (a)", &web));
        assert!(selects("app", &web));
        assert!(!selects("!app", &web));
        assert!(selects("!missing", &web));
        assert!(selects("tier>2", &web));
        assert!(!selects("tier>3", &web));
        assert!(selects("tier<4", &web));
        assert!(
            !selects("app>1", &web),
            "non-integer label values never compare"
        );
        assert!(!selects("missing<1", &web));
        assert!(selects("app=web,tier", &web));
        assert!(!selects("app=web,!tier", &web));
        assert!(selects("x=", &[("x", "")]));
        assert!(selects("x in (,a)", &[("x", "")]));
        assert!(selects("x in ()", &[("x", "")]));
    }

    #[test]
    fn whitespace_and_keywords_follow_go() {
        assert!(selects(
            "  app  =  web , tier ",
            &[("app", "web"), ("tier", "1")]
        ));
        assert!(selects("app\tin\n(web)", &[("app", "web")]));
        // `in` and `notin` are values where values are expected.
        assert!(selects("x in (in,notin)", &[("x", "notin")]));
        assert!(selects("x=in", &[("x", "in")]));
        assert!(selects("in", &[("in", "")]), "a key named `in`");
        // Go's lexer: a NUL ends the current token, or the input at a token start.
        assert!(selects("app=web\0", &[("app", "web")]));
        assert!(selects("app=web \0garbage", &[("app", "web")]));
        assert_eq!(
            LabelSelector::parse("app=web\0garbage")
                .unwrap_err()
                .to_string(),
            "found 'garbage', expected: ',' or 'end of string'"
        );
    }

    #[test]
    fn display_matches_go_string() {
        let selector =
            LabelSelector::parse("z notin (b,a), !x, a>5, app==web, k in (,b), m").unwrap();
        assert_eq!(
            selector.to_string(),
            "a>5,app==web,k in (,b),m,!x,z notin (a,b)"
        );
        assert_eq!(
            LabelSelector::parse(&selector.to_string()).unwrap(),
            selector
        );
    }

    #[test]
    fn errors_carry_apimachinery_messages() {
        let error = |s: &str| LabelSelector::parse(s).unwrap_err().to_string();
        assert_eq!(
            error("app=web,"),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            error(","),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            error("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            error("a=b c"),
            "found 'c', expected: ',' or 'end of string'"
        );
        assert_eq!(
            error("a=b=c"),
            "found '=', expected: ',' or 'end of string'"
        );
        assert_eq!(
            error("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            error("a in (b c)"),
            "unable to parse requirement: found 'c', expected: ',' or ')'"
        );
        assert_eq!(
            error("a in (b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            error("a in (="),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(
            error("a>=1"),
            "unable to parse requirement: found '=', expected: identifier"
        );
        assert_eq!(
            error("!=a"),
            "found '!=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            error("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            error("a ! b"),
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            error("a>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(
            error("k=a$b"),
            "unable to parse requirement: values[0][k]: Invalid value: \"a$b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert_eq!(
            error("-k"),
            "unable to parse requirement: <nil>: Invalid value: \"-k\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert!(error("Example.com/k").contains("prefix part a lowercase RFC 1123 subdomain"));
        assert!(error("/k").contains("prefix part must be non-empty"));
        assert!(error("a/b/c").contains("a valid label key must consist of"));
        assert!(error(&"k".repeat(64)).contains("name part must be no more than 63 bytes"));
        assert!(error(&format!("k={}", "v".repeat(64))).contains("must be no more than 63 bytes"));
        let two = error("a>x$");
        assert!(two.starts_with(
            "unable to parse requirement: [values[0]: Invalid value: \"x$\": for 'Gt'"
        ));
        assert!(two.contains(", values[0][a]: Invalid value: \"x$\""));
    }

    #[test]
    fn label_selector_sar_requirements() {
        let selector =
            LabelSelector::parse("b!=2,a=1,c in (y,x),d notin (z),e,!f,g>1,h==3").unwrap();
        let sar = serde_json::to_value(selector.to_sar_requirements()).unwrap();
        assert_eq!(
            sar,
            serde_json::json!([
                {"key":"a","operator":"In","values":["1"]},
                {"key":"b","operator":"NotIn","values":["2"]},
                {"key":"c","operator":"In","values":["x","y"]},
                {"key":"d","operator":"NotIn","values":["z"]},
                {"key":"e","operator":"Exists"},
                {"key":"f","operator":"DoesNotExist"},
                {"key":"h","operator":"In","values":["3"]},
            ])
        );
        assert!(LabelSelector::everything().to_sar_requirements().is_empty());
    }

    #[test]
    fn and_combines_selectors() {
        let request = LabelSelector::parse("app=web").unwrap();
        let node_selector = LabelSelector::parse("metrics-server-skip!=true").unwrap();
        let both = request.and(&node_selector);
        assert!(both.matches(&labels(&[("app", "web")])));
        assert!(!both.matches(&labels(&[("app", "web"), ("metrics-server-skip", "true")])));
        let arc = Arc::new(labels(&[("app", "web")]));
        assert!(both.matches(&arc));
        let slice: &[(&str, &str)] = &[("app", "web")];
        assert!(both.matches(slice));
    }

    #[test]
    fn field_selectors_parse_match_and_escape() {
        let s =
            FieldSelector::parse("metadata.name=web-0,metadata.namespace!=kube-system").unwrap();
        assert!(s.matches("web-0", Some("default")));
        assert!(!s.matches("web-0", Some("kube-system")));
        assert!(!s.matches("web-1", Some("default")));
        assert_eq!(s.exact_match(Field::Name), Some("web-0"));
        assert_eq!(s.exact_match(Field::Namespace), None);

        let node = FieldSelector::parse("metadata.namespace=x").unwrap();
        assert!(!node.matches("n", None), "nodes have no namespace field");
        assert!(
            FieldSelector::parse("metadata.namespace!=x")
                .unwrap()
                .matches("n", None)
        );
        assert!(
            FieldSelector::parse("metadata.namespace=")
                .unwrap()
                .matches("n", None)
        );

        let escaped = FieldSelector::parse(r"metadata.name==a\,b\=c\\d").unwrap();
        assert_eq!(escaped.requirements()[0].value(), r"a,b=c\d");
        assert_eq!(escaped.to_string(), r"metadata.name=a\,b\=c\\d");
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse(",").unwrap().is_empty());
        assert!(FieldSelector::parse("").unwrap().matches("x", None));
    }

    #[test]
    fn field_selector_errors_match_go() {
        let error = |s: &str| FieldSelector::parse(s).unwrap_err().to_string();
        assert_eq!(
            error("spec.nodeName=n1"),
            r#""spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        assert_eq!(
            error("metadata.name"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert_eq!(
            error("metadata.name=a=b"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            error(r"metadata.name=a\x"),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            error(r"metadata.name=a\"),
            r"invalid field selector: invalid escape sequence: \"
        );
        // The left-hand side is not trimmed, as in Go.
        assert!(matches!(
            FieldSelector::parse("metadata.name =a"),
            Err(SelectorError::UnknownField(f)) if f == "metadata.name "
        ));
        assert!(FieldSelector::parse_any_field("spec.nodeName=n1").is_ok());
    }

    #[test]
    fn field_selector_sar_requirements() {
        let s = FieldSelector::parse("metadata.namespace!=b,metadata.name=a").unwrap();
        assert_eq!(
            serde_json::to_value(s.to_sar_requirements()).unwrap(),
            serde_json::json!([
                {"key":"metadata.name","operator":"In","values":["a"]},
                {"key":"metadata.namespace","operator":"NotIn","values":["b"]},
            ])
        );
    }

    fn valid_requirement() -> impl Strategy<Value = String> {
        let key = "[a-z]([a-z0-9.-]{0,8}[a-z0-9])?";
        let value = "[A-Za-z0-9]([A-Za-z0-9_.-]{0,6}[A-Za-z0-9])?";
        (key, value, value, 0..7usize).prop_map(|(k, v1, v2, op)| match op {
            0 => format!("{k}={v1}"),
            1 => format!("{k}=={v1}"),
            2 => format!("{k}!={v1}"),
            3 => format!("{k} in ({v1},{v2})"),
            4 => format!("{k} notin ({v1})"),
            5 => k,
            _ => format!("!{k}"),
        })
    }

    proptest! {
        #[test]
        fn label_parse_never_panics(text in "\\PC{0,60}") {
            let _ = LabelSelector::parse(&text);
        }

        #[test]
        fn label_parse_never_panics_on_selector_like_text(text in "[a-z!=(), <>in]{0,40}") {
            let _ = LabelSelector::parse(&text);
        }

        #[test]
        fn field_parse_never_panics(text in "\\PC{0,60}") {
            let _ = FieldSelector::parse(&text);
        }

        #[test]
        fn valid_selectors_round_trip_through_display(parts in proptest::collection::vec(valid_requirement(), 1..5)) {
            let text = parts.join(",");
            let selector = LabelSelector::parse(&text).unwrap();
            prop_assert_eq!(LabelSelector::parse(&selector.to_string()).unwrap(), selector);
        }

        #[test]
        fn field_values_round_trip_through_display(value in "[a-z,=\\\\]{0,12}") {
            let escaped: String = value.chars().flat_map(|c| {
                if matches!(c, ',' | '=' | '\\') { vec!['\\', c] } else { vec![c] }
            }).collect();
            let selector = FieldSelector::parse(&format!("metadata.name={escaped}")).unwrap();
            prop_assert_eq!(selector.requirements()[0].value(), value.as_str());
            prop_assert_eq!(FieldSelector::parse(&selector.to_string()).unwrap(), selector);
        }
    }
}
