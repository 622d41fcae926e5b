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
//!
//! Files: [`label`] (selector, requirements, matching), `label_parse` (lexer and parser),
//! `validation` (key and value rules with Go's error texts), [`field`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::goquote::quote;

pub mod field;
pub mod label;
mod label_parse;
mod validation;

pub use field::{Field, FieldOperator, FieldRequirement, FieldSelector, SarFieldRequirement};
pub use label::{LabelOperator, LabelRequirement, LabelSelector, SarLabelRequirement};

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
    #[error("{} is not a known field selector: only {known}", quote(field))]
    UnknownField {
        /// The field asked for.
        field: String,
        /// The fields the resource knows, quoted and comma-separated.
        known: String,
    },
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
