//! Interned selector terms and the indexes that resolve them: an inverted label index
//! (`Postings`: label `k=v` and key `k` → sorted ids) over identities and over namespaces, the
//! `Anchors` that tell which terms a new identity can possibly join, and the exact evaluation of
//! a term against an identity, a Node or the address space.
//!
//! ```text
//!  term "Pods{ns=x, app=web}" ── members = postings[app=web] ∩ idents[ns x], then exact check
//!  new identity (ns x, {app: web}) ── candidates = anchors[ns x] ∪ anchors[app=web] ∪ ... ∪ wild
//! ```

mod index;
mod members;

pub(crate) use index::{Anchor, Anchors, Postings, insert_sorted, remove_sorted, sorted_contains};

use crate::cluster::Cluster;
use crate::compile::{AppliedTerm, GroupRef, NamespaceScope, PeerTerm};
use ipnet::IpNet;
use std::fmt::Write;
use tierwall_model::LabelSelector;
use tierwall_model::antrea::GroupSpec;

/// An address interval of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct IpRange {
    pub(crate) v6: bool,
    pub(crate) lo: u128,
    pub(crate) hi: u128,
}

/// Where a term is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// In a rule's appliedTo.
    Applied(u32),
    /// In a rule's peers.
    Peer(u32),
    /// In a policy's (union) appliedTo: spans, K8s NP lists, realizability.
    Policy(u32),
}

/// The definition of an interned term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TermDef {
    /// Pods by namespace scope and label selector. `ldep`: the scope depends on the Pod the rule
    /// applies to (`match: Self`, `sameLabels`), members ignore the scope and rules verify.
    Pods {
        scope: NamespaceScope,
        sel: Option<LabelSelector>,
        ldep: bool,
    },
    Group(GroupRef),
    Sa {
        ns: String,
        name: String,
    },
    Nodes(LabelSelector),
    IpBlock {
        cidr: IpNet,
        except: Vec<IpNet>,
    },
    Fqdn(String),
}

/// An interned term with its resolved members.
#[derive(Debug, Clone)]
pub(crate) struct Term {
    pub(crate) def: TermDef,
    pub(crate) key: String,
    pub(crate) anchor: Anchor,
    /// Identities (sorted).
    pub(crate) members: Vec<u32>,
    /// Node entries (sorted).
    pub(crate) nodes: Vec<u32>,
    /// Address intervals (sorted, disjoint).
    pub(crate) ips: Vec<IpRange>,
    pub(crate) uses: Vec<Use>,
    /// Interned references (rules and policies holding the term).
    pub(crate) refs: u32,
    /// Groups whose definition this term's membership reads (Group terms).
    pub(crate) group_deps: Vec<GroupRef>,
}

impl Term {
    pub(crate) fn ldep(&self) -> bool {
        matches!(self.def, TermDef::Pods { ldep: true, .. })
    }

    /// Whether the address keyed `(v6, k)` (see `ip_key`) is one of the term's.
    pub(crate) fn contains_key(&self, v6: bool, k: u128) -> bool {
        let i = self.ips.partition_point(|r| (r.v6, r.lo) <= (v6, k));
        i > 0 && self.ips.get(i - 1).is_some_and(|r| r.v6 == v6 && r.hi >= k)
    }
}

/// (family, key) of an address.
pub(crate) fn ip_key(ip: std::net::IpAddr) -> (bool, u128) {
    match ip {
        std::net::IpAddr::V4(a) => (false, u32::from(a) as u128),
        std::net::IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn net_range(n: &IpNet) -> IpRange {
    match n {
        IpNet::V4(n) => IpRange {
            v6: false,
            lo: u32::from(n.network()) as u128,
            hi: u32::from(n.broadcast()) as u128,
        },
        IpNet::V6(n) => IpRange {
            v6: true,
            lo: u128::from(n.network()),
            hi: u128::from(n.broadcast()),
        },
    }
}

/// `cidr` minus every `except`, as sorted disjoint intervals.
pub(crate) fn block_ranges(cidr: &IpNet, except: &[IpNet]) -> Vec<IpRange> {
    let mut out = vec![net_range(cidr)];
    for e in except {
        let x = net_range(e);
        let mut next = Vec::with_capacity(out.len() + 1);
        for r in out {
            if r.v6 != x.v6 || x.hi < r.lo || x.lo > r.hi {
                next.push(r);
                continue;
            }
            if x.lo > r.lo {
                next.push(IpRange {
                    v6: r.v6,
                    lo: r.lo,
                    hi: x.lo - 1,
                });
            }
            if x.hi < r.hi {
                next.push(IpRange {
                    v6: r.v6,
                    lo: x.hi + 1,
                    hi: r.hi,
                });
            }
        }
        out = next;
    }
    out
}

/// Sorts and merges overlapping or adjacent intervals.
pub(crate) fn normalize_ranges(mut v: Vec<IpRange>) -> Vec<IpRange> {
    v.sort();
    let mut out: Vec<IpRange> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(l) if l.v6 == r.v6 && r.lo <= l.hi.saturating_add(1) => l.hi = l.hi.max(r.hi),
            _ => out.push(r),
        }
    }
    out
}

fn write_selector(out: &mut String, sel: &LabelSelector) {
    for (k, v) in sel.match_labels.iter().flatten() {
        let _ = write!(out, "{}={}\u{1};", k, v);
    }
    for e in sel.match_expressions.iter().flatten() {
        let _ = write!(out, "{}\u{1}{}\u{1}", e.key, e.operator);
        for v in e.values.iter().flatten() {
            let _ = write!(out, "{v}\u{2}");
        }
        out.push(';');
    }
}

fn write_scope(out: &mut String, scope: &NamespaceScope) {
    match scope {
        NamespaceScope::All => out.push_str("all"),
        NamespaceScope::Named(n) => {
            out.push_str("ns:");
            out.push_str(n);
        }
        NamespaceScope::Selector(s) => {
            out.push_str("sel:");
            write_selector(out, s);
        }
        NamespaceScope::SameAsApplied => out.push_str("self"),
        NamespaceScope::SameLabels(keys) => {
            out.push_str("same:");
            for k in keys {
                out.push_str(k);
                out.push('\u{1}');
            }
        }
    }
}

/// The key of a referenced group (`cg/<name>`, `g/<ns>/<name>`).
pub(crate) fn group_key(g: &GroupRef) -> String {
    match g {
        GroupRef::Cluster(n) => format!("cg/{n}"),
        GroupRef::Namespaced(ns, n) => format!("g/{ns}/{n}"),
    }
}

/// The canonical key of a term definition (interning).
pub(crate) fn term_key(def: &TermDef) -> String {
    let mut out = String::with_capacity(48);
    match def {
        TermDef::Pods { scope, sel, .. } => {
            out.push_str("P|");
            write_scope(&mut out, scope);
            out.push('|');
            match sel {
                None => out.push('-'),
                Some(s) => {
                    out.push('+');
                    write_selector(&mut out, s);
                }
            }
        }
        TermDef::Group(g) => {
            out.push_str("G|");
            out.push_str(&group_key(g));
        }
        TermDef::Sa { ns, name } => {
            let _ = write!(out, "S|{ns}\u{1}{name}");
        }
        TermDef::Nodes(s) => {
            out.push_str("N|");
            write_selector(&mut out, s);
        }
        TermDef::IpBlock { cidr, except } => {
            let _ = write!(out, "I|{cidr}");
            for e in except {
                let _ = write!(out, ",{e}");
            }
        }
        TermDef::Fqdn(p) => {
            out.push_str("F|");
            out.push_str(p);
        }
    }
    out
}

/// The term of an appliedTo entry (`None`: it never selects a Pod or Node on the fast path).
pub(crate) fn applied_def(t: &AppliedTerm) -> Option<TermDef> {
    Some(match t {
        AppliedTerm::Pods { namespaces, pods } => TermDef::Pods {
            scope: namespaces.clone(),
            sel: pods.clone(),
            ldep: false,
        },
        AppliedTerm::Group(g) => TermDef::Group(g.clone()),
        AppliedTerm::ServiceAccount { namespace, name } => TermDef::Sa {
            ns: namespace.clone(),
            name: name.clone(),
        },
        AppliedTerm::Nodes(s) => TermDef::Nodes(s.clone()),
        AppliedTerm::Service { .. } | AppliedTerm::Nothing => return None,
    })
}

/// The term of a peer entry (`None`: it selects nothing).
pub(crate) fn peer_def(t: &PeerTerm) -> Option<TermDef> {
    Some(match t {
        PeerTerm::Pods { namespaces, pods } => TermDef::Pods {
            scope: namespaces.clone(),
            sel: pods.clone(),
            ldep: matches!(
                namespaces,
                NamespaceScope::SameAsApplied | NamespaceScope::SameLabels(_)
            ),
        },
        PeerTerm::IpBlock { cidr, except } => TermDef::IpBlock {
            cidr: *cidr,
            except: except.clone(),
        },
        PeerTerm::Group(g) => TermDef::Group(g.clone()),
        PeerTerm::ServiceAccount { namespace, name } => TermDef::Sa {
            ns: namespace.clone(),
            name: name.clone(),
        },
        PeerTerm::Nodes(s) => TermDef::Nodes(s.clone()),
        PeerTerm::Fqdn(p) => TermDef::Fqdn(p.clone()),
        PeerTerm::Nothing => return None,
    })
}

pub(crate) fn anchor_of(def: &TermDef) -> Anchor {
    match def {
        TermDef::Pods { scope, sel, ldep } => {
            if let (false, NamespaceScope::Named(n)) = (ldep, scope) {
                return Anchor::Ns(n.clone());
            }
            if let Some((k, v)) = sel
                .as_ref()
                .and_then(|s| s.match_labels.as_ref())
                .and_then(|m| m.iter().next())
            {
                return Anchor::Label(k.clone(), v.clone());
            }
            if let (false, NamespaceScope::Selector(s)) = (ldep, scope)
                && let Some((k, v)) = s.match_labels.as_ref().and_then(|m| m.iter().next())
            {
                return Anchor::NsLabel(k.clone(), v.clone());
            }
            Anchor::Wild
        }
        TermDef::Sa { ns, .. } => Anchor::Ns(ns.clone()),
        TermDef::Group(_) => Anchor::Wild,
        TermDef::Nodes(_) | TermDef::IpBlock { .. } | TermDef::Fqdn(_) => Anchor::None,
    }
}

fn group_spec<'a>(cluster: &'a Cluster, g: &GroupRef) -> Option<&'a GroupSpec> {
    match g {
        GroupRef::Cluster(n) => cluster.cluster_groups.get(n),
        GroupRef::Namespaced(ns, n) => cluster.groups.get(&(ns.clone(), n.clone())),
    }
}

fn child_ref(g: &GroupRef, child: &str) -> GroupRef {
    match g {
        GroupRef::Cluster(_) => GroupRef::Cluster(child.to_string()),
        GroupRef::Namespaced(ns, _) => GroupRef::Namespaced(ns.clone(), child.to_string()),
    }
}

/// The groups whose own definition counts for `g` (as `matching::Resolver` resolves them:
/// itself, or its children one level deep; nested children make it empty).
pub(crate) fn group_leaves<'a>(
    cluster: &'a Cluster,
    g: &GroupRef,
) -> Vec<(GroupRef, &'a GroupSpec)> {
    let Some(spec) = group_spec(cluster, g) else {
        return vec![];
    };
    if spec.child_groups.is_empty() {
        return vec![(g.clone(), spec)];
    }
    let mut leaves = Vec::new();
    for child in &spec.child_groups {
        let r = child_ref(g, child);
        if let Some(cs) = group_spec(cluster, &r) {
            if !cs.child_groups.is_empty() {
                return vec![];
            }
            leaves.push((r, cs));
        }
    }
    leaves
}

/// Groups a Group term's membership depends on (itself and its listed children).
pub(crate) fn group_deps(cluster: &Cluster, g: &GroupRef) -> Vec<GroupRef> {
    let mut deps = vec![g.clone()];
    if let Some(spec) = group_spec(cluster, g) {
        deps.extend(spec.child_groups.iter().map(|c| child_ref(g, c)));
    }
    deps
}

fn ns_matches(cluster: &Cluster, scope: &NamespaceScope, ns: &str) -> bool {
    match scope {
        NamespaceScope::All => true,
        NamespaceScope::Named(n) => n == ns,
        NamespaceScope::Selector(sel) => {
            cluster.namespace_labels(ns).is_some_and(|l| sel.matches(l))
        }
        // Decided per query (the rule is verified); membership ignores the scope.
        NamespaceScope::SameAsApplied | NamespaceScope::SameLabels(_) => true,
    }
}
