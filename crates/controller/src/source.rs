//! The seam between the controller and where a cluster's desired state comes from.
//!
//! ```text
//!  StateSource::poll ──> [SourceEvent::Apply{object, origin} | Delete{key, origin} | Invalid{..}]
//!      ManifestDirSource (a watched directory of manifests, today)
//!      a Kubernetes API watch (later: watcher events map one to one onto Apply / Delete)
//!  StateSource::put / remove ──> the source's own storage (a file, or an API write)
//! ```
//!
//! A source reports *what the desired state is*; it never decides whether an object is valid.
//! Admission happens in the controller (`crate::cluster_state`), which keeps the previous version
//! of a rejected object in force.

use std::fmt;
use tierwall_model::{LoadError, Object, ObjectKey};

/// Where a desired object was defined: a file and the 1-based line its document starts on (or a
/// label such as `testbed:abc` and line 0 for objects that do not come from a file); an error
/// about one of its fields points at that field's line and 1-based column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    /// 0: the whole document (no column printed).
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 && self.column > 0 {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        } else if self.line > 0 {
            write!(f, "{}:{}", self.file, self.line)
        } else {
            f.write_str(&self.file)
        }
    }
}

/// One change of the desired state.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    /// The object is desired as given (new, changed, or moved to another place).
    Apply { object: Box<Object>, origin: Origin },
    /// The object is no longer desired; `origin` is where it was defined.
    Delete { key: ObjectKey, origin: Origin },
    /// A file's new content could not be loaded; the objects it defined before stay desired.
    Invalid {
        file: String,
        errors: Vec<LoadError>,
    },
}

/// Why a source could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The source cannot be read (e.g. the directory is missing); nothing is changed.
    #[error("{0}")]
    Unreadable(String),
    /// A write would clobber something the source does not own (another file, other objects).
    #[error("{0}")]
    Conflict(String),
    /// The object to remove is not defined by the source.
    #[error("{0}")]
    NotFound(String),
    /// The write itself failed.
    #[error("{0}")]
    Io(String),
}

/// What a successful write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Where the object now lives (or lived, for a removal): a file path.
    pub location: String,
}

/// A source of desired objects.
pub trait StateSource: Send {
    /// A short description for logs (`directory /srv/manifests`).
    fn describe(&self) -> String;

    /// Reads what changed since the last call (the first call reports every desired object).
    fn poll(&mut self) -> Result<Vec<SourceEvent>, SourceError>;

    /// Problems of the current desired state (files that do not load, objects defined twice).
    fn problems(&self) -> Vec<LoadError>;

    /// Where `key` is defined now.
    fn origin_of(&self, key: &ObjectKey) -> Option<Origin>;

    /// Stores `object` as desired (the next `poll` reports it).
    fn put(&mut self, object: &Object) -> Result<Written, SourceError>;

    /// Removes `key` from the desired state (the next `poll` reports it).
    fn remove(&mut self, key: &ObjectKey) -> Result<Written, SourceError>;

    /// The line and column of `field` (a path such as `spec.ingress[0].action`) in the object
    /// defined at `origin`, when the source can tell; error messages then point at the field.
    fn locate(&self, origin: &Origin, field: &str) -> Option<(usize, usize)> {
        let _ = (origin, field);
        None
    }
}

/// Finds a field's line and column in a manifest: `(text, line the object starts on, field
/// path)`.
pub type FieldLocator = fn(&str, usize, &str) -> Option<(usize, usize)>;
