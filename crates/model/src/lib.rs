//! Resource model of tierwall: the wire types of every object a user can apply (Antrea
//! `crd.antrea.io` policy CRDs under all their API groups, Kubernetes NetworkPolicy, and the core
//! `v1` objects the policies select, plus the inventory-only Egress, ExternalIPPool, IPPool,
//! Ingress and Gateway whose IPs a manager groups by), label selectors, and manifest loading from
//! YAML or JSON with
//! errors that give file, line, column and field path.
//!
//! ```text
//!  file / stdin ──split──> documents ──TypeMeta──> kind ──typed serde──> Object
//!                                            unknown kind / field ⇒ LoadError (file:line:col, path)
//! ```

pub mod antrea;
pub mod inventory_kinds;
pub mod k8s;
pub mod load;
pub mod meta;
pub mod object;

pub use load::{LoadError, LoadedObject, load_path, load_path_each, load_str, load_str_each};
pub use meta::{IntOrString, LabelSelector, LabelSelectorRequirement, ObjectMeta};
pub use object::{Kind, Object, ObjectKey};
