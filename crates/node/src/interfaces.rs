//! Which interface leads to each local Pod: read from the Node's routing table (a host route
//! per Pod, as the testbed and most routed CNIs install), so the agent needs nothing from the
//! controller but addresses.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;
use tierwall_dataplane::{InterfaceMap, NetnsTarget};

/// The host routes of the Node's namespace: Pod address → interface.
pub fn pod_interfaces(netns: &NetnsTarget) -> Result<InterfaceMap, String> {
    let mut out = BTreeMap::new();
    for family in ["-4", "-6"] {
        let mut command = Command::new("ip");
        if let NetnsTarget::Named(name) = netns {
            command.args(["-n", name]);
        }
        let output = command
            .args([family, "-j", "route", "show"])
            .output()
            .map_err(|e| format!("ip route show: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "ip route show: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        out.extend(host_routes(&output.stdout));
    }
    Ok(out)
}

/// Parses `ip -j route show` output: the routes to one address, with their device.
pub fn host_routes(json: &[u8]) -> BTreeMap<IpAddr, String> {
    let routes: Vec<serde_json::Value> = serde_json::from_slice(json).unwrap_or_default();
    routes
        .iter()
        .filter_map(|r| {
            let dst = r.get("dst")?.as_str()?;
            let dst = dst
                .strip_suffix("/32")
                .or(dst.strip_suffix("/128"))
                .unwrap_or(dst);
            let ip: IpAddr = dst.parse().ok()?;
            Some((ip, r.get("dev")?.as_str()?.to_string()))
        })
        .collect()
}
