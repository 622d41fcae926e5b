//! Field selectors: `fields.ParseSelector` plus metrics-server's field label conversion.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::Serialize;

use super::SelectorError;

/// The fields metrics-server can select on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `metadata.name`
    Name,
    /// `metadata.namespace`
    Namespace,
    /// `spec.nodeName` (pods only): the node the API server bound the pod to.
    NodeName,
}

impl Field {
    /// The fields of every object: what upstream metrics-server accepts.
    pub const METADATA: &'static [Field] = &[Field::Name, Field::Namespace];
    /// The fields of a pod: the metadata plus `spec.nodeName`.
    pub const POD: &'static [Field] = &[Field::Name, Field::Namespace, Field::NodeName];

    /// The field path as written in selectors.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "metadata.name",
            Field::Namespace => "metadata.namespace",
            Field::NodeName => "spec.nodeName",
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
        FieldSelector::parse_for(selector, Field::METADATA)
    }

    /// Parses a field selector and rejects fields outside `fields` (for pods,
    /// [`Field::POD`] adds `spec.nodeName`).
    pub fn parse_for(selector: &str, fields: &[Field]) -> Result<FieldSelector, SelectorError> {
        let parsed = FieldSelector::parse_any_field(selector)?;
        if let Some(unknown) = parsed
            .requirements
            .iter()
            .find(|r| !fields.iter().any(|known| r.field == known.as_str()))
        {
            return Err(SelectorError::UnknownField {
                field: unknown.field.clone(),
                known: fields
                    .iter()
                    .map(|known| format!("\"{}\"", known.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
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
        self.matches_pod(name, namespace, None)
    }

    /// Whether a pod matches; `node_name` is its `spec.nodeName` (`None`: not bound, `""`).
    pub fn matches_pod(
        &self,
        name: &str,
        namespace: Option<&str>,
        node_name: Option<&str>,
    ) -> bool {
        self.requirements.iter().all(|r| {
            let actual = match r.field.as_str() {
                "metadata.name" => name,
                "metadata.namespace" => namespace.unwrap_or(""),
                "spec.nodeName" => node_name.unwrap_or(""),
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
            Err(SelectorError::UnknownField { field, .. }) if field == "metadata.name "
        ));
        assert!(FieldSelector::parse_any_field("spec.nodeName=n1").is_ok());
    }

    #[test]
    fn spec_node_name_is_a_pod_field_only() {
        assert_eq!(
            FieldSelector::parse("spec.nodeName=n1")
                .unwrap_err()
                .to_string(),
            r#""spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        assert_eq!(
            FieldSelector::parse_for("status.phase=Running", Field::POD)
                .unwrap_err()
                .to_string(),
            r#""status.phase" is not a known field selector: only "metadata.name", "metadata.namespace", "spec.nodeName""#
        );
        let on_node = FieldSelector::parse_for(
            "spec.nodeName=n1,metadata.namespace!=kube-system",
            Field::POD,
        )
        .unwrap();
        assert!(on_node.matches_pod("p", Some("default"), Some("n1")));
        assert!(!on_node.matches_pod("p", Some("default"), Some("n2")));
        assert!(!on_node.matches_pod("p", Some("kube-system"), Some("n1")));
        assert!(
            !on_node.matches_pod("p", Some("default"), None),
            "an unbound pod is on no node"
        );
        let unbound = FieldSelector::parse_for("spec.nodeName=", Field::POD).unwrap();
        assert!(unbound.matches_pod("p", Some("default"), None));
        let off_node = FieldSelector::parse_for("spec.nodeName!=n1", Field::POD).unwrap();
        assert!(off_node.matches_pod("p", Some("default"), Some("n2")));
        assert!(!off_node.matches_pod("p", Some("default"), Some("n1")));
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

    proptest! {
        #[test]
        fn field_parse_never_panics(text in "\\PC{0,60}") {
            let _ = FieldSelector::parse(&text);
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
