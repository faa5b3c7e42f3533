//! `Engine`: one cluster's desired state behind admission. Every change goes through
//! `apply` / `delete`: admission first (nothing is changed on rejection), then the store, the
//! cluster index and the rule table are updated for that one object only.

use crate::admission::{self, AdmissionError, Operation};
use crate::cluster::Cluster;
use crate::compile::{compile_antrea, compile_k8s};
use crate::evaluate::{Evaluator, ProbeTransport, Source, Target, Verdict};
use crate::store::{DEFAULT_TIER, Store};
use crate::table::RuleTable;
use std::net::{IpAddr, Ipv4Addr};
use tierwall_model::k8s::PodStatus;
use tierwall_model::{Kind, Object, ObjectKey};

/// What an accepted change did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub key: ObjectKey,
    pub operation: Operation,
    pub warnings: Vec<String>,
    /// The object as stored (after mutation and defaulting).
    pub object: Object,
}

/// First address allocated to Pods that do not give one.
const POD_POOL_START: Ipv4Addr = Ipv4Addr::new(10, 244, 128, 1);
/// First ClusterIP allocated to Services that do not give one.
const SERVICE_POOL_START: Ipv4Addr = Ipv4Addr::new(10, 96, 128, 1);

/// The engine of one cluster.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    store: Store,
    cluster: Cluster,
    table: RuleTable,
    /// Allocation cursors of the address pools (0 = pool start).
    next_pod_address: u32,
    next_service_address: u32,
}

impl Engine {
    /// An engine with the system Tiers and nothing else.
    pub fn new() -> Self {
        let store = Store::new();
        let mut cluster = Cluster::default();
        for o in store.iter() {
            cluster.apply(o);
        }
        Engine {
            store,
            cluster,
            table: RuleTable::default(),
            next_pod_address: 0,
            next_service_address: 0,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn table(&self) -> &RuleTable {
        &self.table
    }

    pub fn evaluator(&self) -> Evaluator<'_> {
        Evaluator::new(&self.cluster, &self.table)
    }

    /// Decides one probe.
    pub fn probe(&self, source: &Source, target: &Target, transport: ProbeTransport) -> Verdict {
        self.evaluator().probe(source, target, transport)
    }

    /// Sets the name-to-address mappings FQDN rules are matched against (DNS snooping input).
    pub fn set_dns(&mut self, name: &str, ips: Vec<IpAddr>) {
        self.cluster
            .dns
            .insert(name.trim_end_matches('.').to_ascii_lowercase(), ips);
    }

    /// Create-or-replace one object through admission.
    pub fn apply(&mut self, object: Object) -> Result<Applied, AdmissionError> {
        let mut object = object;
        object.normalize_type_meta();
        let admitted = admission::admit_apply(&self.store, object)?;
        let mut object = admitted.object;
        let key = object.key();
        let old = self.store.get(&key).cloned();
        self.default_runtime_fields(&mut object, old);
        self.store.put(object.clone());
        self.index(&object);
        Ok(Applied {
            key,
            operation: admitted.operation,
            warnings: admitted.warnings,
            object,
        })
    }

    /// Deletes one object through admission.
    pub fn delete(&mut self, key: &ObjectKey) -> Result<Object, AdmissionError> {
        admission::admit_delete(&self.store, key)?;
        let old = self.store.remove(key).ok_or_else(|| AdmissionError {
            object: key.clone(),
            field: String::new(),
            message: format!("{} {} not found", key.kind.kind_name(), key.name),
        })?;
        self.cluster.delete(key);
        self.table.remove(key);
        if key.kind == Kind::Namespace {
            // Antrea policies do not change, but `namespaces`/sameLabels peers see the label set go.
        }
        Ok(old)
    }

    /// Keys of all objects of a kind (for `delete: ["netpol/*"]`).
    pub fn keys_of(&self, kind: Kind) -> Vec<ObjectKey> {
        self.store.of_kind(kind).map(Object::key).collect()
    }

    fn index(&mut self, object: &Object) {
        self.cluster.apply(object);
        match object {
            Object::AntreaPolicy(kind, p) => {
                let compiled = compile_antrea(*kind, p);
                let tiers = &self.cluster.tiers;
                self.table.upsert(compiled, |t| {
                    tiers
                        .get(t)
                        .copied()
                        .or_else(|| tiers.get(DEFAULT_TIER).copied())
                        .unwrap_or(250)
                });
            }
            Object::NetworkPolicy(np) => {
                self.table.upsert(compile_k8s(np), |_| 0);
            }
            _ => {}
        }
    }

    /// Fields a real cluster fills in: generation, Pod IPs and ClusterIPs (allocated
    /// deterministically from fixed pools, skipping addresses in use).
    fn default_runtime_fields(&mut self, object: &mut Object, old: Option<Object>) {
        let old_generation = old
            .as_ref()
            .and_then(|o| o.metadata().generation)
            .unwrap_or(0);
        let spec_changed = old
            .as_ref()
            .is_none_or(|o| spec_json(o) != spec_json(object));
        let generation = if spec_changed {
            old_generation + 1
        } else {
            old_generation.max(1)
        };
        object.metadata_mut().generation = Some(generation);
        match object {
            Object::Pod(pod) if !pod.spec.host_network => {
                let has_ip = pod
                    .status
                    .as_ref()
                    .is_some_and(|s| s.pod_ip.is_some() || !s.pod_i_ps.is_empty());
                if !has_ip {
                    let previous = match &old {
                        Some(Object::Pod(p)) => p.status.as_ref().and_then(|s| s.pod_ip.clone()),
                        _ => None,
                    };
                    let ip = previous
                        .unwrap_or_else(|| self.free_address(AddressPool::Pods).to_string());
                    let status = pod.status.get_or_insert_with(PodStatus::default);
                    status.pod_ip = Some(ip);
                }
            }
            Object::Service(svc) if svc.spec.cluster_ip.is_none() => {
                let previous = match &old {
                    Some(Object::Service(s)) => s.spec.cluster_ip.clone(),
                    _ => None,
                };
                svc.spec.cluster_ip = Some(
                    previous
                        .unwrap_or_else(|| self.free_address(AddressPool::Services).to_string()),
                );
            }
            _ => {}
        }
    }

    /// The first address at or after the pool cursor that nothing uses; advances the cursor so
    /// that allocating n addresses costs O(n) overall.
    fn free_address(&mut self, pool: AddressPool) -> IpAddr {
        let (start, cursor) = match pool {
            AddressPool::Pods => (POD_POOL_START, &mut self.next_pod_address),
            AddressPool::Services => (SERVICE_POOL_START, &mut self.next_service_address),
        };
        let mut n = (*cursor).max(u32::from(start));
        loop {
            let ip = IpAddr::V4(Ipv4Addr::from(n));
            n = n.wrapping_add(1);
            let last_octet = n.wrapping_sub(1) & 0xff;
            if last_octet != 0 && last_octet != 255 && !self.cluster.address_in_use(ip) {
                *cursor = n;
                return ip;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum AddressPool {
    Pods,
    Services,
}

/// The `spec` of an object as JSON, for generation bumps (labels and status do not count).
fn spec_json(object: &Object) -> serde_json::Value {
    let mut v = serde_json::to_value(object).unwrap_or_default();
    v.get_mut("spec").map(std::mem::take).unwrap_or_default()
}
