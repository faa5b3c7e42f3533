//! Writes the nft documents of the apply benchmark (node-0 of the 10,000-rule cluster: the
//! full table, the one-Pod change and its reverse) to a directory and prints how long
//! rendering and diffing take, to profile nft by hand (`nft -j -f DIR/full.json` in a
//! throwaway netns): `cargo run --release -p tierwall-dataplane --example bench_documents --
//! DIR [POLICIES]` (`RENDER_LOOPS=n` times `render_after` n times).

#[path = "../benches/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Instant;
use tierwall_dataplane::{RenderOptions, render, render_after};
use tierwall_engine::ruleset::node_rule_set;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/twdocs".into()));
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    std::fs::create_dir_all(&dir)?;
    let engine = support::engine_with(n);
    let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
    let ifaces = support::interfaces(&rules);
    let mut pod = engine
        .store()
        .get(&tierwall_model::ObjectKey::namespaced(
            tierwall_model::Kind::Pod,
            "x",
            "a",
        ))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no Pod x/a"))?;
    pod.metadata_mut()
        .labels
        .insert("app".into(), "bench-target".into());
    let mut relabelled = engine.clone();
    relabelled.apply(pod)?;
    let changed = node_rule_set(relabelled.cluster(), relabelled.table(), "node-0");

    let t = Instant::now();
    let a = render(&rules, &ifaces);
    let t_render = t.elapsed();
    let t = Instant::now();
    let b = render_after(&changed, &ifaces, &RenderOptions::default(), Some(&a));
    let t_render_after = t.elapsed();
    let t = Instant::now();
    let tx = a.diff(&b).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let t_diff = t.elapsed();
    let t = Instant::now();
    let full = a.full_document().to_json_string();
    let t_full = t.elapsed();
    let loops: usize = std::env::var("RENDER_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let t = Instant::now();
    for _ in 0..loops {
        std::hint::black_box(render_after(
            &changed,
            &ifaces,
            &RenderOptions::default(),
            Some(&a),
        ));
    }
    if loops > 0 {
        println!(
            "render_after ×{loops}: {:?} each",
            t.elapsed() / loops as u32
        );
        let t = Instant::now();
        for _ in 0..loops {
            std::hint::black_box(a.diff(&b).map_err(|e| anyhow::anyhow!("{e:?}"))?);
        }
        println!("diff ×{loops}: {:?} each", t.elapsed() / loops as u32);
    }
    std::fs::write(dir.join("full.json"), full)?;
    std::fs::write(dir.join("change.json"), tx.document.to_json_string())?;
    let back = b.diff(&a).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    std::fs::write(dir.join("change_back.json"), back.document.to_json_string())?;
    println!(
        "render {t_render:?}, render_after {t_render_after:?}, diff {t_diff:?}, full document \
         JSON {t_full:?}"
    );
    println!(
        "{} entries → {} nft rules, {} sets/maps, {} elements; change: {} commands",
        rules.rules().count(),
        a.rule_count(),
        a.sets.len(),
        a.element_count(),
        tx.document.commands(),
    );
    Ok(())
}
