//! Label selectors: requirements, matching, Go's `String()` and the SubjectAccessReview form.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::Serialize;

use super::label_parse;
use super::{LabelSource, SelectorError};

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
    pub(super) key: String,
    pub(super) operator: LabelOperator,
    /// Sorted and de-duplicated, as Go's string set lists them.
    pub(super) values: Vec<String>,
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
        let mut requirements = label_parse::parse(selector).map_err(SelectorError::Label)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

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
        fn valid_selectors_round_trip_through_display(parts in proptest::collection::vec(valid_requirement(), 1..5)) {
            let text = parts.join(",");
            let selector = LabelSelector::parse(&text).unwrap();
            prop_assert_eq!(LabelSelector::parse(&selector.to_string()).unwrap(), selector);
        }
    }
}
