//! The authenticated identity handed to authorization and to handlers.

use std::collections::BTreeMap;

/// User name of requests without credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// Group of requests without credentials.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// Group added to every successfully authenticated user.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Extra key naming the credential used (`X509SHA256=<hex>` for client certificates).
pub const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";

/// Who made a request: Go's `user.Info`. Inserted into every authorized request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name, e.g. `system:serviceaccount:monitoring:grafana`.
    pub name: String,
    /// Unique id, empty when unknown.
    pub uid: String,
    /// Groups, in the order the authenticator produced them.
    pub groups: Vec<String>,
    /// Additional attributes (lower-case keys for front-proxy users).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: ANONYMOUS_USER.to_owned(),
            groups: vec![UNAUTHENTICATED_GROUP.to_owned()],
            ..UserInfo::default()
        }
    }

    /// Appends `system:authenticated` unless already present (`group.AuthenticatedGroupAdder`).
    pub(crate) fn with_authenticated_group(mut self) -> UserInfo {
        if !self.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            self.groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticated_group_is_added_once() {
        let user = UserInfo {
            name: "alice".into(),
            groups: vec!["dev".into()],
            ..UserInfo::default()
        }
        .with_authenticated_group()
        .with_authenticated_group();
        assert_eq!(user.groups, vec!["dev", AUTHENTICATED_GROUP]);
    }

    #[test]
    fn anonymous_is_unauthenticated() {
        let user = UserInfo::anonymous();
        assert_eq!(
            (user.name.as_str(), user.groups.as_slice()),
            (ANONYMOUS_USER, &[UNAUTHENTICATED_GROUP.to_owned()][..])
        );
    }
}
