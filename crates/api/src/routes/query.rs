//! The query parameters a list or get accepts, parsed and validated like the Go apiserver's
//! `ListOptions`: selectors are checked (400 on error), `watch` is refused, and `limit`,
//! `continue` and `resourceVersion` are accepted but ignored (there is no pagination).

use metrics_types::selector::{FieldSelector, LabelSelector};
use metrics_types::status::Status;
use metrics_types::table::IncludeObject;

use crate::percent;

/// The decoded query string.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub watch: bool,
    pub pretty: Option<String>,
    pub include_object: IncludeObject,
}

impl ListQuery {
    /// Parses a raw query string; a bad value gives the 400 `Status` to answer with.
    pub fn parse(raw: Option<&str>) -> Result<ListQuery, Status> {
        let mut query = ListQuery::default();
        let mut resource_version = None;
        let mut resource_version_match = None;
        for (key, value) in percent::query_pairs(raw.unwrap_or("")) {
            match key.as_str() {
                "labelSelector" => {
                    query.label_selector = LabelSelector::parse(&value)
                        .map_err(|e| Status::bad_request(e.to_string()))?;
                }
                "fieldSelector" => {
                    query.field_selector = FieldSelector::parse(&value)
                        .map_err(|e| Status::bad_request(e.to_string()))?;
                }
                // `?watch` with no value means true, as Go converts an empty query value.
                "watch" => {
                    query.watch = matches!(
                        value.as_str(),
                        "" | "true" | "1" | "t" | "T" | "TRUE" | "True"
                    )
                }
                "pretty" => query.pretty = Some(value),
                "includeObject" => {
                    query.include_object = IncludeObject::parse(Some(&value))
                        .map_err(|e| Status::bad_request(e.to_string()))?;
                }
                "resourceVersion" => resource_version = Some(value),
                "resourceVersionMatch" => resource_version_match = Some(value),
                "limit" | "timeoutSeconds" if value.parse::<i64>().is_err() => {
                    return Err(Status::bad_request(format!(
                        "unable to parse {key}: strconv.ParseInt: parsing \"{value}\": invalid syntax"
                    )));
                }
                _ => {}
            }
        }
        if resource_version_match.is_some_and(|m| !m.is_empty())
            && resource_version.as_deref().unwrap_or("").is_empty()
        {
            return Err(Status::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_decoded_and_parsed() {
        let query = ListQuery::parse(Some("labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&fieldSelector=metadata.name%3Dx&limit=500")).unwrap();
        assert_eq!(query.label_selector.requirements().len(), 2);
        assert_eq!(query.field_selector.requirements().len(), 1);
        assert!(!query.watch);
    }

    #[test]
    fn bad_selectors_are_bad_requests() {
        for raw in [
            "labelSelector=a+in+%28",
            "fieldSelector=spec.nodeName%3Dn1",
            "limit=ten",
            "includeObject=All",
        ] {
            let status = ListQuery::parse(Some(raw)).unwrap_err();
            assert_eq!(status.code, 400, "{raw}");
        }
        let status = ListQuery::parse(Some("fieldSelector=spec.nodeName%3Dn1")).unwrap_err();
        assert_eq!(
            status.message,
            "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
    }

    #[test]
    fn watch_forms() {
        assert!(ListQuery::parse(Some("watch=true")).unwrap().watch);
        assert!(ListQuery::parse(Some("watch")).unwrap().watch);
        assert!(!ListQuery::parse(Some("watch=false")).unwrap().watch);
    }

    #[test]
    fn resource_version_match_needs_a_resource_version() {
        assert_eq!(
            ListQuery::parse(Some("resourceVersionMatch=NotOlderThan"))
                .unwrap_err()
                .code,
            400
        );
        assert!(
            ListQuery::parse(Some("resourceVersion=0&resourceVersionMatch=NotOlderThan")).is_ok()
        );
    }
}
