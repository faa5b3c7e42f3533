//! `LiveError`: what can go wrong on a live cluster (testbed, dataplane, np.log writer,
//! admission), shared by every module of the crate.

/// Errors of a live cluster.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("testbed: {0}")]
    Testbed(#[from] tierwall_testbed::TestbedError),
    #[error("dataplane on {node}: {source}")]
    Dataplane {
        node: String,
        source: Box<tierwall_dataplane::Error>,
    },
    #[error("audit log on {node}: {message}")]
    Audit { node: String, message: String },
    #[error("admission: {0}")]
    Admission(#[from] tierwall_engine::admission::AdmissionError),
    #[error("{0}")]
    Other(String),
}
