//! `FeatureGates`: the Antrea feature gates that change what admission accepts, read by the
//! policy and Tier checks.

/// Feature gates that change admission. Both are off by default in Antrea (and in tierwall,
/// which does not enforce layer-7 rules).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureGates {
    /// `L7NetworkPolicy`: allows `l7Protocols` in rules.
    pub l7_network_policy: bool,
    /// `ClusterNetworkPolicy` (upstream v1alpha2 CNP): reserves Tier priority 220.
    pub cluster_network_policy: bool,
}
