//! Pod names by address, as np.log's `appliedToRef` shows them.

/// `namespace/name` of every Pod with its own address, by address (np.log's `appliedToRef`).
pub fn pod_names(
    cluster: &tierwall_engine::cluster::Cluster,
) -> std::collections::BTreeMap<std::net::IpAddr, String> {
    cluster
        .pods
        .values()
        .filter(|p| !p.host_network)
        .filter_map(|p| Some((p.ip?, format!("{}/{}", p.namespace, p.name))))
        .collect()
}
