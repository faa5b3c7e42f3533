//! Core `v1` objects the policies select: Namespace (mutation: the API server's
//! `kubernetes.io/metadata.name=<name>` label), Pod (Pod IPs parse; container ports in range,
//! named with an IANA service name, protocol TCP|UDP|SCTP), Service (ClusterIPs parse or are
//! `None`; ports, target ports, node ports in range). Nodes and ServiceAccounts only get the
//! metadata checks.

use super::field::{Check, invalid, invalid_all, not_supported, quote};
use super::labels::{port_name_errors, port_num_errors};
use super::net::parse_ip;
use tierwall_model::IntOrString;
use tierwall_model::k8s::{ContainerPort, Namespace, Pod, Service};

/// Label Kubernetes sets on every Namespace to its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// Namespace defaulting: the name label is forced to the Namespace's name.
pub fn mutate_namespace(ns: &mut Namespace) {
    let name = ns.metadata.name.clone();
    ns.metadata
        .labels
        .insert(NAMESPACE_NAME_LABEL.to_string(), name);
}

fn check_protocol(path: String, protocol: Option<&str>) -> Check {
    match protocol {
        Some(p) if !PROTOCOLS.contains(&p) => Err(not_supported(path, quote(p), &PROTOCOLS)),
        _ => Ok(()),
    }
}

fn check_container_port(port: &ContainerPort, path: &str) -> Check {
    let errs = port_num_errors(port.container_port.into());
    if !errs.is_empty() {
        return Err(invalid_all(
            format!("{path}.containerPort"),
            port.container_port,
            &errs,
        ));
    }
    if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
        let errs = port_name_errors(name);
        if !errs.is_empty() {
            return Err(invalid_all(format!("{path}.name"), quote(name), &errs));
        }
    }
    check_protocol(format!("{path}.protocol"), port.protocol.as_deref())
}

/// Pod spec and status checks.
pub fn validate_pod(pod: &Pod) -> Check {
    for (list, name) in [
        (&pod.spec.init_containers, "initContainers"),
        (&pod.spec.containers, "containers"),
    ] {
        for (i, c) in list.iter().enumerate() {
            for (j, port) in c.ports.iter().enumerate() {
                check_container_port(port, &format!("spec.{name}[{i}].ports[{j}]"))?;
            }
        }
    }
    if let Some(status) = &pod.status {
        if let Some(ip) = status.pod_ip.as_deref().filter(|ip| !ip.is_empty())
            && parse_ip(ip).is_none()
        {
            return Err(invalid("status.podIP", quote(ip), IP_MSG));
        }
        for (i, entry) in status.pod_i_ps.iter().enumerate() {
            if parse_ip(&entry.ip).is_none() {
                return Err(invalid(
                    format!("status.podIPs[{i}].ip"),
                    quote(&entry.ip),
                    IP_MSG,
                ));
            }
        }
    }
    Ok(())
}

/// Service spec checks.
pub fn validate_service(svc: &Service) -> Check {
    let spec = &svc.spec;
    let cluster_ip_ok = |ip: &str| ip.is_empty() || ip == "None" || parse_ip(ip).is_some();
    const CLUSTER_IP_MSG: &str = "must be empty, 'None', or a valid IP address";
    if let Some(ip) = spec.cluster_ip.as_deref()
        && !cluster_ip_ok(ip)
    {
        return Err(invalid("spec.clusterIP", quote(ip), CLUSTER_IP_MSG));
    }
    for (i, ip) in spec.cluster_ips.iter().enumerate() {
        if !cluster_ip_ok(ip) {
            return Err(invalid(
                format!("spec.clusterIPs[{i}]"),
                quote(ip),
                CLUSTER_IP_MSG,
            ));
        }
    }
    for (i, port) in spec.ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let errs = port_num_errors(port.port.into());
        if !errs.is_empty() {
            return Err(invalid_all(format!("{path}.port"), port.port, &errs));
        }
        check_protocol(format!("{path}.protocol"), port.protocol.as_deref())?;
        match &port.target_port {
            Some(IntOrString::Int(0)) | None => {}
            Some(IntOrString::Int(t)) => {
                let errs = port_num_errors(*t);
                if !errs.is_empty() {
                    return Err(invalid_all(format!("{path}.targetPort"), t, &errs));
                }
            }
            Some(IntOrString::String(name)) => {
                let errs = port_name_errors(name);
                if !errs.is_empty() {
                    return Err(invalid_all(
                        format!("{path}.targetPort"),
                        quote(name),
                        &errs,
                    ));
                }
            }
        }
        if let Some(node_port) = port.node_port.filter(|p| *p != 0) {
            let errs = port_num_errors(node_port.into());
            if !errs.is_empty() {
                return Err(invalid_all(format!("{path}.nodePort"), node_port, &errs));
            }
        }
    }
    Ok(())
}
