//! The list options a list or get accepts, validated like the Go apiserver's `ListOptions`:
//! selectors are checked (400 on error), `limit`, `continue` and `resourceVersion` are accepted
//! but ignored (there is no pagination).
//!
//! The options come from the request's one parse ([`RequestInfo::options`]), the same values
//! authorization judged; nothing here reads the query string again.
//!
//! [`RequestInfo::options`]: crate::request_info::RequestInfo::options

use apimachinery::selector::{Field, FieldSelector, LabelSelector};
use apimachinery::status::Status;
use metrics_types::table::IncludeObject;

use generic_apiserver::request_info::ListOptions;

/// The validated list options.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub watch: bool,
    pub pretty: Option<String>,
    pub include_object: IncludeObject,
    /// `timeoutSeconds`: how long a watch lasts.
    pub timeout_seconds: Option<i64>,
    /// `allowWatchBookmarks=true`.
    pub allow_watch_bookmarks: bool,
}

impl ListQuery {
    /// Validates decoded options for a resource whose objects have `fields` (pods add
    /// `spec.nodeName`); a bad value gives the 400 `Status` to answer with.
    pub fn from_options(options: &ListOptions, fields: &[Field]) -> Result<ListQuery, Status> {
        let bad_request = |e: &dyn std::fmt::Display| Status::bad_request(e.to_string());
        let label_selector = match options.label_selector.as_deref() {
            Some(raw) => LabelSelector::parse(raw).map_err(|e| bad_request(&e))?,
            None => LabelSelector::default(),
        };
        let field_selector = match options.field_selector.as_deref() {
            Some(raw) => FieldSelector::parse_for(raw, fields).map_err(|e| bad_request(&e))?,
            None => FieldSelector::default(),
        };
        let include_object = match options.include_object.as_deref() {
            Some(raw) => IncludeObject::parse(Some(raw)).map_err(|e| bad_request(&e))?,
            None => IncludeObject::default(),
        };
        for (key, value) in [
            ("limit", &options.limit),
            ("timeoutSeconds", &options.timeout_seconds),
        ] {
            if let Some(value) = value.as_deref()
                && value.parse::<i64>().is_err()
            {
                return Err(Status::bad_request(format!(
                    "unable to parse {key}: strconv.ParseInt: parsing \"{value}\": invalid syntax"
                )));
            }
        }
        if options
            .resource_version_match
            .as_deref()
            .is_some_and(|m| !m.is_empty())
            && options.resource_version.as_deref().unwrap_or("").is_empty()
        {
            return Err(Status::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        Ok(ListQuery {
            label_selector,
            field_selector,
            watch: options.watch,
            pretty: options.pretty.clone(),
            include_object,
            // Checked above: a present value parses.
            timeout_seconds: options
                .timeout_seconds
                .as_deref()
                .and_then(|value| value.parse().ok()),
            // Go's strconv.ParseBool.
            allow_watch_bookmarks: matches!(
                options.allow_watch_bookmarks.as_deref(),
                Some("1" | "t" | "T" | "true" | "TRUE" | "True")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests start from a raw query, as requests do.
    impl ListQuery {
        /// As a pod list parses it.
        fn parse(raw: Option<&str>) -> Result<ListQuery, Status> {
            ListQuery::from_options(&ListOptions::from_query(raw.unwrap_or("")), Field::POD)
        }

        /// As a node list parses it.
        fn parse_for_nodes(raw: &str) -> Result<ListQuery, Status> {
            ListQuery::from_options(&ListOptions::from_query(raw), Field::METADATA)
        }
    }

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
            "fieldSelector=status.phase%3DRunning",
            "limit=ten",
            "includeObject=All",
        ] {
            let status = ListQuery::parse(Some(raw)).unwrap_err();
            assert_eq!(status.code, 400, "{raw}");
        }
        assert!(ListQuery::parse(Some("fieldSelector=spec.nodeName%3Dn1")).is_ok());
        let status = ListQuery::parse_for_nodes("fieldSelector=spec.nodeName%3Dn1").unwrap_err();
        assert_eq!(
            status.message,
            "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
    }

    #[test]
    fn repeated_parameters_use_the_first_value() {
        let query = ListQuery::parse(Some(
            "fieldSelector=metadata.name%3Dgranted&fieldSelector=&labelSelector=a%3Db&labelSelector=",
        ))
        .unwrap();
        assert_eq!(query.field_selector.requirements().len(), 1);
        assert_eq!(query.label_selector.requirements().len(), 1);
        // A valid first value is not spoiled by a bad later one, as in Go.
        assert!(ListQuery::parse(Some("limit=5&limit=x")).is_ok());
        assert_eq!(
            ListQuery::parse(Some("limit=x&limit=5")).unwrap_err().code,
            400
        );
    }

    #[test]
    fn watch_forms() {
        assert!(ListQuery::parse(Some("watch=true")).unwrap().watch);
        assert!(ListQuery::parse(Some("watch")).unwrap().watch);
        assert!(!ListQuery::parse(Some("watch=false")).unwrap().watch);
        assert!(ListQuery::parse(Some("watch=yes")).unwrap().watch);
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
