//! The README's quickstart (`examples/quickstart` on the standard cluster) decides exactly what
//! the README says it does.

use std::path::PathBuf;
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::{Engine, ProbeTransport, Source, Target};
use tierwall_scenario::cluster::ClusterModel;

#[test]
fn quickstart_matrix() {
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).unwrap();
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    for o in tierwall_model::load_path(&dir).unwrap() {
        engine
            .apply(o.object)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", o.source, o.line));
    }
    // Rows: sources x/a..z/c; columns: destinations in the same order.
    let expected = [
        "-.. RRR XXX", // x/a
        ".-. X.X XXX", // x/b
        "X.- X.X XXX", // x/c
        "X.. -.. XXX",
        "X.. .-. XXX",
        "X.. ..- XXX",
        "X.. X.X -.X",
        "X.. X.X .-X",
        "X.. X.X ..-",
    ];
    let pods: Vec<(String, String)> = engine.cluster().pods.keys().cloned().collect();
    let t = ProbeTransport::L4 {
        protocol: L4Protocol::Tcp,
        port: 80,
        src_port: 40000,
    };
    let mut got = Vec::new();
    for (sn, sp) in &pods {
        let mut row = String::new();
        for (i, (dn, dp)) in pods.iter().enumerate() {
            if i > 0 && i % 3 == 0 {
                row.push(' ');
            }
            if (sn, sp) == (dn, dp) {
                row.push('-');
                continue;
            }
            let v = engine.probe(
                &Source::Pod {
                    namespace: sn.clone(),
                    name: sp.clone(),
                },
                &Target::Pod {
                    namespace: dn.clone(),
                    name: dp.clone(),
                },
                t,
            );
            row.push(v.outcome.cell());
        }
        got.push(row);
    }
    assert_eq!(
        got,
        expected.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
}
