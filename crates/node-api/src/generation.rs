//! Generations: which version of a Node's rule set an agent holds.
//!
//! A generation is `(epoch, number)`. The epoch names one run of the controller (chosen at
//! random when it starts); the number counts the changes of one Node's rule set within that run.
//! An agent that reconnects names the generation it holds: the same epoch and a number the
//! controller still has the base of → it gets the changes since; anything else (a restarted
//! controller, a number from the future, a base too old) → it gets the full rule set.

use serde::{Deserialize, Serialize};

/// One version of one Node's rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Generation {
    /// The controller run that computed it.
    pub epoch: u64,
    /// Counts the changes of the Node's rule set within the run, from 1.
    pub number: u64,
}

impl Generation {
    pub fn new(epoch: u64, number: u64) -> Self {
        Generation { epoch, number }
    }

    /// The next generation of the same run.
    pub fn next(self) -> Generation {
        Generation {
            epoch: self.epoch,
            number: self.number + 1,
        }
    }

    /// `epoch.number` as the query parameter and the log show it.
    pub fn to_query(self) -> String {
        format!("{:016x}.{}", self.epoch, self.number)
    }

    /// Parses [`Generation::to_query`]'s form.
    pub fn parse(text: &str) -> Option<Generation> {
        let (epoch, number) = text.split_once('.')?;
        Some(Generation {
            epoch: u64::from_str_radix(epoch, 16).ok()?,
            number: number.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_query())
    }
}
