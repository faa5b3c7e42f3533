//! Builds the standard scenario cluster as a testbed and leaves it running, or removes one:
//!
//! ```text
//! cargo run -p tierwall-testbed --example standard_testbed -- up      # prints the prefix
//! ip netns exec <prefix>-x-a target/debug/tierwall-probe-helper probe --tcp 10.10.2.12:80
//! cargo run -p tierwall-testbed --example standard_testbed -- down <prefix>
//! ```
//!
//! (Root required. The probe helper is found next to the example binary's directory.)

use tierwall_engine::Engine;
use tierwall_scenario::cluster::ClusterModel;
use tierwall_testbed::{Testbed, TestbedOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["up"] => {
            let mut engine = Engine::new();
            for object in ClusterModel::standard().objects() {
                engine.apply(object)?;
            }
            let options =
                TestbedOptions::with_externals(vec![("ext-1".into(), "192.168.100.7".parse()?)]);
            let tb = Testbed::up(engine.cluster(), options)?;
            for note in tb.notes() {
                eprintln!("note: {note}");
            }
            println!("{}", tb.detach());
        }
        ["down", prefix] => tierwall_testbed::down_by_prefix(prefix)?,
        ["down-all"] => {
            for p in tierwall_testbed::down_all()? {
                println!("removed {p}");
            }
        }
        ["list"] => {
            for p in tierwall_testbed::list()? {
                println!("{p}");
            }
        }
        _ => return Err("usage: standard_testbed up | down <prefix> | down-all | list".into()),
    }
    Ok(())
}
