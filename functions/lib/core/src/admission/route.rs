//! Routing: which configured workspaces a change concerns.

use std::collections::BTreeMap;

use super::tag_route::{TagChange, filter_admits};
use crate::config::WorkspaceRoute;
use crate::model::{CheckRef, ResourceTags};

/// Services whose API is global: CloudTrail records their calls in us-east-1
/// whatever region the workspace manages, so region filters do not apply to them.
const GLOBAL_SERVICES: &[&str] = &[
    "iam",
    "organizations",
    "cloudfront",
    "route53",
    "globalaccelerator",
];

/// What routing looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteKey<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    /// Short name, e.g. `ec2`.
    pub service: &'a str,
    /// Tags the request shows (empty when it shows none).
    pub tags: &'a BTreeMap<String, String>,
    /// The tag keys the call changes (their old values are not in the record).
    pub tag_change: &'a TagChange,
    /// The touched resources' current tags, when they were looked up.
    pub current_tags: &'a ResourceTags,
}

/// Workspaces whose filters all match, in configuration order, without duplicates.
pub fn matching_checks(routes: &[WorkspaceRoute], key: &RouteKey<'_>) -> Vec<CheckRef> {
    let mut checks: Vec<CheckRef> = Vec::new();
    for route in routes.iter().filter(|route| matches(route, key)) {
        let check = route.check_ref();
        if !checks.contains(&check) {
            checks.push(check);
        }
    }
    checks
}

fn matches(route: &WorkspaceRoute, key: &RouteKey<'_>) -> bool {
    let any_or = |allowed: &[String], value: &str| {
        allowed.is_empty() || allowed.iter().any(|a| a.trim() == value)
    };
    let region_applies = !GLOBAL_SERVICES.contains(&key.service);
    let services_match = route.services.is_empty()
        || route
            .services
            .iter()
            .any(|s| s.trim().eq_ignore_ascii_case(key.service));
    // A route with tag filters takes a change unless it is known that the
    // resource carries (and, for a retag, carried) other values.
    let tags_match = route.tags.iter().all(|(name, value)| {
        filter_admits(name, value, key.tags, key.tag_change, key.current_tags)
    });
    any_or(&route.accounts, key.account_id)
        && (!region_applies || any_or(&route.regions, key.region))
        && services_match
        && tags_match
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IgnoreRules;

    fn route(workspace: &str) -> WorkspaceRoute {
        WorkspaceRoute {
            organization: "acme".into(),
            workspace: workspace.into(),
            accounts: vec![],
            regions: vec![],
            services: vec![],
            tags: BTreeMap::new(),
            ignore: IgnoreRules::default(),
            slack: Default::default(),
        }
    }

    static NO_RESOURCES: ResourceTags = ResourceTags::Known(Vec::new());

    fn key<'a>(
        service: &'a str,
        region: &'a str,
        tags: &'a BTreeMap<String, String>,
    ) -> RouteKey<'a> {
        RouteKey {
            account_id: "111122223333",
            region,
            service,
            tags,
            tag_change: &TagChange::None,
            current_tags: &NO_RESOURCES,
        }
    }

    #[test]
    fn filters_select_routes_in_order_without_duplicates() {
        let no_tags = BTreeMap::new();
        let mut network = route("network");
        network.services = vec!["ec2".into()];
        network.regions = vec!["eu-west-1".into()];
        let mut other_account = route("other");
        other_account.accounts = vec!["999999999999".into()];
        let routes = vec![route("all"), network, other_account, route("all")];

        let names =
            |checks: Vec<CheckRef>| checks.into_iter().map(|c| c.workspace).collect::<Vec<_>>();
        assert_eq!(
            names(matching_checks(&routes, &key("ec2", "eu-west-1", &no_tags))),
            vec!["all", "network"]
        );
        assert_eq!(
            names(matching_checks(&routes, &key("ec2", "us-east-1", &no_tags))),
            vec!["all"]
        );
        assert_eq!(
            names(matching_checks(&routes, &key("s3", "eu-west-1", &no_tags))),
            vec!["all"]
        );
    }

    #[test]
    fn region_filters_do_not_apply_to_global_services() {
        let no_tags = BTreeMap::new();
        let mut eu = route("eu");
        eu.regions = vec!["eu-west-1".into()];
        assert_eq!(
            matching_checks(&[eu.clone()], &key("iam", "us-east-1", &no_tags)).len(),
            1
        );
        assert!(matching_checks(&[eu], &key("ec2", "us-east-1", &no_tags)).is_empty());
    }

    /// A modifying call shows no tags (issue 22 item 2): the resource's current
    /// tags, looked up, decide; unknown tags never drop the change.
    #[test]
    fn tag_filters_read_the_resources_current_tags() {
        let mut prod = route("prod");
        prod.tags.insert("env".into(), "prod".into());
        let routes = vec![prod];
        let none = BTreeMap::new();
        let with = |current: &ResourceTags, change: &TagChange| {
            matching_checks(
                &routes,
                &RouteKey {
                    tag_change: change,
                    current_tags: current,
                    ..key("ec2", "eu-west-1", &none)
                },
            )
            .len()
        };
        let prod_now = ResourceTags::Known(vec![BTreeMap::from([(
            "env".to_string(),
            "prod".to_string(),
        )])]);
        let dev_now = ResourceTags::Known(vec![BTreeMap::from([(
            "env".to_string(),
            "dev".to_string(),
        )])]);
        assert_eq!(with(&prod_now, &TagChange::None), 1);
        assert_eq!(with(&dev_now, &TagChange::None), 0);
        assert_eq!(with(&ResourceTags::Unknown, &TagChange::None), 1);
        // `CreateTags env=dev` on a prod resource: its old route still checks it.
        let retag = TagChange::Keys(["env".to_string()].into());
        assert_eq!(with(&dev_now, &retag), 1);
    }

    #[test]
    fn tag_filters_need_every_tag_shown() {
        let mut prod = route("prod");
        prod.tags.insert("env".into(), "prod".into());
        let routes = vec![prod];
        let none = BTreeMap::new();
        let dev = BTreeMap::from([("env".to_string(), "dev".to_string())]);
        let prod_tags = BTreeMap::from([
            ("env".to_string(), "prod".to_string()),
            ("x".to_string(), "y".to_string()),
        ]);
        assert!(matching_checks(&routes, &key("ec2", "eu-west-1", &none)).is_empty());
        assert!(matching_checks(&routes, &key("ec2", "eu-west-1", &dev)).is_empty());
        assert_eq!(
            matching_checks(&routes, &key("ec2", "eu-west-1", &prod_tags)).len(),
            1
        );
    }
}
