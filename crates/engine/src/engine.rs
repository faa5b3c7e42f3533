//! `Engine`: one cluster's desired state behind admission. Every change goes through
//! `apply` (or `ingest`, the same without handing back a copy of the stored object) / `delete`:
//! admission first (nothing is changed on rejection), then the store, the cluster index and the
//! rule table are updated for that one object only.

use crate::admission::{self, AdmissionError, Operation};
use crate::cluster::Cluster;
use crate::compile::{compile_antrea, compile_k8s};
use crate::evaluate::{Evaluator, ProbeTransport, Source, Target, Verdict};
use crate::store::{DEFAULT_TIER, Store};
use crate::table::RuleTable;
use std::collections::btree_map::Entry;
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

/// What an accepted change did, without the stored object (`Engine::ingest`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    pub key: ObjectKey,
    pub operation: Operation,
    pub warnings: Vec<String>,
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
    pools: AddressCursors,
}

/// Allocation cursors of the address pools (0 = pool start).
#[derive(Debug, Clone, Copy, Default)]
struct AddressCursors {
    pods: u32,
    services: u32,
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
            pools: AddressCursors::default(),
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

    /// Forgets a name set with `set_dns` (its addresses expired): FQDN rules match it again
    /// only as cluster DNS resolves it (a Service name), or not at all.
    pub fn remove_dns(&mut self, name: &str) {
        self.cluster
            .dns
            .remove(&name.trim_end_matches('.').to_ascii_lowercase());
    }

    /// Create-or-replace one object through admission; returns the object as stored.
    pub fn apply(&mut self, object: Object) -> Result<Applied, AdmissionError> {
        let ingested = self.ingest(object)?;
        let object = self
            .store
            .get(&ingested.key)
            .cloned()
            .ok_or_else(|| AdmissionError {
                object: ingested.key.clone(),
                field: String::new(),
                message: "object missing from the store after apply".to_string(),
            })?;
        Ok(Applied {
            key: ingested.key,
            operation: ingested.operation,
            warnings: ingested.warnings,
            object,
        })
    }

    /// `apply` without handing back a copy of the stored object (read it with
    /// `store().get(&key)` if needed): what a bulk load or an informer stream uses.
    pub fn ingest(&mut self, object: Object) -> Result<Ingested, AdmissionError> {
        let mut object = object;
        if !type_meta_normalized(&object) {
            object.normalize_type_meta();
        }
        let admitted = admission::admit_apply(&self.store, object)?;
        let (mut object, key) = (admitted.object, admitted.key);
        let Engine {
            store,
            cluster,
            table,
            pools,
        } = self;
        // One map search for reading the old object and storing the new one.
        let slot = store.slot(key.clone());
        let previous = match &slot {
            Entry::Occupied(old) => Some(Previous::of(old.get(), &object)),
            Entry::Vacant(_) => None,
        };
        default_runtime_fields(cluster, pools, &mut object, previous);
        index(cluster, table, &object);
        match slot {
            // Reuses the old object's allocation.
            Entry::Occupied(mut old) => **old.get_mut() = object,
            Entry::Vacant(free) => {
                free.insert(Box::new(object));
            }
        }
        Ok(Ingested {
            key,
            operation: admitted.operation,
            warnings: admitted.warnings,
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
}

/// Indexes an accepted object in the cluster and, for a policy, compiles it into the table.
fn index(cluster: &mut Cluster, table: &mut RuleTable, object: &Object) {
    cluster.apply(object);
    match object {
        Object::AntreaPolicy(kind, p) => {
            let compiled = compile_antrea(*kind, p);
            let tiers = &cluster.tiers;
            table.upsert(compiled, |t| {
                tiers
                    .get(t)
                    .copied()
                    .or_else(|| tiers.get(DEFAULT_TIER).copied())
                    .unwrap_or(250)
            });
        }
        Object::NetworkPolicy(np) => {
            table.upsert(compile_k8s(np), |_| 0);
        }
        _ => {}
    }
}

/// Fields a real cluster fills in: generation, Pod IPs and ClusterIPs (allocated
/// deterministically from fixed pools, skipping addresses in use).
fn default_runtime_fields(
    cluster: &Cluster,
    pools: &mut AddressCursors,
    object: &mut Object,
    previous: Option<Previous>,
) {
    let generation = match &previous {
        None => 1,
        Some(p) if p.spec_changed => p.generation + 1,
        Some(p) => p.generation.max(1),
    };
    object.metadata_mut().generation = Some(generation);
    let previous_address = previous.and_then(|p| p.address);
    match object {
        Object::Pod(pod) if !pod.spec.host_network => {
            let has_ip = pod
                .status
                .as_ref()
                .is_some_and(|s| s.pod_ip.is_some() || !s.pod_i_ps.is_empty());
            if !has_ip {
                let ip = previous_address
                    .unwrap_or_else(|| free_address(cluster, pools, AddressPool::Pods).to_string());
                let status = pod.status.get_or_insert_with(PodStatus::default);
                status.pod_ip = Some(ip);
            }
        }
        Object::Service(svc) if svc.spec.cluster_ip.is_none() => {
            svc.spec.cluster_ip = Some(previous_address.unwrap_or_else(|| {
                free_address(cluster, pools, AddressPool::Services).to_string()
            }));
        }
        _ => {}
    }
}

/// The first address at or after the pool cursor that nothing uses; advances the cursor so
/// that allocating n addresses costs O(n) overall.
fn free_address(cluster: &Cluster, pools: &mut AddressCursors, pool: AddressPool) -> IpAddr {
    let (start, cursor) = match pool {
        AddressPool::Pods => (POD_POOL_START, &mut pools.pods),
        AddressPool::Services => (SERVICE_POOL_START, &mut pools.services),
    };
    let mut n = (*cursor).max(u32::from(start));
    loop {
        let ip = IpAddr::V4(Ipv4Addr::from(n));
        n = n.wrapping_add(1);
        let last_octet = n.wrapping_sub(1) & 0xff;
        if last_octet != 0 && last_octet != 255 && !cluster.address_in_use(ip) {
            *cursor = n;
            return ip;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum AddressPool {
    Pods,
    Services,
}

/// Whether `normalize_type_meta` would change nothing (it allocates, so skip it when possible).
fn type_meta_normalized(object: &Object) -> bool {
    let kind = object.kind();
    if kind.is_namespaced() && object.metadata().namespace.is_none() {
        return false;
    }
    let (api_version, kind_name) = match object {
        Object::Tier(o) => (&o.api_version, &o.kind),
        Object::AntreaPolicy(_, o) => (&o.api_version, &o.kind),
        Object::AntreaGroup(_, o) => (&o.api_version, &o.kind),
        Object::NetworkPolicy(o) => (&o.api_version, &o.kind),
        Object::Namespace(o) => (&o.api_version, &o.kind),
        Object::Pod(o) => (&o.api_version, &o.kind),
        Object::Service(o) => (&o.api_version, &o.kind),
        Object::Node(o) => (&o.api_version, &o.kind),
        Object::ServiceAccount(o) => (&o.api_version, &o.kind),
        Object::Egress(o) => (&o.api_version, &o.kind),
        Object::AntreaIpPool(_, o) => (&o.api_version, &o.kind),
        Object::Ingress(o) => (&o.api_version, &o.kind),
        Object::Gateway(o) => (&o.api_version, &o.kind),
    };
    api_version == kind.api_version() && kind_name == kind.kind_name()
}

/// What `apply` keeps of the object it replaces.
struct Previous {
    generation: i64,
    spec_changed: bool,
    /// The Pod IP or ClusterIP it had been given (kept across updates that omit it).
    address: Option<String>,
}

impl Previous {
    fn of(old: &Object, new: &Object) -> Previous {
        let address = match (old, new) {
            (Object::Pod(p), Object::Pod(_)) => p.status.as_ref().and_then(|s| s.pod_ip.clone()),
            (Object::Service(s), Object::Service(_)) => s.spec.cluster_ip.clone(),
            _ => None,
        };
        Previous {
            generation: old.metadata().generation.unwrap_or(0),
            spec_changed: !same_spec(old, new),
            address,
        }
    }
}

/// Whether two objects have the same `spec` (what bumps the generation; labels and status do
/// not count). Objects without a `spec` field compare equal, as their JSON `spec` is absent.
fn same_spec(a: &Object, b: &Object) -> bool {
    let null = serde_json::Value::Null;
    match (a, b) {
        (Object::Tier(a), Object::Tier(b)) => a.spec == b.spec,
        (Object::AntreaPolicy(_, a), Object::AntreaPolicy(_, b)) => a.spec == b.spec,
        (Object::AntreaGroup(_, a), Object::AntreaGroup(_, b)) => a.spec == b.spec,
        (Object::NetworkPolicy(a), Object::NetworkPolicy(b)) => a.spec == b.spec,
        (Object::Namespace(a), Object::Namespace(b)) => {
            a.spec.as_deref().unwrap_or(&null) == b.spec.as_deref().unwrap_or(&null)
        }
        (Object::Pod(a), Object::Pod(b)) => a.spec == b.spec,
        (Object::Service(a), Object::Service(b)) => a.spec == b.spec,
        (Object::Node(a), Object::Node(b)) => a.spec == b.spec,
        (Object::ServiceAccount(_), Object::ServiceAccount(_)) => true,
        (Object::Egress(a), Object::Egress(b)) => a.spec == b.spec,
        (Object::AntreaIpPool(_, a), Object::AntreaIpPool(_, b)) => a.spec == b.spec,
        (Object::Ingress(a), Object::Ingress(b)) => a.spec == b.spec,
        (Object::Gateway(a), Object::Gateway(b)) => a.spec == b.spec,
        _ => false,
    }
}
