//! Validation of Groups and Security Policies that span Antrea clusters (the constraints of the
//! "Security Policy Features Supported / Not Supported for Antrea Kubernetes Clusters" lists), with
//! errors that name the offending field (`rules[2].services[0]`) and render as the NSX-style
//! 400 body the manager returns.
//!
//! Constraints checked for a policy ([`validate_security_policy`]):
//! * category Emergency, Infrastructure, Environment or Application (no Ethernet, no empty one);
//! * `stateful` and `tcp_strict` keep their (dimmed) defaults: `false` is rejected;
//! * no `scheduler_path` (time windows);
//! * `JUMP_TO_APPLICATION` only in Environment;
//! * no `sources_excluded` / `destinations_excluded` (negation), no `profiles` (context profiles, L7);
//! * sources and destinations: `ANY`, IP literals, or Antrea groups; applied-to (policy and rule
//!   `scope`): `ANY`, container-cluster paths, or Antrea groups without IP addresses; no global
//!   (`/global-infra/…`) groups, no identity-firewall groups;
//! * services and service entries: TCP/UDP with destination ports only (no source ports, no ICMP,
//!   IP protocol, IGMP, ALG or EtherType entries);
//! * `["ANY"]` must be the only element of its list; every referenced object exists.
//!
//! Constraints checked for a group ([`validate_group`]): the expression list alternates
//! expressions and conjunctions, has at most five criteria; Antrea groups use only Pod, Namespace
//! and Service conditions on Name or Tag, IP addresses and paths to other Antrea groups, and never
//! combine Service with Pod conditions; KubernetesCluster and KubernetesNamespace conditions of
//! generic groups only narrow (are ANDed with) another member type.

mod error;
mod group;
mod policy;

pub use error::{NsxErrorBody, ValidationError, Violation, ViolationCode};
pub use group::validate_group;
pub use policy::validate_security_policy;

use crate::model::{Group, Service, predefined_service};
use std::collections::BTreeMap;

/// Access to the objects a policy or group refers to, by path. Implemented by the manager over
/// its store; [`MapLookup`] is the in-memory form.
pub trait ReferenceLookup {
    /// The group at `path` (`/infra/domains/default/groups/x`).
    fn group(&self, path: &str) -> Option<Group>;
    /// The service at `path` (`/infra/services/x`). Predefined services are found even when the
    /// lookup does not know them (see [`resolve_service`]).
    fn service(&self, path: &str) -> Option<Service>;
}

/// Groups and services held in maps keyed by path.
#[derive(Debug, Clone, Default)]
pub struct MapLookup {
    pub groups: BTreeMap<String, Group>,
    pub services: BTreeMap<String, Service>,
}

impl MapLookup {
    /// Indexes the objects by `path` (or their default path when they carry none).
    pub fn new<G, S>(groups: G, services: S) -> Self
    where
        G: IntoIterator<Item = Group>,
        S: IntoIterator<Item = Service>,
    {
        MapLookup {
            groups: groups
                .into_iter()
                .map(|g| (g.path_or_default(), g))
                .collect(),
            services: services
                .into_iter()
                .map(|s| (s.path_or_default(), s))
                .collect(),
        }
    }
}

impl ReferenceLookup for MapLookup {
    fn group(&self, path: &str) -> Option<Group> {
        self.groups.get(path).cloned()
    }

    fn service(&self, path: &str) -> Option<Service> {
        self.services.get(path).cloned()
    }
}

/// The service at `path` from the lookup, else from the predefined `/infra/services` catalogue.
pub fn resolve_service(lookup: &dyn ReferenceLookup, path: &str) -> Option<Service> {
    lookup
        .service(path)
        .or_else(|| predefined_service(path).cloned())
}

/// True for paths of cluster-control-planes (`…/cluster-control-planes/<id>`), which stand for
/// "the whole container cluster" in an Applied To.
pub fn is_container_cluster_path(path: &str) -> bool {
    path.contains("/cluster-control-planes/")
}

/// True for Global Manager (federation) paths.
pub fn is_global_path(path: &str) -> bool {
    path.starts_with("/global-infra/")
}

#[cfg(test)]
mod tests;
