//! `--authorization-always-allow-paths` (apiserver `pkg/authorization/path`): exact matches,
//! or prefixes for entries ending in `*`; only non-resource requests qualify.

use std::collections::HashSet;

use crate::error::SecurityError;

/// The paths that skip the SubjectAccessReview.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlwaysAllowPaths {
    /// Without the leading `/`.
    exact: HashSet<String>,
    /// Without the leading `/` and the trailing `*`.
    prefixes: Vec<String>,
}

impl AlwaysAllowPaths {
    /// Parses the flag values; a `*` anywhere but at the end is an error.
    pub(crate) fn new(paths: &[String]) -> Result<AlwaysAllowPaths, SecurityError> {
        let mut allowed = AlwaysAllowPaths::default();
        for path in paths {
            let trimmed = path.strip_prefix('/').unwrap_or(path);
            match trimmed.find('*') {
                None => {
                    allowed.exact.insert(trimmed.to_owned());
                }
                Some(star) if star + 1 == trimmed.len() => {
                    allowed.prefixes.push(trimmed[..star].to_owned())
                }
                Some(_) => return Err(SecurityError::AlwaysAllowPath(path.clone())),
            }
        }
        Ok(allowed)
    }

    /// Whether the (decoded) request path is always allowed.
    pub(crate) fn allows(&self, path: &str) -> bool {
        let path = path.strip_prefix('/').unwrap_or(path);
        self.exact.contains(path)
            || self
                .prefixes
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> AlwaysAllowPaths {
        AlwaysAllowPaths::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn defaults_match_exactly() {
        let allowed = paths(&["/healthz", "/readyz", "/livez"]);
        assert!(allowed.allows("/healthz"));
        assert!(allowed.allows("/livez"));
        assert!(!allowed.allows("/readyz/ping"));
        assert!(!allowed.allows("/livez/etcd"));
        assert!(!allowed.allows("/metrics"));
        assert!(!allowed.allows("/healthzx"));
    }

    #[test]
    fn trailing_star_matches_a_prefix() {
        let allowed = paths(&["/readyz*", "/debug/*"]);
        assert!(allowed.allows("/readyz"));
        assert!(allowed.allows("/readyz/ping"));
        assert!(allowed.allows("/debug/pprof/heap"));
        assert!(!allowed.allows("/debug"));
        assert!(!allowed.allows("/livez"));
    }

    #[test]
    fn star_elsewhere_is_rejected() {
        assert!(AlwaysAllowPaths::new(&["/a*/b".to_owned()]).is_err());
        assert!(AlwaysAllowPaths::new(&["**".to_owned()]).is_err());
    }

    #[test]
    fn a_lone_star_allows_everything() {
        assert!(paths(&["*"]).allows("/anything"));
        assert!(paths(&["/*"]).allows("/"));
    }
}
