//! `ManifestDirSource`: a directory of YAML/JSON manifests as a cluster's desired state.
//!
//! ```text
//!  poll(): list DIR recursively (*.yaml *.yml *.json; dot-files and dot-directories skipped)
//!     per file: (mtime, size) changed, or modified in the last 2 s ──> read, hash the content
//!        content changed ──> load every document (tierwall_model::load_str_each)
//!            all documents load ──> the file's objects := its documents
//!            any document fails ──> SourceEvent::Invalid, the file keeps its previous objects
//!     desired := the objects of every file in path order (a key defined twice: the first file
//!                wins, the other definition is a problem)
//!     diff(previous desired, desired) ──> SourceEvent::Apply / Delete
//! ```
//!
//! Nothing already desired is lost to a bad edit: a file that does not load (a typo, a
//! half-written file) keeps the objects of its last good content; a missing or unreadable
//! directory changes nothing. A file whose content changed less than `settle` ago is read again
//! on the next poll (writers that do not write atomically have finished by then), except files
//! this source wrote itself and on the first poll (start-up reads the directory as it is).
//!
//! Writes (`put`, `remove`) land as files: an object owned by a file that defines only that
//! object is written into that file; a new object goes to `<short kind>_<namespace>_<name>.json`
//! (`acnp_web.json`, `annp_x_allow.json`), written atomically (hidden temporary file + rename).
//! An object defined in a file together with others is not overwritten or removed
//! (`SourceError::Conflict`): edit that file.

use crate::source::{FieldLocator, Origin, SourceError, SourceEvent, StateSource, Written};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tierwall_model::{LoadError, LoadedObject, Object, ObjectKey};

/// Files modified this recently are re-read even when mtime and size look unchanged (a rewrite
/// within one timestamp tick keeps both).
const RECENT: Duration = Duration::from_secs(2);

/// A file as last seen.
#[derive(Debug, Clone, Default)]
struct FileState {
    mtime: Option<SystemTime>,
    size: u64,
    /// Hash of the content last read (`None`: never read successfully).
    hash: Option<u64>,
    /// Objects of the last content that loaded completely.
    objects: Vec<LoadedObject>,
    /// Problems of the current content (empty when it loaded).
    errors: Vec<LoadError>,
}

/// The watched directory.
#[derive(Debug)]
pub struct ManifestDirSource {
    dir: PathBuf,
    settle: Duration,
    files: BTreeMap<PathBuf, FileState>,
    /// The desired objects as last reported, with their owning file.
    desired: BTreeMap<ObjectKey, (Object, Origin, PathBuf)>,
    /// Objects defined twice (the later definitions).
    duplicates: Vec<LoadError>,
    /// Content hashes of files this source wrote (no settle delay for them).
    own_writes: BTreeMap<PathBuf, u64>,
    /// Whether a poll succeeded already (the first one reads every file, settled or not).
    polled: bool,
    locator: Option<FieldLocator>,
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn list_manifests(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if is_hidden(&p) {
            continue;
        }
        if p.is_dir() {
            list_manifests(&p, out)?;
        } else if is_manifest(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn problem(file: &Path, line: usize, object: Option<String>, message: String) -> LoadError {
    LoadError {
        source_name: file.display().to_string(),
        line,
        column: 1,
        object,
        field: None,
        message,
    }
}

/// The file name a new object is written to: `acnp_web.json`, `annp_x_allow.json`.
pub fn file_name_for(key: &ObjectKey) -> String {
    match &key.namespace {
        Some(ns) => format!("{}_{ns}_{}.json", key.kind.short_name(), key.name),
        None => format!("{}_{}.json", key.kind.short_name(), key.name),
    }
}

impl ManifestDirSource {
    /// Watches `dir`; content changed less than `settle` ago waits for the next poll.
    pub fn new(dir: impl Into<PathBuf>, settle: Duration) -> Self {
        ManifestDirSource {
            dir: dir.into(),
            settle,
            files: BTreeMap::new(),
            desired: BTreeMap::new(),
            duplicates: Vec::new(),
            own_writes: BTreeMap::new(),
            polled: false,
            locator: None,
        }
    }

    /// Points admission errors at the field's line and column (the CLI passes its YAML field
    /// locator).
    pub fn with_field_locator(mut self, locator: FieldLocator) -> Self {
        self.locator = Some(locator);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads one file; returns whether its objects or problems changed, and an `Invalid` event.
    fn refresh(&mut self, path: &Path, now: SystemTime) -> (bool, Option<SourceEvent>) {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            // Gone between listing and reading: the next poll sees it removed.
            Err(_) => return (false, None),
        };
        let mtime = meta.modified().ok();
        let size = meta.len();
        let recent = mtime.is_none_or(|m| now.duration_since(m).unwrap_or_default() < RECENT);
        if let Some(state) = self.files.get(path)
            && state.hash.is_some()
            && state.mtime == mtime
            && state.size == size
            && !recent
        {
            return (false, None);
        }
        let name = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                let state = self.files.entry(path.to_path_buf()).or_default();
                let errors = vec![problem(path, 0, None, format!("cannot read: {e}"))];
                let changed = state.errors != errors;
                state.errors = errors.clone();
                state.hash = None;
                return (
                    changed,
                    changed.then_some(SourceEvent::Invalid { file: name, errors }),
                );
            }
        };
        let hash = content_hash(&bytes);
        if let Some(state) = self.files.get_mut(path)
            && state.hash == Some(hash)
        {
            state.mtime = mtime;
            state.size = size;
            return (false, None);
        }
        let own = self.own_writes.get(path) == Some(&hash);
        let young = mtime.is_some_and(|m| now.duration_since(m).unwrap_or_default() < self.settle);
        if young && !own && self.polled {
            // Still being written, perhaps: look again next time.
            return (false, None);
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut objects = Vec::new();
        let mut errors = Vec::new();
        for r in tierwall_model::load_str_each(&name, &text) {
            match r {
                Ok(o) => objects.push(o),
                Err(e) => errors.push(e),
            }
        }
        let state = self.files.entry(path.to_path_buf()).or_default();
        state.mtime = mtime;
        state.size = size;
        state.hash = Some(hash);
        if errors.is_empty() {
            let changed = state.objects != objects || !state.errors.is_empty();
            state.objects = objects;
            state.errors.clear();
            (changed, None)
        } else {
            state.errors = errors.clone();
            (true, Some(SourceEvent::Invalid { file: name, errors }))
        }
    }

    /// Recomputes the desired objects from the files; returns the Apply/Delete events.
    /// Rebuilds the desired objects from the files; `changed` are the files whose content
    /// changed since the last call: an object still owned by an unchanged file is moved over
    /// as it was (no copy, no comparison: with thousands of objects, one changed file costs
    /// what it holds).
    fn recompute(&mut self, changed: &BTreeSet<PathBuf>) -> Vec<SourceEvent> {
        let mut previous = std::mem::take(&mut self.desired);
        let mut desired: BTreeMap<ObjectKey, (Object, Origin, PathBuf)> = BTreeMap::new();
        let mut duplicates = Vec::new();
        let mut events = Vec::new();
        for (path, state) in &self.files {
            for o in &state.objects {
                let key = o.object.key();
                if let Some((_, first, _)) = desired.get(&key) {
                    duplicates.push(problem(
                        path,
                        o.line,
                        Some(key.describe()),
                        format!("already defined at {first}; this definition is ignored"),
                    ));
                    continue;
                }
                let kept = match previous.remove(&key) {
                    Some(entry) if entry.2 == *path && !changed.contains(path) => entry,
                    before => {
                        let origin = Origin {
                            file: o.source.clone(),
                            line: o.line,
                            column: 0,
                        };
                        let same = before
                            .as_ref()
                            .is_some_and(|(b, g, _)| *b == o.object && *g == origin);
                        if !same {
                            events.push(SourceEvent::Apply {
                                object: Box::new(o.object.clone()),
                                origin: origin.clone(),
                            });
                        }
                        (o.object.clone(), origin, path.clone())
                    }
                };
                desired.insert(key, kept);
            }
        }
        let deletes = previous
            .into_iter()
            .map(|(key, (_, origin, _))| SourceEvent::Delete { key, origin });
        let mut out: Vec<SourceEvent> = deletes.collect();
        events.sort_by_key(|e| match e {
            SourceEvent::Apply { object, .. } => Some(object.key()),
            _ => None,
        });
        out.append(&mut events);
        self.desired = desired;
        self.duplicates = duplicates;
        out
    }

    /// The file that owns `key` when it defines nothing else (and loads cleanly).
    fn sole_owner(&self, key: &ObjectKey) -> Result<Option<PathBuf>, SourceError> {
        let Some((_, _, path)) = self.desired.get(key) else {
            return Ok(None);
        };
        let state = self.files.get(path);
        let others = state.map_or(0, |s| s.objects.len().saturating_sub(1));
        if others > 0 {
            return Err(SourceError::Conflict(format!(
                "{} is defined in {} together with {others} other object(s); edit that file",
                key.describe(),
                path.display()
            )));
        }
        if state.is_some_and(|s| !s.errors.is_empty()) {
            return Err(SourceError::Conflict(format!(
                "{} is defined in {}, which does not load now; fix that file",
                key.describe(),
                path.display()
            )));
        }
        Ok(Some(path.clone()))
    }

    fn write_atomically(&mut self, path: &Path, text: &str) -> Result<(), SourceError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| SourceError::Io(format!("bad file name {}", path.display())))?;
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .map_err(|e| SourceError::Io(format!("write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, path)
            .map_err(|e| SourceError::Io(format!("rename {}: {e}", tmp.display())))?;
        self.own_writes
            .insert(path.to_path_buf(), content_hash(text.as_bytes()));
        Ok(())
    }
}

impl StateSource for ManifestDirSource {
    fn describe(&self) -> String {
        format!("directory {}", self.dir.display())
    }

    fn poll(&mut self) -> Result<Vec<SourceEvent>, SourceError> {
        let mut paths = Vec::new();
        list_manifests(&self.dir, &mut paths)
            .map_err(|e| SourceError::Unreadable(format!("{}: {e}", self.dir.display())))?;
        let now = SystemTime::now();
        let mut events = Vec::new();
        let mut changed = false;
        let mut changed_files = BTreeSet::new();
        let listed: BTreeSet<&PathBuf> = paths.iter().collect();
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| !listed.contains(p))
            .cloned()
            .collect();
        for p in gone {
            self.files.remove(&p);
            self.own_writes.remove(&p);
            changed = true;
        }
        for p in &paths {
            let (c, event) = self.refresh(p, now);
            if c {
                changed = true;
                changed_files.insert(p.clone());
            }
            events.extend(event);
        }
        self.polled = true;
        if changed {
            let mut diff = self.recompute(&changed_files);
            diff.append(&mut events);
            return Ok(diff);
        }
        Ok(events)
    }

    fn problems(&self) -> Vec<LoadError> {
        let mut out: Vec<LoadError> = self
            .files
            .values()
            .flat_map(|s| s.errors.iter().cloned())
            .collect();
        out.extend(self.duplicates.iter().cloned());
        out
    }

    fn origin_of(&self, key: &ObjectKey) -> Option<Origin> {
        self.desired.get(key).map(|(_, o, _)| o.clone())
    }

    fn locate(&self, origin: &Origin, field: &str) -> Option<(usize, usize)> {
        let locator = self.locator?;
        let text = std::fs::read_to_string(&origin.file).ok()?;
        locator(&text, origin.line, field)
    }

    fn put(&mut self, object: &Object) -> Result<Written, SourceError> {
        let key = object.key();
        let path = match self.sole_owner(&key)? {
            Some(p) => p,
            None => {
                let p = self.dir.join(file_name_for(&key));
                if p.exists() {
                    return Err(SourceError::Conflict(format!(
                        "{} exists and does not define {}; remove or rename it",
                        p.display(),
                        key.describe()
                    )));
                }
                p
            }
        };
        let mut object = object.clone();
        object.normalize_type_meta();
        let text = serde_json::to_string_pretty(&object)
            .map_err(|e| SourceError::Io(format!("serializing {}: {e}", key.describe())))?;
        self.write_atomically(&path, &(text + "\n"))?;
        Ok(Written {
            location: path.display().to_string(),
        })
    }

    fn remove(&mut self, key: &ObjectKey) -> Result<Written, SourceError> {
        let path = self.sole_owner(key)?.ok_or_else(|| {
            SourceError::NotFound(format!(
                "{} is not defined in {}",
                key.describe(),
                self.dir.display()
            ))
        })?;
        std::fs::remove_file(&path)
            .map_err(|e| SourceError::Io(format!("remove {}: {e}", path.display())))?;
        self.own_writes.remove(&path);
        Ok(Written {
            location: path.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_model::Kind;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "tierwall-manifest-dir-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const TIER: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: t1}\nspec: {priority: 10}\n";
    const POLICY: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\nspec:\n  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress: [{action: Drop}]\n";

    fn summary(events: &[SourceEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                SourceEvent::Apply { object, origin } => format!("apply {} {origin}", object.key()),
                SourceEvent::Delete { key, .. } => format!("delete {key}"),
                SourceEvent::Invalid { errors, .. } => format!("invalid {}", errors[0]),
            })
            .collect()
    }

    #[test]
    fn file_changes_become_events_and_bad_files_keep_their_objects() {
        let dir = TempDir::new("events");
        let mut source = ManifestDirSource::new(&dir.0, Duration::ZERO);
        assert_eq!(source.poll(), Ok(vec![]));
        let f = dir.0.join("a.yaml");
        std::fs::write(&f, format!("{TIER}---\n{POLICY}")).unwrap_or_else(|e| panic!("{e}"));
        let name = f.display().to_string();
        assert_eq!(
            summary(&source.poll().unwrap_or_else(|e| panic!("{e}"))),
            vec![
                format!("apply tr/t1 {name}:1"),
                format!("apply acnp/p {name}:6")
            ]
        );
        assert_eq!(source.poll(), Ok(vec![]), "unchanged file: no events");

        // A typo: the file's objects stay desired, the problem is reported with its line.
        std::fs::write(
            &f,
            format!("{TIER}---\n{}", POLICY.replace("priority: 1", "priorty: 1")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let events = source.poll().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events.len(), 1, "{events:?}");
        let text = summary(&events)[0].clone();
        assert!(
            text.starts_with(&format!("invalid {name}:10:")) && text.contains("priorty"),
            "{text}"
        );
        assert_eq!(source.problems().len(), 1);
        assert!(
            source
                .origin_of(&ObjectKey::cluster(Kind::ClusterNetworkPolicy, "p"))
                .is_some()
        );

        // Fixed, with the policy removed: a delete.
        std::fs::write(&f, TIER).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            summary(&source.poll().unwrap_or_else(|e| panic!("{e}"))),
            vec!["delete acnp/p"]
        );
        assert!(source.problems().is_empty());

        // Defined twice: the first file (in path order) wins.
        let g = dir.0.join("b.yaml");
        std::fs::write(&g, TIER.replace("10", "20")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(source.poll(), Ok(vec![]));
        let problems = source.problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().contains("already defined at"),
            "{}",
            problems[0]
        );

        // A missing directory changes nothing.
        std::fs::remove_file(&f).unwrap_or_else(|e| panic!("{e}"));
        let events = summary(&source.poll().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            events,
            vec![format!("apply tr/t1 {}:1", g.display())],
            "b.yaml takes over"
        );
        let moved = dir.0.with_extension("moved");
        std::fs::rename(&dir.0, &moved).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(source.poll(), Err(SourceError::Unreadable(_))));
        std::fs::rename(&moved, &dir.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(source.poll(), Ok(vec![]));
    }

    #[test]
    fn writes_land_as_files_and_never_clobber_shared_files() {
        let dir = TempDir::new("writes");
        let mut source = ManifestDirSource::new(&dir.0, Duration::from_secs(60));
        let policy = tierwall_model::load_str("p.yaml", POLICY)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
            .object;
        let written = source.put(&policy).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            written.location,
            dir.0.join("acnp_p.json").display().to_string()
        );
        // Its own write is read at once, despite the long settle time.
        assert_eq!(
            summary(&source.poll().unwrap_or_else(|e| panic!("{e}"))),
            vec![format!("apply acnp/p {}:1", written.location)]
        );
        let key = ObjectKey::cluster(Kind::ClusterNetworkPolicy, "p");
        source.remove(&key).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            summary(&source.poll().unwrap_or_else(|e| panic!("{e}"))),
            vec!["delete acnp/p"]
        );
        assert!(matches!(source.remove(&key), Err(SourceError::NotFound(_))));

        // A file written by someone else is read once it has settled.
        let shared = dir.0.join("shared.yaml");
        std::fs::write(&shared, format!("{TIER}---\n{POLICY}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(source.poll(), Ok(vec![]), "not settled yet");
        let mut settled = ManifestDirSource::new(&dir.0, Duration::ZERO);
        assert_eq!(settled.poll().map(|e| e.len()), Ok(2));
        assert!(matches!(
            settled.put(&policy),
            Err(SourceError::Conflict(_))
        ));
        assert!(matches!(
            settled.remove(&key),
            Err(SourceError::Conflict(_))
        ));
        assert_eq!(
            std::fs::read_to_string(&shared).unwrap_or_default(),
            format!("{TIER}---\n{POLICY}")
        );
    }
}
