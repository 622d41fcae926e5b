//! SubjectAccessReview (authorization.k8s.io/v1) for everything not allowed outright,
//! with allowed and denied answers cached separately (`--authorization-webhook-cache-*-ttl`).

use std::sync::Arc;
use std::time::Duration;

use apimachinery::selector::{FieldSelector, LabelSelector};
use k8s_openapi::api::authorization::v1::{
    FieldSelectorAttributes, LabelSelectorAttributes, NonResourceAttributes, ResourceAttributes,
    SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    FieldSelectorRequirement, LabelSelectorRequirement,
};
use sha2::{Digest, Sha256};

use crate::authn::UserInfo;
use crate::delegated::{DecisionCache, DelegatedCheckError, ReviewClient};
use crate::metrics::{Review, SecurityMetrics};
use crate::request_info::RequestInfo;

const SUBJECT_ACCESS_REVIEW_PATH: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// The kube-apiserver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    /// The reason (often empty) ends up in the 403 message.
    Denied(String),
}

/// Settings of the SubjectAccessReview authorizer.
#[derive(Debug, Clone)]
pub(crate) struct ReviewSettings {
    pub(crate) allowed_ttl: Duration,
    pub(crate) denied_ttl: Duration,
    pub(crate) cache_capacity: u64,
    pub(crate) timeout: Duration,
}

/// Asks the kube-apiserver whether a user may do something.
pub(crate) struct AccessReviewer {
    reviews: ReviewClient,
    cache: DecisionCache<[u8; 32], Verdict>,
    settings: ReviewSettings,
    metrics: Arc<SecurityMetrics>,
}

impl std::fmt::Debug for AccessReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessReviewer")
            .field("settings", &self.settings)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl AccessReviewer {
    pub(crate) fn new(
        client: kube::Client,
        settings: ReviewSettings,
        metrics: Arc<SecurityMetrics>,
    ) -> Self {
        AccessReviewer {
            reviews: ReviewClient::new(client, settings.timeout, metrics.clone(), Review::Access),
            cache: DecisionCache::new(
                settings.cache_capacity,
                settings.allowed_ttl.max(settings.denied_ttl),
            ),
            settings,
            metrics,
        }
    }

    pub(crate) async fn review(
        &self,
        user: &UserInfo,
        request: &RequestInfo,
    ) -> Result<Verdict, DelegatedCheckError> {
        let spec = review_spec(user, request);
        // The spec says everything the answer depends on, so it is the key (hashed to keep entries small).
        let key: [u8; 32] = Sha256::digest(
            serde_json::to_vec(&spec).map_err(|e| DelegatedCheckError::Decode(e.to_string()))?,
        )
        .into();
        let (allowed_ttl, denied_ttl) = (self.settings.allowed_ttl, self.settings.denied_ttl);
        let ttl = move |verdict: &Verdict| match verdict {
            Verdict::Allowed => allowed_ttl,
            Verdict::Denied(_) => denied_ttl,
        };
        let (verdict, hit) = self.cache.get_or_fetch(key, ttl, self.ask(spec)).await;
        self.metrics.cache_lookup(Review::Access, hit);
        verdict
    }

    async fn ask(&self, spec: SubjectAccessReviewSpec) -> Result<Verdict, DelegatedCheckError> {
        let request = SubjectAccessReview {
            spec,
            ..SubjectAccessReview::default()
        };
        let answer: SubjectAccessReview = self
            .reviews
            .post(SUBJECT_ACCESS_REVIEW_PATH, &request)
            .await?;
        let status = answer.status.unwrap_or_default();
        // An explicit deny wins over a (contradictory) allow, as in Go.
        Ok(if status.allowed && status.denied != Some(true) {
            Verdict::Allowed
        } else {
            Verdict::Denied(status.reason.unwrap_or_default())
        })
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The SAR spec for `user` doing `request` (Go's `webhook.SubjectAccessReviewSpec` shape).
pub(crate) fn review_spec(user: &UserInfo, request: &RequestInfo) -> SubjectAccessReviewSpec {
    let (resource_attributes, non_resource_attributes) = if request.is_resource_request {
        let attributes = ResourceAttributes {
            namespace: non_empty(&request.namespace),
            verb: non_empty(&request.verb),
            group: non_empty(&request.api_group),
            version: non_empty(&request.api_version),
            resource: non_empty(&request.resource),
            subresource: non_empty(&request.subresource),
            name: non_empty(&request.name),
            field_selector: field_selector_attributes(request.field_selector()),
            label_selector: label_selector_attributes(request.label_selector()),
        };
        (Some(attributes), None)
    } else {
        let attributes = NonResourceAttributes {
            path: non_empty(&request.path),
            verb: non_empty(&request.verb),
        };
        (None, Some(attributes))
    };
    SubjectAccessReviewSpec {
        resource_attributes,
        non_resource_attributes,
        user: non_empty(&user.name),
        groups: (!user.groups.is_empty()).then(|| user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
        uid: non_empty(&user.uid),
    }
}

/// Only `requirements` are sent, never `rawSelector`; an unparsable or empty selector
/// sends nothing (the handler answers 400 for it after authorization), as in Go.
fn label_selector_attributes(raw: &str) -> Option<LabelSelectorAttributes> {
    let requirements: Vec<LabelSelectorRequirement> = LabelSelector::parse(raw)
        .ok()?
        .to_sar_requirements()
        .into_iter()
        .map(|requirement| LabelSelectorRequirement {
            key: requirement.key,
            operator: requirement.operator.to_owned(),
            values: (!requirement.values.is_empty()).then_some(requirement.values),
        })
        .collect();
    (!requirements.is_empty()).then_some(LabelSelectorAttributes {
        raw_selector: None,
        requirements: Some(requirements),
    })
}

/// See [`label_selector_attributes`].
fn field_selector_attributes(raw: &str) -> Option<FieldSelectorAttributes> {
    let requirements: Vec<FieldSelectorRequirement> = FieldSelector::parse_any_field(raw)
        .ok()?
        .to_sar_requirements()
        .into_iter()
        .map(|requirement| FieldSelectorRequirement {
            key: requirement.key,
            operator: requirement.operator.to_owned(),
            values: (!requirement.values.is_empty()).then_some(requirement.values),
        })
        .collect();
    (!requirements.is_empty()).then_some(FieldSelectorAttributes {
        raw_selector: None,
        requirements: Some(requirements),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use http::{Method, Uri};

    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn request(uri: &str) -> RequestInfo {
        RequestInfo::from_parts(&Method::GET, &uri.parse::<Uri>().unwrap()).unwrap()
    }

    #[test]
    fn resource_spec_matches_the_fixture() {
        let user = UserInfo {
            name: "system:serviceaccount:monitoring:grafana".into(),
            uid: "4d2b8f0e-91c3-4a57-b6e2-3f8a1c9d7e20".into(),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:monitoring".into(),
                "system:authenticated".into(),
            ],
            extra: serde_json::from_value::<BTreeMap<String, Vec<String>>>(
                fixture("subjectaccessreview-request-resource.json")["spec"]["extra"].clone(),
            )
            .unwrap(),
        };
        let spec = review_spec(
            &user,
            &request(
                "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb",
            ),
        );
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            fixture("subjectaccessreview-request-resource.json")["spec"]
        );
    }

    #[test]
    fn non_resource_spec_matches_the_fixture() {
        let user = UserInfo {
            name: "system:kube-aggregator".into(),
            groups: vec!["system:authenticated".into()],
            ..UserInfo::default()
        };
        let spec = review_spec(&user, &request("/apis/metrics.k8s.io/v1beta1"));
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            fixture("subjectaccessreview-request-nonresource.json")["spec"]
        );
    }

    #[test]
    fn selectors_become_requirements_and_bad_ones_are_left_out() {
        let user = UserInfo::default();
        let spec = review_spec(
            &user,
            &request(
                "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=tier%20in%20(web,db),!canary&fieldSelector=metadata.namespace!%3Dkube-system",
            ),
        );
        let attributes = serde_json::to_value(spec.resource_attributes.unwrap()).unwrap();
        assert_eq!(
            attributes["labelSelector"],
            serde_json::json!({"requirements": [
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "tier", "operator": "In", "values": ["db", "web"]},
            ]})
        );
        assert_eq!(
            attributes["fieldSelector"],
            serde_json::json!({"requirements": [{"key": "metadata.namespace", "operator": "NotIn", "values": ["kube-system"]}]})
        );
        let bad = review_spec(
            &user,
            &request("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a%20in&fieldSelector=x"),
        );
        let attributes = bad.resource_attributes.unwrap();
        assert!(attributes.label_selector.is_none() && attributes.field_selector.is_none());
    }

    #[test]
    fn denied_fixture_spec_round_trips() {
        let user = UserInfo {
            name: "alice".into(),
            groups: vec!["developers".into(), "system:authenticated".into()],
            extra: BTreeMap::from([(
                "authentication.kubernetes.io/credential-id".to_owned(),
                vec![
                    "X509SHA256=3f9a1c7e5b2d8f4a6c0e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a"
                        .to_owned(),
                ],
            )]),
            ..UserInfo::default()
        };
        let spec = review_spec(
            &user,
            &request("/apis/metrics.k8s.io/v1beta1/nodes/worker-1"),
        );
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            fixture("subjectaccessreview-response-denied.json")["spec"]
        );
    }
}
