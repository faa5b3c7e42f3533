//! `tierwall apply`/`delete --testbed PREFIX` while `tierwall controller --testbed PREFIX` runs:
//! the controller owns the Nodes (its agents program them), so the changes go through its API
//! and land as files in its watched directory, where they stay the desired state. Nothing here
//! writes a table.
//!
//! ```text
//!  apply: inputs ──admission against the testbed's objects (as without a controller: any
//!         rejection changes nothing)──> PUT /objects/KIND[/NS]/NAME per object, in apply order
//!         ──> `<kind>/<name> created|configured|unchanged` on stdout
//!  delete: keys ──DELETE /objects/KIND[/NS]/NAME──> `<kind> "<name>" deleted`
//!  the controller: writes DIR/<kind>-[<ns>-]<name>.yaml, applies it, its agents enforce it
//! ```
//!
//! A refusal by the controller (an object defined in one of its files together with others: 409;
//! admission: 422) stops at that object and names it; the objects before it are in force.

use anyhow::{Context, bail};
use std::io::Write;
use tierwall_adapter::controller_client::ControllerClient;
use tierwall_lab::controller_record::ControllerRecord;
use tierwall_model::{Object, ObjectKey};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP client's runtime")
}

fn client(record: &ControllerRecord) -> anyhow::Result<ControllerClient> {
    ControllerClient::with_identity(&record.api, record.client_identity.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The line that says where the change goes (stderr).
pub fn announce(
    prefix: &str,
    record: &ControllerRecord,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    writeln!(
        err,
        "testbed {prefix}: controller {} (pid {}) owns its Nodes: sending the change through \
         it (files in {})",
        record.api,
        record.pid,
        record.manifests.display()
    )?;
    Ok(())
}

/// Writes `objects` (already admitted against the testbed's objects) through the controller.
/// Returns the `<resource>/<name> <result>` lines, in the order given.
pub fn apply(
    prefix: &str,
    record: &ControllerRecord,
    objects: &[(String, Object)],
) -> anyhow::Result<Vec<String>> {
    let client = client(record)?;
    let runtime = runtime()?;
    let mut lines = Vec::new();
    for (written, (resource, object)) in objects.iter().enumerate() {
        let key = object.key();
        let body = serde_json::to_value(object).with_context(|| format!("serializing {key}"))?;
        let answer = runtime
            .block_on(client.put_object(&key, &body))
            .map_err(|e| refused(prefix, record, &key, written, &e.to_string()))?;
        let result = answer["result"].as_str().unwrap_or("applied");
        lines.push(format!("{resource} {result}"));
    }
    Ok(lines)
}

/// Deletes `keys` through the controller. Returns the `<resource> "<name>" deleted` lines.
pub fn delete(
    prefix: &str,
    record: &ControllerRecord,
    keys: &[(String, ObjectKey)],
) -> anyhow::Result<Vec<String>> {
    let client = client(record)?;
    let runtime = runtime()?;
    let mut lines = Vec::new();
    for (done, (resource, key)) in keys.iter().enumerate() {
        runtime
            .block_on(client.delete_object(key))
            .map_err(|e| refused(prefix, record, key, done, &e.to_string()))?;
        lines.push(format!("{resource} \"{}\" deleted", key.name));
    }
    Ok(lines)
}

fn refused(
    prefix: &str,
    record: &ControllerRecord,
    key: &ObjectKey,
    done: usize,
    message: &str,
) -> anyhow::Error {
    let before = match done {
        0 => "nothing changed".to_string(),
        n => format!("the {n} object(s) before it are in force"),
    };
    anyhow::anyhow!(
        "{key}: the controller of testbed {prefix} ({}) refused it: {message}; {before}",
        record.api
    )
}

/// Fails when the record names a controller whose API does not answer.
pub fn check_reachable(prefix: &str, record: &ControllerRecord) -> anyhow::Result<()> {
    let client = client(record)?;
    match runtime()?.block_on(client.status()) {
        Ok(_) => Ok(()),
        Err(e) => bail!(
            "testbed {prefix}: its controller (pid {}) does not answer on {}: {e}; nothing \
             changed (stop that controller, or wait until it listens)",
            record.pid,
            record.api
        ),
    }
}
