//! The URL paths of the NSX Policy API the clients read and write, and the policy paths
//! (without `/policy/api/v1`) by which objects name each other.

use crate::json_call::encode_query_value;

/// `/policy/api/v1/infra`: services, realized state.
pub const INFRA: &str = "/policy/api/v1/infra";
/// The default domain: groups and security policies.
pub const DOMAIN: &str = "/policy/api/v1/infra/domains/default";
/// The API prefix of every cluster-control-plane.
pub const CLUSTER_CONTROL_PLANES: &str =
    "/policy/api/v1/infra/sites/default/enforcement-points/default/cluster-control-planes";
/// The policy path prefix of cluster-control-planes, as spans and statistics name them.
pub const CLUSTER_POLICY_PATH_PREFIX: &str =
    "/infra/sites/default/enforcement-points/default/cluster-control-planes/";

/// `…/domains/default/groups`.
pub fn groups() -> String {
    format!("{DOMAIN}/groups")
}

/// `…/infra/services`.
pub fn services() -> String {
    format!("{INFRA}/services")
}

/// `…/domains/default/security-policies`.
pub fn security_policies() -> String {
    format!("{DOMAIN}/security-policies")
}

/// `…/security-policies/{id}`.
pub fn security_policy(id: &str) -> String {
    format!("{DOMAIN}/security-policies/{id}")
}

/// `…/security-policies/{id}/container-cluster-span`.
pub fn container_cluster_span(policy_id: &str) -> String {
    format!("{}/container-cluster-span", security_policy(policy_id))
}

/// `…/security-policies/{id}/statistics`, of one cluster when `cluster_id` is given.
pub fn security_policy_statistics(policy_id: &str, cluster_id: Option<&str>) -> String {
    let mut path = format!("{}/statistics", security_policy(policy_id));
    if let Some(c) = cluster_id {
        path.push_str("?container_cluster_path=");
        path.push_str(&encode_query_value(&format!(
            "{CLUSTER_POLICY_PATH_PREFIX}{c}"
        )));
    }
    path
}

/// `…/realized-state/status?intent_path=P`: the consolidated realized state of one intent.
pub fn realized_state_status(intent_path: &str) -> String {
    format!(
        "{INFRA}/realized-state/status?intent_path={}",
        encode_query_value(intent_path)
    )
}

/// `…/cluster-control-planes/{id}`.
pub fn cluster_control_plane(cluster_id: &str) -> String {
    format!("{CLUSTER_CONTROL_PLANES}/{cluster_id}")
}

/// `…/cluster-control-planes/status`: the last heartbeat of every cluster.
pub fn cluster_control_plane_statuses() -> String {
    format!("{CLUSTER_CONTROL_PLANES}/status")
}

/// `…/cluster-control-planes/{id}/{segment}` (a report: `inventory`, `realization`, ...).
pub fn cluster_report(cluster_id: &str, segment: &str) -> String {
    format!("{}/{segment}", cluster_control_plane(cluster_id))
}

/// The last segment of a path (a policy path's id).
pub fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
