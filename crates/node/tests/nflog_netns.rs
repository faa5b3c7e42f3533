//! Privileged: NFLOG packets logged by an nftables rule inside a throwaway network namespace
//! reach the reader with their prefix and header fields. The namespace is removed even when the
//! test fails; the host's own namespace and ruleset are never touched.

use std::process::Command;
use std::time::Duration;

struct Netns(String);

impl Netns {
    fn create() -> Option<Netns> {
        let name = format!("tw-nflog-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .ok()?
            .success();
        ok.then_some(Netns(name))
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .expect("ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn privileged() -> bool {
    nix::unistd::geteuid().is_root()
        && Command::new("nft")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

#[test]
fn logged_packets_reach_the_reader() {
    if !privileged() {
        eprintln!("SKIP logged_packets_reach_the_reader: needs root and nft");
        return;
    }
    let ns = Netns::create().expect("create netns");
    assert!(ns.run(&["ip", "link", "set", "lo", "up"]).status.success());
    let rules = "table inet twtest {\n chain out {\n  type filter hook output priority 0;\n  udp dport 5555 log group 7 prefix \"rule-7\"\n }\n}\n";
    let path = std::env::temp_dir().join(format!("{}.nft", ns.0));
    std::fs::write(&path, rules).expect("write rules");
    let out = ns.run(&["nft", "-f", path.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rx = tierwall_node::nflog::spawn_reader(Some(&ns.0), 7).expect("reader");
    let out = ns.run(&["python3", "-c", "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'hello', ('127.0.0.1', 5555))"]);
    assert!(
        out.status.success(),
        "send: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("an NFLOG packet");
    assert_eq!(p.prefix, "rule-7");
    assert_eq!(p.protocol, 17);
    assert_eq!(p.dst_port, Some(5555));
    assert_eq!(p.length, 33);
    assert_eq!(p.dst_ip.to_string(), "127.0.0.1");

    // Dropping the receiver ends the reader thread (and closes its socket in the namespace)
    // even though no further packet comes.
    assert_eq!(reader_threads(), 1);
    drop(rx);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while reader_threads() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        reader_threads(),
        0,
        "the NFLOG reader thread is still running"
    );
}

/// Threads of this process named like an NFLOG reader (`nflog-<netns>`).
fn reader_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("nflog-"))
                })
                .count()
        })
        .unwrap_or(0)
}
