//! Privileged: `tierwall demo` measures the quickstart matrix with real packets, agrees with the
//! engine on every pair, writes np.log lines for the logged rules and removes its testbed, but
//! keeps the np.log files whose paths it printed.

#[test]
fn demo_runs_on_real_packets_and_cleans_up() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED demo_runs_on_real_packets_and_cleans_up: needs root");
        return;
    }
    let probe_helper = tierwall_testbed::ProbeHelperCommand::locate().ok();
    if probe_helper.is_none() {
        eprintln!(
            "SKIPPED demo_runs_on_real_packets_and_cleans_up: tierwall-probe-helper not built"
        );
        return;
    }
    let mut out = Vec::new();
    let report = tierwall_lab::demo::run(&mut out, probe_helper)
        .unwrap_or_else(|e| panic!("demo failed: {e}\n{}", String::from_utf8_lossy(&out)));
    let text = String::from_utf8_lossy(&out);
    assert!(
        report.disagreements.is_empty(),
        "{:?}",
        report.disagreements
    );
    assert_eq!(report.cells.len(), 72);
    use tierwall_engine::Outcome::*;
    assert_eq!(
        report.cells[&("x/a".to_string(), "y/b".to_string())],
        Rejected
    );
    assert_eq!(
        report.cells[&("x/c".to_string(), "x/a".to_string())],
        Dropped
    );
    assert_eq!(
        report.cells[&("x/b".to_string(), "x/a".to_string())],
        Connected
    );
    assert!(report.log_lines >= 3, "{text}");
    assert!(text.contains("reject-to-y Egress Reject"), "{text}");
    // Every np.log path the demo printed still exists after its teardown.
    let printed: Vec<&str> = text
        .split_whitespace()
        .map(|w| w.trim_end_matches(')'))
        .filter(|w| w.ends_with("/np.log"))
        .collect();
    assert_eq!(printed.len(), 3, "one np.log per Node: {text}");
    for path in &printed {
        assert!(
            path.starts_with(&report.log_dir.display().to_string()),
            "{path}"
        );
        assert!(
            std::path::Path::new(path).exists(),
            "{path} printed but gone"
        );
    }
    let logged: usize = printed
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum();
    assert!(logged >= report.log_lines, "{logged} kept lines: {text}");
    assert!(
        text.contains(&format!(
            "the np.log files stay in {}",
            report.log_dir.display()
        )),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&report.log_dir);
    let left = tierwall_testbed::list().unwrap_or_default();
    assert!(
        !left.contains(&report.prefix),
        "the demo left its testbed {} behind",
        report.prefix
    );
}
