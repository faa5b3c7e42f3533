//! The manager's persistent store: JSON documents keyed by their NSX path, with NSX system
//! fields, behind the [`Store`] trait, and its redb implementation [`RedbStore`].
//!
//! ```text
//!  API handler ──commit(Vec<WriteOp>)──► writer thread ──one redb write txn (fsync)──► file
//!      ▲                                   │ groups every batch waiting in the queue
//!      └───────────── Commit ◄─────────────┘ into one durable commit (group commit)
//! ```
//!
//! * A document is a JSON object stored under its path (`/infra/domains/default/groups/web`).
//!   The store stamps the system fields on every write: `_revision` (0 on create, +1 on every
//!   update), `_create_time`/`_create_user` (kept from the first write), `_last_modified_time`/
//!   `_last_modified_user`, and `unique_id` (a random UUID, kept). A put with
//!   [`Put::assign_rule_id`] also keeps or assigns `rule_id` from a global counter starting at
//!   1000, as NSX numbers rules.
//! * A batch ([`Store::commit`]) is atomic: every precondition is checked against the state the
//!   batch itself builds, and either every operation is written or none is.
//! * Durability: a commit returns only after redb has fsynced it ([`redb::Durability::Immediate`]),
//!   so a process killed with SIGKILL afterwards loses nothing acknowledged. Concurrent writers
//!   share one fsync: the writer thread drains its queue into a single transaction.
//! * Every successful batch increases the global revision by one.
//! * [`Store::export`] and [`Store::import`] move the whole state as one JSON document
//!   (`{"format": "tierwall-manager-export", "version": 1, "revision", "next_rule_id", "objects"}`).

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

/// A stored object: a JSON object with its system fields.
pub type Document = Map<String, Value>;

/// The `format` field of an export document.
pub const EXPORT_FORMAT: &str = "tierwall-manager-export";
/// The first `rule_id` the store assigns.
pub const FIRST_RULE_ID: u64 = 1000;

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const REVISION_KEY: &str = "revision";
const NEXT_RULE_ID_KEY: &str = "next_rule_id";
/// Batches the writer thread folds into one transaction at most.
const MAX_BATCHES_PER_COMMIT: usize = 512;

/// Fields the store owns: whatever a client sends for them is replaced.
pub const SYSTEM_FIELDS: &[&str] = &[
    "_revision",
    "_create_time",
    "_create_user",
    "_last_modified_time",
    "_last_modified_user",
    "unique_id",
];

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The precondition of a write did not hold: the object changed since the client read it.
    #[error("{path}: revision {expected} is stale (current revision {current})")]
    StaleRevision {
        path: String,
        expected: i64,
        current: i64,
    },
    /// The write needs an existing object.
    #[error("{path}: no such object")]
    NotFound { path: String },
    /// The write needs the object to be absent.
    #[error("{path}: object already exists")]
    AlreadyExists { path: String },
    /// A stored value is not a JSON object (a damaged file or a bad import).
    #[error("{path}: stored value is not a JSON object: {reason}")]
    Corrupt { path: String, reason: String },
    /// An import document has the wrong shape.
    #[error("import: {0}")]
    BadImport(String),
    /// The database failed (I/O, locking, a damaged file).
    #[error("store: {0}")]
    Backend(String),
    /// Another process (or handle) has the database open: redb locks the file while it is open.
    #[error("store {path}: in use by another process (a manager running on it?)")]
    InUse { path: String },
    /// The writer thread is gone (the store is shutting down).
    #[error("store: the writer thread has stopped")]
    WriterStopped,
}

fn backend<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Backend(e.into().to_string())
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Anything: create or replace.
    Any,
    /// An existing object with exactly this `_revision`.
    Revision(i64),
    /// An existing object.
    Exists,
    /// No object.
    Absent,
}

/// Creates or replaces one document.
#[derive(Debug, Clone)]
pub struct Put {
    /// The NSX path, also the key.
    pub path: String,
    /// The body; system fields in it are ignored.
    pub body: Document,
    pub expect: Expect,
    /// The user written into `_create_user` / `_last_modified_user`.
    pub user: String,
    /// Keep (or assign, on create) an integer `rule_id`.
    pub assign_rule_id: bool,
}

/// One operation of a batch.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Put(Put),
    /// Removes `path` and every document below it (`path/...`).
    DeleteTree {
        path: String,
        expect: Expect,
    },
}

/// The result of a committed batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The global revision after the batch.
    pub revision: u64,
    /// Per operation: the stored document for a put, `None` for a delete.
    pub documents: Vec<Option<Document>>,
}

/// A persistent store of NSX documents.
pub trait Store: Send + Sync + 'static {
    /// The document at `path`.
    fn get(&self, path: &str) -> Result<Option<Document>, StoreError>;
    /// Every document whose path starts with `prefix`, ordered by path.
    fn scan(&self, prefix: &str) -> Result<Vec<(String, Document)>, StoreError>;
    /// Applies a batch atomically and durably.
    fn commit(&self, ops: Vec<WriteOp>) -> Result<Commit, StoreError>;
    /// The global revision (number of committed batches).
    fn revision(&self) -> Result<u64, StoreError>;
    /// The whole state as one JSON document.
    fn export(&self) -> Result<Value, StoreError>;
    /// Replaces the whole state with an export document, in one durable commit.
    fn import(&self, dump: &Value) -> Result<(), StoreError>;
}

/// The direct children of `parent` in `collection` (`{parent}/{collection}/{id}`), ordered by id.
pub fn children(
    store: &dyn Store,
    parent: &str,
    collection: &str,
) -> Result<Vec<(String, Document)>, StoreError> {
    let prefix = format!("{parent}/{collection}/");
    Ok(store
        .scan(&prefix)?
        .into_iter()
        .filter(|(path, _)| !path[prefix.len()..].contains('/'))
        .collect())
}

/// Milliseconds since the Unix epoch, as NSX timestamps are.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A random (version 4) UUID.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: fall back to the clock, still unique enough per process.
        b[..8].copy_from_slice(&now_millis().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

// === impl RedbStore ===

type Reply = mpsc::Sender<Result<Commit, StoreError>>;

enum WriterJob {
    Batch(Vec<WriteOp>, Reply),
    Import(Value, mpsc::Sender<Result<(), StoreError>>),
}

/// The redb-backed store: one file, `manager.redb`, in the data directory.
///
/// Dropping it stops the writer thread and closes the file.
pub struct RedbStore {
    db: Arc<redb::Database>,
    writer: std::sync::Mutex<Option<mpsc::Sender<WriterJob>>>,
    writer_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RedbStore {
    /// Opens (or creates) `<dir>/manager.redb`.
    pub fn open(dir: &Path) -> Result<RedbStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?;
        let file = dir.join("manager.redb");
        let db = redb::Database::create(&file).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: file.display().to_string(),
            },
            e => backend(e),
        })?;
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(OBJECTS).map_err(backend)?;
        txn.open_table(COUNTERS).map_err(backend)?;
        txn.commit().map_err(backend)?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<WriterJob>();
        let writer_db = Arc::clone(&db);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(&writer_db, &rx))
            .map_err(|e| StoreError::Backend(format!("spawn writer: {e}")))?;
        Ok(RedbStore {
            db,
            writer: std::sync::Mutex::new(Some(tx)),
            writer_thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    fn send(&self, job: WriterJob) -> Result<(), StoreError> {
        let tx = self
            .writer
            .lock()
            .map_err(|_| StoreError::WriterStopped)?
            .clone()
            .ok_or(StoreError::WriterStopped)?;
        tx.send(job).map_err(|_| StoreError::WriterStopped)
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Some(t) = self.writer_thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Store for RedbStore {
    fn get(&self, path: &str) -> Result<Option<Document>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(OBJECTS).map_err(backend)?;
        match table.get(path).map_err(backend)? {
            Some(v) => decode(path, v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn scan(&self, prefix: &str) -> Result<Vec<(String, Document)>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(OBJECTS).map_err(backend)?;
        let mut out = Vec::new();
        for item in table.range(prefix..).map_err(backend)? {
            let (k, v) = item.map_err(backend)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_string(), decode(key, v.value())?));
        }
        Ok(out)
    }

    fn commit(&self, ops: Vec<WriteOp>) -> Result<Commit, StoreError> {
        let (tx, rx) = mpsc::channel();
        self.send(WriterJob::Batch(ops, tx))?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    fn revision(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(COUNTERS).map_err(backend)?;
        Ok(table
            .get(REVISION_KEY)
            .map_err(backend)?
            .map_or(0, |v| v.value()))
    }

    fn export(&self) -> Result<Value, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let counters = txn.open_table(COUNTERS).map_err(backend)?;
        let counter = |key: &str, default: u64| -> Result<u64, StoreError> {
            Ok(counters
                .get(key)
                .map_err(backend)?
                .map_or(default, |v| v.value()))
        };
        let revision = counter(REVISION_KEY, 0)?;
        let next_rule_id = counter(NEXT_RULE_ID_KEY, FIRST_RULE_ID)?;
        let table = txn.open_table(OBJECTS).map_err(backend)?;
        let mut objects = Map::new();
        for item in table.iter().map_err(backend)? {
            let (k, v) = item.map_err(backend)?;
            objects.insert(
                k.value().to_string(),
                Value::Object(decode(k.value(), v.value())?),
            );
        }
        Ok(json!({
            "format": EXPORT_FORMAT,
            "version": 1,
            "revision": revision,
            "next_rule_id": next_rule_id,
            "objects": objects,
        }))
    }

    fn import(&self, dump: &Value) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::channel();
        self.send(WriterJob::Import(dump.clone(), tx))?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }
}

fn decode(path: &str, bytes: &[u8]) -> Result<Document, StoreError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(StoreError::Corrupt {
            path: path.to_string(),
            reason: "not an object".into(),
        }),
        Err(e) => Err(StoreError::Corrupt {
            path: path.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn writer_loop(db: &redb::Database, rx: &mpsc::Receiver<WriterJob>) {
    while let Ok(first) = rx.recv() {
        let mut batches: Vec<(Vec<WriteOp>, Reply)> = Vec::new();
        let mut pending = Some(first);
        loop {
            match pending.take() {
                Some(WriterJob::Batch(ops, reply)) => batches.push((ops, reply)),
                Some(WriterJob::Import(dump, reply)) => {
                    // Keep order: commit what came before, then the import on its own.
                    commit_batches(db, std::mem::take(&mut batches));
                    let _ = reply.send(import_into(db, &dump));
                }
                None => {}
            }
            if batches.len() >= MAX_BATCHES_PER_COMMIT {
                break;
            }
            match rx.try_recv() {
                Ok(job) => pending = Some(job),
                Err(_) => break,
            }
        }
        commit_batches(db, batches);
    }
}

/// The changes of one transaction not yet written to the table: path → new value (None = deleted).
struct Overlay<'t> {
    table: &'t redb::Table<'t, &'static str, &'static [u8]>,
    changes: BTreeMap<String, Option<Document>>,
}

impl Overlay<'_> {
    fn get(&self, path: &str) -> Result<Option<Document>, StoreError> {
        if let Some(v) = self.changes.get(path) {
            return Ok(v.clone());
        }
        match self.table.get(path).map_err(backend)? {
            Some(v) => decode(path, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Every live path equal to `path` or below it.
    fn tree(&self, path: &str) -> Result<Vec<String>, StoreError> {
        let below = format!("{path}/");
        let mut out: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for item in self.table.range(path..).map_err(backend)? {
            let (k, _) = item.map_err(backend)?;
            let key = k.value();
            if key != path && !key.starts_with(&below) {
                if key > below.as_str() {
                    break;
                }
                continue;
            }
            out.insert(key.to_string());
        }
        for (k, v) in &self.changes {
            if k == path || k.starts_with(&below) {
                if v.is_some() {
                    out.insert(k.clone());
                } else {
                    out.remove(k);
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

fn check(path: &str, expect: Expect, current: Option<&Document>) -> Result<(), StoreError> {
    let current_revision = current
        .and_then(|d| d.get("_revision"))
        .and_then(Value::as_i64);
    match (expect, current) {
        (Expect::Any, _) => Ok(()),
        (Expect::Exists, Some(_)) => Ok(()),
        (Expect::Absent, None) => Ok(()),
        (Expect::Absent, Some(_)) => Err(StoreError::AlreadyExists { path: path.into() }),
        (Expect::Exists | Expect::Revision(_), None) => {
            Err(StoreError::NotFound { path: path.into() })
        }
        (Expect::Revision(r), Some(_)) if Some(r) == current_revision => Ok(()),
        (Expect::Revision(r), Some(_)) => Err(StoreError::StaleRevision {
            path: path.into(),
            expected: r,
            current: current_revision.unwrap_or(-1),
        }),
    }
}

/// Applies one batch to the overlay copy; on error nothing of the batch is kept.
fn apply_batch(
    overlay: &mut Overlay<'_>,
    next_rule_id: &mut u64,
    ops: Vec<WriteOp>,
    now: i64,
) -> Result<Vec<Option<Document>>, StoreError> {
    let saved = overlay.changes.clone();
    let saved_rule_id = *next_rule_id;
    let result = (|| {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                WriteOp::Put(put) => {
                    let prev = overlay.get(&put.path)?;
                    check(&put.path, put.expect, prev.as_ref())?;
                    let doc = stamp(put, prev.as_ref(), next_rule_id, now);
                    overlay
                        .changes
                        .insert(doc_path(&doc).to_string(), Some(doc.clone()));
                    out.push(Some(doc));
                }
                WriteOp::DeleteTree { path, expect } => {
                    let prev = overlay.get(&path)?;
                    check(&path, expect, prev.as_ref())?;
                    for p in overlay.tree(&path)? {
                        overlay.changes.insert(p, None);
                    }
                    out.push(None);
                }
            }
        }
        Ok(out)
    })();
    if result.is_err() {
        overlay.changes = saved;
        *next_rule_id = saved_rule_id;
    }
    result
}

fn doc_path(doc: &Document) -> &str {
    doc.get("path").and_then(Value::as_str).unwrap_or_default()
}

/// The stored form of a put: the body with the system fields set from the previous version.
fn stamp(put: Put, prev: Option<&Document>, next_rule_id: &mut u64, now: i64) -> Document {
    let Put {
        path,
        mut body,
        user,
        assign_rule_id,
        ..
    } = put;
    for f in SYSTEM_FIELDS {
        body.remove(*f);
    }
    let prev_field = |name: &str| prev.and_then(|p| p.get(name)).cloned();
    let revision = prev_field("_revision")
        .and_then(|v| v.as_i64())
        .map_or(0, |r| r + 1);
    body.insert("path".into(), Value::String(path));
    body.insert("_revision".into(), json!(revision));
    body.insert(
        "_create_time".into(),
        prev_field("_create_time").unwrap_or(json!(now)),
    );
    body.insert(
        "_create_user".into(),
        prev_field("_create_user").unwrap_or(json!(user)),
    );
    body.insert("_last_modified_time".into(), json!(now));
    body.insert("_last_modified_user".into(), json!(user));
    body.insert(
        "unique_id".into(),
        prev_field("unique_id").unwrap_or_else(|| json!(random_uuid())),
    );
    if assign_rule_id {
        let id = match prev_field("rule_id").and_then(|v| v.as_u64()) {
            Some(id) => id,
            None => {
                let id = *next_rule_id;
                *next_rule_id += 1;
                id
            }
        };
        body.insert("rule_id".into(), json!(id));
    }
    body
}

fn commit_batches(db: &redb::Database, batches: Vec<(Vec<WriteOp>, Reply)>) {
    if batches.is_empty() {
        return;
    }
    match write_batches(db, batches) {
        Ok(replies) => {
            for (reply, result) in replies {
                let _ = reply.send(result);
            }
        }
        Err((replies, e)) => {
            // The transaction itself failed: nothing was written, every caller gets the error.
            for reply in replies {
                let _ = reply.send(Err(StoreError::Backend(e.to_string())));
            }
        }
    }
}

type BatchReplies = Vec<(Reply, Result<Commit, StoreError>)>;

fn write_batches(
    db: &redb::Database,
    batches: Vec<(Vec<WriteOp>, Reply)>,
) -> Result<BatchReplies, (Vec<Reply>, StoreError)> {
    let mut replies: Vec<Reply> = Vec::with_capacity(batches.len());
    let mut results: Vec<Result<Vec<Option<Document>>, StoreError>> = Vec::new();
    let fail = |replies: Vec<Reply>, rest: Vec<Reply>, e: StoreError| {
        let mut all = replies;
        all.extend(rest);
        (all, e)
    };
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let all = batches.into_iter().map(|(_, r)| r).collect();
            return Err((all, backend(e)));
        }
    };
    let now = now_millis();
    let outcome = (|| -> Result<u64, StoreError> {
        let mut counters = txn.open_table(COUNTERS).map_err(backend)?;
        let mut revision = counters
            .get(REVISION_KEY)
            .map_err(backend)?
            .map_or(0, |v| v.value());
        let mut next_rule_id = counters
            .get(NEXT_RULE_ID_KEY)
            .map_err(backend)?
            .map_or(FIRST_RULE_ID, |v| v.value());
        let mut table = txn.open_table(OBJECTS).map_err(backend)?;
        let changes = {
            let mut overlay = Overlay {
                table: &table,
                changes: BTreeMap::new(),
            };
            for (ops, reply) in batches {
                let r = apply_batch(&mut overlay, &mut next_rule_id, ops, now);
                if r.is_ok() {
                    revision += 1;
                }
                results.push(r);
                replies.push(reply);
            }
            overlay.changes
        };
        for (path, doc) in changes {
            match doc {
                Some(d) => {
                    let bytes = serde_json::to_vec(&d)
                        .map_err(|e| StoreError::Backend(format!("encode {path}: {e}")))?;
                    table
                        .insert(path.as_str(), bytes.as_slice())
                        .map_err(backend)?;
                }
                None => {
                    table.remove(path.as_str()).map_err(backend)?;
                }
            }
        }
        counters.insert(REVISION_KEY, revision).map_err(backend)?;
        counters
            .insert(NEXT_RULE_ID_KEY, next_rule_id)
            .map_err(backend)?;
        Ok(revision)
    })();
    let final_revision = match outcome {
        Ok(r) => r,
        Err(e) => return Err(fail(replies, Vec::new(), e)),
    };
    if let Err(e) = txn.commit() {
        return Err(fail(replies, Vec::new(), backend(e)));
    }
    // Batches that failed did not advance the revision; report each successful one with the
    // revision it produced.
    let successes = results.iter().filter(|r| r.is_ok()).count() as u64;
    let mut revision = final_revision - successes;
    Ok(replies
        .into_iter()
        .zip(results)
        .map(|(reply, r)| {
            let r = r.map(|documents| {
                revision += 1;
                Commit {
                    revision,
                    documents,
                }
            });
            (reply, r)
        })
        .collect())
}

fn import_into(db: &redb::Database, dump: &Value) -> Result<(), StoreError> {
    if dump.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        return Err(StoreError::BadImport(format!(
            "not a {EXPORT_FORMAT} document (missing \"format\")"
        )));
    }
    let objects = dump
        .get("objects")
        .and_then(Value::as_object)
        .ok_or_else(|| StoreError::BadImport("\"objects\" must be an object".into()))?;
    let counter =
        |key: &str, default: u64| dump.get(key).and_then(Value::as_u64).unwrap_or(default);
    let txn = db.begin_write().map_err(backend)?;
    {
        let mut table = txn.open_table(OBJECTS).map_err(backend)?;
        table.retain(|_, _| false).map_err(backend)?;
        for (path, doc) in objects {
            if !doc.is_object() {
                return Err(StoreError::BadImport(format!("{path}: not an object")));
            }
            let bytes = serde_json::to_vec(doc)
                .map_err(|e| StoreError::BadImport(format!("{path}: {e}")))?;
            table
                .insert(path.as_str(), bytes.as_slice())
                .map_err(backend)?;
        }
        let mut counters = txn.open_table(COUNTERS).map_err(backend)?;
        counters
            .insert(REVISION_KEY, counter("revision", 0))
            .map_err(backend)?;
        counters
            .insert(NEXT_RULE_ID_KEY, counter("next_rule_id", FIRST_RULE_ID))
            .map_err(backend)?;
    }
    txn.commit().map_err(backend)?;
    Ok(())
}
