//! The record of an upgrade in progress (`/var/lib/kubestrap/upgrade.json`), like init's
//! resume record: written before the first manifest is replaced and after each step, removed
//! when the upgrade finished or was rolled back. A run killed at any point and started again
//! finds in it the version it upgrades from, the backups, and for each component the hash of
//! the pod it replaced, so it waits for that component instead of assuming it is done.

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::fs::paths;
use crate::fs::root::Root;

/// Where the record lives.
pub const RECORD: &str = "/var/lib/kubestrap/upgrade.json";

/// What an upgrade in progress has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The API server's version when the upgrade started.
    pub from: String,
    pub to: String,
    /// Where the replaced manifests are kept.
    pub backup_dir: String,
    /// The components whose manifest was replaced, in order.
    pub components: Vec<Step>,
}

/// One replaced manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub component: String,
    /// The hash of the pod before the new manifest was written: its UID in the container
    /// runtime, else the mirror pod's `kubernetes.io/config.hash` (the same value).
    pub old_hash: Option<String>,
    /// Whether the new pod was seen healthy.
    pub done: bool,
}

impl Record {
    /// The record left by an earlier run, if any.
    pub fn load(root: &Root) -> Result<Option<Record>> {
        let Some(bytes) = root.read_optional(RECORD)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!("`{RECORD}` is not an upgrade record; remove it if no upgrade is in progress")
        })
    }

    /// Writes the record (atomically).
    pub fn save(&self, root: &Root) -> Result<()> {
        root.create_dir(paths::STATE_DIR, 0o700)?;
        root.write(RECORD, &serde_json::to_vec_pretty(self)?, 0o600)
    }

    /// Removes the record: nothing is in progress any more.
    pub fn remove(root: &Root) -> Result<()> {
        root.remove_all(RECORD)
    }

    /// The step of a component, if its manifest was replaced.
    pub fn step(&self, component: &str) -> Option<&Step> {
        self.components.iter().find(|s| s.component == component)
    }

    /// Records a replaced manifest (or updates its step).
    pub fn replaced(&mut self, component: &str, old_hash: Option<String>, done: bool) {
        match self
            .components
            .iter_mut()
            .find(|s| s.component == component)
        {
            Some(step) => step.done = done,
            None => self.components.push(Step {
                component: component.to_string(),
                old_hash,
                done,
            }),
        }
    }
}
