//! `tierwall manager` as a real process: every acknowledged write survives `kill -9`,
//! `manager export` / `manager import` move the state to another data directory, and an export
//! started right after SIGTERM (`kill %1; tierwall manager export`) waits for the stopping
//! manager to close its store instead of failing with "Database already open".

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const PASSWORD: &str = "durable-pw";
/// base64("admin:durable-pw")
const BASIC: &str = "YWRtaW46ZHVyYWJsZS1wdw==";

struct Manager {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path) -> Manager {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args([
            "manager",
            "--listen",
            "127.0.0.1:0",
            "--insecure-http",
            "--data",
        ])
        .arg(data)
        .env("TIERWALL_ADMIN_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn tierwall: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("read: {e}"));
    let addr = line
        .trim()
        .rsplit("://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Manager { child, addr }
}

/// One HTTP/1.1 request; returns status and body.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {BASIC}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .unwrap_or_else(|e| panic!("read: {e}"));
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn group_path(i: usize) -> String {
    format!("/policy/api/v1/infra/domains/default/groups/g{i}")
}

/// Creates the empty Antrea group `g<i>`; fails the test unless it is acknowledged.
fn put_group(addr: SocketAddr, i: usize) {
    let (status, body) = request(
        addr,
        "PUT",
        &group_path(i),
        r#"{"group_type":["ANTREA"],"expression":[]}"#,
    );
    assert_eq!(status, 200, "{body}");
}

fn revision_of(body: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("_revision")?
        .as_i64()
}

#[test]
fn acknowledged_writes_survive_kill_9_and_export_import_moves_them() {
    let dir = tempfile_dir("kill9");
    let data = dir.join("data");
    let written = 40;
    {
        let m = start(&data);
        for i in 0..written {
            put_group(m.addr, i);
        }
        // One more revision on g0, acknowledged just before the kill.
        let (status, body) = request(
            m.addr,
            "PUT",
            &group_path(0),
            r#"{"_revision":0,"description":"last"}"#,
        );
        assert_eq!((status, revision_of(&body)), (200, Some(1)), "{body}");
        // Drop sends SIGKILL: no shutdown path runs.
    }
    let m = start(&data);
    for i in 0..written {
        let (status, body) = request(m.addr, "GET", &group_path(i), "");
        assert_eq!(status, 200, "g{i} lost after kill -9: {body}");
    }
    let (_, body) = request(m.addr, "GET", &group_path(0), "");
    assert_eq!(revision_of(&body), Some(1));
    assert!(body.contains("\"last\""), "{body}");
    drop(m);

    // export from the killed store, import into a fresh directory, serve it.
    let export = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(["manager", "export", "--data"])
        .arg(&data)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let file = dir.join("export.json");
    std::fs::write(&file, &export.stdout).unwrap_or_else(|e| panic!("{e}"));
    let copy = dir.join("copy");
    let import = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(["manager", "import", "--data"])
        .arg(&copy)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let m = start(&copy);
    let (status, body) = request(m.addr, "GET", &group_path(written - 1), "");
    assert_eq!(status, 200, "{body}");
    let (_, list) = request(
        m.addr,
        "GET",
        "/policy/api/v1/infra/domains/default/groups",
        "",
    );
    assert!(
        list.contains(&format!("\"result_count\":{written}")),
        "{list}"
    );
    drop(m);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tierwall-manager-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

#[test]
fn the_manager_refuses_to_start_without_an_admin_password() {
    let dir = tempfile_dir("nopw");
    let out = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args([
            "manager",
            "--listen",
            "127.0.0.1:0",
            "--insecure-http",
            "--data",
        ])
        .arg(dir.join("data"))
        .env_remove("TIERWALL_ADMIN_PASSWORD")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TIERWALL_ADMIN_PASSWORD"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tierwall manager export --data DATA` plus `extra` arguments.
fn export(data: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(["manager", "export", "--data"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn export_right_after_sigterm_waits_for_the_manager_to_close_its_store() {
    let dir = tempfile_dir("sigterm");
    let data = dir.join("data");
    // The race was lost about one time in three: five rounds.
    for round in 0..5 {
        let mut m = start(&data);
        put_group(m.addr, round);
        let term = Command::new("kill")
            .args(["-TERM", &m.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(term.success());
        let out = export(&data, &[]);
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = String::from_utf8_lossy(&out.stdout);
        assert!(dump.contains(&format!("groups/g{round}")), "{dump}");
        let status = m.child.wait().unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success(), "SIGTERM is a graceful stop: {status}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_waits_for_a_store_in_use_and_says_why_it_gives_up() {
    let dir = tempfile_dir("inuse");
    let data = dir.join("data");
    let held = tierwall_manager::store::RedbStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
    let out = export(&data, &["--wait", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "waiting up to 1 s for the store in {}: another process has it open",
            data.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("is still in use by another process after 1 s: stop the manager"),
        "{err}"
    );
    // Released while the export waits: the export goes on.
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        drop(held);
    });
    let out = export(&data, &["--wait", "10"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("waiting up to 10 s"));
    let _ = release.join();
    let _ = std::fs::remove_dir_all(&dir);
}
