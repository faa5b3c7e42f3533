//! Kubernetes `networking.k8s.io/v1` NetworkPolicy, as the API server defaults and validates it
//! (`SetDefaults_NetworkPolicy*`, `ValidateNetworkPolicySpec`): `policyTypes` defaulting
//! (Ingress, plus Egress when egress rules exist) and port protocol defaulting (TCP); label
//! selectors (matchLabels and matchExpressions), ports (protocol, number 1..65535 or IANA
//! service name, `endPort`), peers (exactly one kind; ipBlock alone), ipBlocks (valid CIDR,
//! `except` strictly inside `cidr`) and `policyTypes`. The first error in Kubernetes' order wins.

use super::field::{Check, forbidden, invalid, invalid_all, not_supported, quote, required};
use super::labels::{label_value_errors, port_name_errors, port_num_errors, qualified_name_errors};
use super::meta::validate_labels;
use super::net::{is_strict_subset, parse_cidr_sloppy};
use tierwall_model::k8s::{K8sIpBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use tierwall_model::{IntOrString, LabelSelector};

const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
const POLICY_TYPES: [&str; 2] = ["Ingress", "Egress"];

/// API-server defaulting.
pub fn set_defaults(np: &mut NetworkPolicy) {
    let spec = &mut np.spec;
    if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
        let mut types = vec!["Ingress".to_string()];
        if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
            types.push("Egress".to_string());
        }
        spec.policy_types = Some(types);
    }
    let ingress_ports = spec
        .ingress
        .iter_mut()
        .flatten()
        .flat_map(|r| r.ports.iter_mut());
    let egress_ports = spec
        .egress
        .iter_mut()
        .flatten()
        .flat_map(|r| r.ports.iter_mut());
    for port in ingress_ports.chain(egress_ports) {
        if port.protocol.is_none() {
            port.protocol = Some("TCP".to_string());
        }
    }
}

/// `ValidateNetworkPolicySpec` (metadata is validated by the caller).
pub fn validate(np: &NetworkPolicy) -> Check {
    let spec = &np.spec;
    validate_selector(&spec.pod_selector, "spec.podSelector")?;
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        let path = format!("spec.ingress[{i}]");
        for (j, port) in rule.ports.iter().enumerate() {
            validate_port(port, &format!("{path}.ports[{j}]"))?;
        }
        for (j, peer) in rule.from.iter().enumerate() {
            validate_peer(peer, &format!("{path}.from[{j}]"))?;
        }
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let path = format!("spec.egress[{i}]");
        for (j, peer) in rule.to.iter().enumerate() {
            validate_peer(peer, &format!("{path}.to[{j}]"))?;
        }
        for (j, port) in rule.ports.iter().enumerate() {
            validate_port(port, &format!("{path}.ports[{j}]"))?;
        }
    }
    let types = spec.policy_types.as_deref().unwrap_or(&[]);
    if types.len() > POLICY_TYPES.len() {
        // Kubernetes passes `&spec.PolicyTypes`, printed with `%#v`.
        let shown: Vec<String> = types.iter().map(|t| quote(t)).collect();
        return Err(invalid(
            "spec.policyTypes",
            format!("[]networking.PolicyType{{{}}}", shown.join(", ")),
            "may not specify more than two policyTypes",
        ));
    }
    for (i, t) in types.iter().enumerate() {
        if !POLICY_TYPES.contains(&t.as_str()) {
            return Err(not_supported(
                format!("spec.policyTypes[{i}]"),
                quote(t),
                &POLICY_TYPES,
            ));
        }
    }
    Ok(())
}

/// `ValidateLabelSelector` (unversioned): matchLabels, then each matchExpressions entry.
pub fn validate_selector(sel: &LabelSelector, path: &str) -> Check {
    if let Some(labels) = &sel.match_labels {
        validate_labels(labels, &format!("{path}.matchLabels"))?;
    }
    for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
        let epath = format!("{path}.matchExpressions[{i}]");
        let values = expr.values.as_deref().unwrap_or(&[]);
        match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(required(
                    format!("{epath}.values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(forbidden(
                    format!("{epath}.values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            op => {
                return Err(invalid(
                    format!("{epath}.operator"),
                    quote(op),
                    "not a valid selector operator",
                ));
            }
        }
        let errs = qualified_name_errors(&expr.key);
        if !errs.is_empty() {
            return Err(invalid_all(format!("{epath}.key"), quote(&expr.key), &errs));
        }
        for (k, v) in values.iter().enumerate() {
            let errs = label_value_errors(v);
            if !errs.is_empty() {
                return Err(invalid_all(format!("{epath}.values[{k}]"), quote(v), &errs));
            }
        }
    }
    Ok(())
}

/// `ValidateNetworkPolicyPort`.
fn validate_port(port: &NetworkPolicyPort, path: &str) -> Check {
    if let Some(proto) = &port.protocol
        && !PROTOCOLS.contains(&proto.as_str())
    {
        return Err(not_supported(
            format!("{path}.protocol"),
            quote(proto),
            &PROTOCOLS,
        ));
    }
    match &port.port {
        Some(IntOrString::Int(p)) => {
            let errs = port_num_errors(*p);
            if !errs.is_empty() {
                return Err(invalid_all(format!("{path}.port"), p, &errs));
            }
            if let Some(end) = port.end_port {
                if i64::from(end) < *p {
                    // Kubernetes prints the `port` value here, not the endPort.
                    return Err(invalid(
                        format!("{path}.endPort"),
                        p,
                        "must be greater than or equal to `port`",
                    ));
                }
                let errs = port_num_errors(end.into());
                if !errs.is_empty() {
                    return Err(invalid_all(format!("{path}.endPort"), end, &errs));
                }
            }
        }
        Some(IntOrString::String(name)) => {
            if let Some(end) = port.end_port {
                return Err(invalid(
                    format!("{path}.endPort"),
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            let errs = port_name_errors(name);
            if !errs.is_empty() {
                return Err(invalid_all(format!("{path}.port"), quote(name), &errs));
            }
        }
        None => {
            if let Some(end) = port.end_port {
                return Err(invalid(
                    format!("{path}.endPort"),
                    end,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
    Ok(())
}

/// `ValidateNetworkPolicyPeer`.
fn validate_peer(peer: &NetworkPolicyPeer, path: &str) -> Check {
    let mut peers = 0;
    if let Some(sel) = &peer.pod_selector {
        peers += 1;
        validate_selector(sel, &format!("{path}.podSelector"))?;
    }
    if let Some(sel) = &peer.namespace_selector {
        peers += 1;
        validate_selector(sel, &format!("{path}.namespaceSelector"))?;
    }
    if let Some(block) = &peer.ip_block {
        peers += 1;
        validate_ip_block(block, &format!("{path}.ipBlock"))?;
    }
    if peers == 0 {
        return Err(required(path, "must specify a peer"));
    }
    if peers > 1 && peer.ip_block.is_some() {
        return Err(forbidden(
            path,
            "may not specify both ipBlock and another peer",
        ));
    }
    Ok(())
}

const CIDR_MSG: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

/// `ValidateIPBlock`: host bits in `cidr` are accepted (e.g. `10.244.1.10/4`).
fn validate_ip_block(block: &K8sIpBlock, path: &str) -> Check {
    if block.cidr.is_empty() {
        return Err(required(format!("{path}.cidr"), ""));
    }
    let cidr = parse_cidr_sloppy(&block.cidr)
        .map_err(|_| invalid(format!("{path}.cidr"), quote(&block.cidr), CIDR_MSG))?;
    for (k, except) in block.except.iter().enumerate() {
        let epath = format!("{path}.except[{k}]");
        let ex = parse_cidr_sloppy(except)
            .map_err(|_| invalid(epath.clone(), quote(except), CIDR_MSG))?;
        if !is_strict_subset(&cidr, &ex) {
            return Err(invalid(
                epath,
                quote(except),
                "must be a strict subset of `cidr`",
            ));
        }
    }
    Ok(())
}
