//! Parsing of `/infra/...` policy paths into what they name: a collection, an object, or one of
//! the special resources below an object (statistics, members, adapter reports).
//!
//! ```text
//!  /infra/domains/default/groups[/G[/members/KIND]]
//!  /infra/domains/default/security-policies[/P[/statistics | /rules[/R[/statistics]]
//!                                               | /container-cluster-span[/S]]]
//!  /infra/services[/S]
//!  /infra/sites/default/enforcement-points/default/cluster-control-planes[/status | /C[/REPORT]]
//!  /infra/realized-state/status
//! ```
//!
//! `domains/default`, `sites/default` and `enforcement-points/default` are the only domain,
//! site and enforcement point; they always exist.

/// The kinds of stored objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Group,
    SecurityPolicy,
    Rule,
    Span,
    Service,
    ClusterControlPlane,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Group,
        Kind::SecurityPolicy,
        Kind::Rule,
        Kind::Span,
        Kind::Service,
        Kind::ClusterControlPlane,
    ];

    /// The path segment of the collection (`groups`).
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Group => "groups",
            Kind::SecurityPolicy => "security-policies",
            Kind::Rule => "rules",
            Kind::Span => "container-cluster-span",
            Kind::Service => "services",
            Kind::ClusterControlPlane => "cluster-control-planes",
        }
    }

    /// The NSX `resource_type`.
    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::Group => "Group",
            Kind::SecurityPolicy => "SecurityPolicy",
            Kind::Rule => "Rule",
            Kind::Span => "SecurityPolicyContainerCluster",
            Kind::Service => "Service",
            Kind::ClusterControlPlane => "ClusterControlPlane",
        }
    }

    pub fn from_resource_type(rt: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.resource_type() == rt)
    }
}

/// The only domain.
pub const DOMAIN: &str = "/infra/domains/default";
/// The only enforcement point.
pub const ENFORCEMENT_POINT: &str = "/infra/sites/default/enforcement-points/default";

/// Reports an adapter sends about its cluster, and what it fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// `PUT`/`GET`: Pods, Namespaces, Services, Nodes of the cluster.
    Inventory,
    /// `PUT`/`GET`: effective members of the groups spanning the cluster.
    GroupMembers,
    /// `PUT`/`GET`: realization state of each intent.
    Realization,
    /// `PUT`/`GET`: rule counters.
    Statistics,
    /// `PUT`/`GET`: cluster health (`AntreaClusterInfo`, also the heartbeat).
    Status,
    /// `GET`: the policies, groups and services spanning the cluster.
    DesiredState,
}

impl Report {
    fn parse(s: &str) -> Option<Report> {
        Some(match s {
            "inventory" => Report::Inventory,
            "group-members" => Report::GroupMembers,
            "realization" => Report::Realization,
            "statistics" => Report::Statistics,
            "status" => Report::Status,
            "desired-state" => Report::DesiredState,
            _ => return None,
        })
    }

    pub fn segment(self) -> &'static str {
        match self {
            Report::Inventory => "inventory",
            Report::GroupMembers => "group-members",
            Report::Realization => "realization",
            Report::Statistics => "statistics",
            Report::Status => "status",
            Report::DesiredState => "desired-state",
        }
    }
}

/// What a policy path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/infra` itself.
    Infra,
    /// One of the fixed parents (`/infra/domains/default`, …), or their collection.
    Fixed {
        path: String,
        resource_type: &'static str,
    },
    FixedList {
        path: String,
        resource_type: &'static str,
    },
    Collection {
        kind: Kind,
        parent: String,
    },
    Object {
        kind: Kind,
        parent: String,
        id: String,
    },
    GroupMembers {
        group: String,
        member_kind: String,
    },
    PolicyStatistics {
        policy: String,
    },
    RuleStatistics {
        rule: String,
    },
    ClusterStatusList,
    ClusterReport {
        cluster: String,
        report: Report,
    },
    RealizedStatus,
}

impl Target {
    /// The full object path of an `Object` target.
    pub fn object_path(parent: &str, kind: Kind, id: &str) -> String {
        format!("{parent}/{}/{id}", kind.collection())
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains(['?', '#'])
}

/// Parses `/infra/...` (already percent-decoded).
pub fn parse(path: &str) -> Option<Target> {
    let path = path.trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    if segs.first() != Some(&"infra") {
        return None;
    }
    let rest = &segs[1..];
    Some(match rest {
        [] => Target::Infra,
        ["realized-state", "status"] => Target::RealizedStatus,
        ["domains"] => Target::FixedList {
            path: "/infra/domains".into(),
            resource_type: "Domain",
        },
        ["domains", "default"] => Target::Fixed {
            path: DOMAIN.into(),
            resource_type: "Domain",
        },
        ["domains", "default", tail @ ..] => return parse_domain(tail),
        ["services"] => Target::Collection {
            kind: Kind::Service,
            parent: "/infra".into(),
        },
        ["services", id] if valid_id(id) => Target::Object {
            kind: Kind::Service,
            parent: "/infra".into(),
            id: (*id).into(),
        },
        ["sites"] => Target::FixedList {
            path: "/infra/sites".into(),
            resource_type: "Site",
        },
        ["sites", "default"] => Target::Fixed {
            path: "/infra/sites/default".into(),
            resource_type: "Site",
        },
        ["sites", "default", "enforcement-points"] => Target::FixedList {
            path: "/infra/sites/default/enforcement-points".into(),
            resource_type: "EnforcementPoint",
        },
        ["sites", "default", "enforcement-points", "default"] => Target::Fixed {
            path: ENFORCEMENT_POINT.into(),
            resource_type: "EnforcementPoint",
        },
        [
            "sites",
            "default",
            "enforcement-points",
            "default",
            "cluster-control-planes",
            tail @ ..,
        ] => {
            return parse_clusters(tail);
        }
        _ => return None,
    })
}

fn parse_domain(tail: &[&str]) -> Option<Target> {
    let policies = format!("{DOMAIN}/security-policies");
    Some(match tail {
        ["groups"] => Target::Collection {
            kind: Kind::Group,
            parent: DOMAIN.into(),
        },
        ["groups", id] if valid_id(id) => Target::Object {
            kind: Kind::Group,
            parent: DOMAIN.into(),
            id: (*id).into(),
        },
        ["groups", id, "members", what] if valid_id(id) => Target::GroupMembers {
            group: format!("{DOMAIN}/groups/{id}"),
            member_kind: (*what).into(),
        },
        ["security-policies"] => Target::Collection {
            kind: Kind::SecurityPolicy,
            parent: DOMAIN.into(),
        },
        ["security-policies", id] if valid_id(id) => Target::Object {
            kind: Kind::SecurityPolicy,
            parent: DOMAIN.into(),
            id: (*id).into(),
        },
        ["security-policies", id, "statistics"] if valid_id(id) => Target::PolicyStatistics {
            policy: format!("{policies}/{id}"),
        },
        ["security-policies", p, "rules"] if valid_id(p) => Target::Collection {
            kind: Kind::Rule,
            parent: format!("{policies}/{p}"),
        },
        ["security-policies", p, "rules", r] if valid_id(p) && valid_id(r) => Target::Object {
            kind: Kind::Rule,
            parent: format!("{policies}/{p}"),
            id: (*r).into(),
        },
        ["security-policies", p, "rules", r, "statistics"] if valid_id(p) && valid_id(r) => {
            Target::RuleStatistics {
                rule: format!("{policies}/{p}/rules/{r}"),
            }
        }
        ["security-policies", p, "container-cluster-span"] if valid_id(p) => Target::Collection {
            kind: Kind::Span,
            parent: format!("{policies}/{p}"),
        },
        ["security-policies", p, "container-cluster-span", s] if valid_id(p) && valid_id(s) => {
            Target::Object {
                kind: Kind::Span,
                parent: format!("{policies}/{p}"),
                id: (*s).into(),
            }
        }
        _ => return None,
    })
}

fn parse_clusters(tail: &[&str]) -> Option<Target> {
    let parent = ENFORCEMENT_POINT.to_string();
    Some(match tail {
        [] => Target::Collection {
            kind: Kind::ClusterControlPlane,
            parent,
        },
        ["status"] => Target::ClusterStatusList,
        [id] if valid_id(id) => Target::Object {
            kind: Kind::ClusterControlPlane,
            parent,
            id: (*id).into(),
        },
        [id, report] if valid_id(id) => Target::ClusterReport {
            cluster: (*id).into(),
            report: Report::parse(report)?,
        },
        _ => return None,
    })
}

/// Where the reports of cluster `id` are stored.
pub fn report_root(id: &str) -> String {
    format!("/runtime/cluster-control-planes/{id}")
}

/// Whether `path` is one of the clusters' reports (which never change any cluster's intent).
pub fn is_report_path(path: &str) -> bool {
    path.starts_with("/runtime/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_what_they_address() {
        assert_eq!(
            parse("/infra/domains/default/security-policies/p/rules/r"),
            Some(Target::Object {
                kind: Kind::Rule,
                parent: "/infra/domains/default/security-policies/p".into(),
                id: "r".into()
            })
        );
        assert_eq!(
            parse(
                "/infra/sites/default/enforcement-points/default/cluster-control-planes/c1/statistics"
            ),
            Some(Target::ClusterReport {
                cluster: "c1".into(),
                report: Report::Statistics
            })
        );
        assert_eq!(
            parse("/infra/sites/default/enforcement-points/default/cluster-control-planes/status"),
            Some(Target::ClusterStatusList)
        );
        assert_eq!(parse("/infra/domains/other/groups"), None);
        assert_eq!(parse("/infra/services/"), parse("/infra/services"));
        assert_eq!(parse("/api/v1/x"), None);
    }
}
