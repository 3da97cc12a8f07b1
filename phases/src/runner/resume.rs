//! Resumable init: a whole `init` records under `/var/lib/kubestrap/` the settings it works from
//! (those that shape files or the node) and each phase it finished, with a digest of every file
//! that phase wrote. Run again with the same settings after an interruption, it resumes: the
//! files-only phases (certs, kubeconfig, etcd, control-plane) whose files are unchanged are not
//! run again, and preflight does not take those files, nor the earlier run's own components on
//! their ports, for someone else's. The phases that act on the host or the cluster run again
//! (each leaves alone what is already right). With other settings it refuses and names them.
//!
//! Every write of a files-only phase is announced first in a log, so the files of a phase killed
//! half-way are known and removed before it runs again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use anyhow::{Context as _, Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Config, InvalidConfig};
use crate::fs::paths::{self, STATE_DIR};
use crate::fs::root::{Change, Root};
use crate::fs::system_dirs;
use crate::pki::sha256_hex;
use crate::runner::report::Reporter;

/// The record of an init run.
pub const STATE: &str = "/var/lib/kubestrap/init-state.json";
/// Files a files-only phase started to write: `phase<TAB>path` lines.
pub const WRITE_LOG: &str = "/var/lib/kubestrap/init-writes.log";

/// What is kept on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    /// SHA-256 of `settings` as JSON.
    digest: String,
    settings: BTreeMap<String, String>,
    /// In the order they finished.
    finished: Vec<Finished>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Finished {
    phase: String,
    /// Logical path → SHA-256 of the contents written.
    files: BTreeMap<String, String>,
}

/// An init run's record: what an earlier run left (when resuming) and what this one finishes.
#[derive(Debug, Clone, Default)]
pub struct Record {
    state: State,
    /// Phases finished by an earlier run that this one does not run again.
    reused: BTreeSet<String>,
    /// The last phase an earlier run with the same settings finished.
    resumed_after: Option<String>,
}

impl Record {
    /// Reads the record of an earlier run, if any, for a whole init of `cfg` whose planned
    /// files-only phases are `files_only`, in order. Refuses other settings; removes what a phase
    /// killed half-way had written.
    pub fn open(
        root: &Root,
        cfg: &Config,
        files_only: &[&str],
        out: &dyn Reporter,
    ) -> Result<Self> {
        let settings = settings(cfg)?;
        let fresh = Record {
            state: State {
                digest: digest(&settings)?,
                settings,
                finished: Vec::new(),
            },
            ..Record::default()
        };
        let Some(bytes) = root.read_optional(STATE)? else {
            // Recorded before any phase runs, so that the files of a first phase killed half-way
            // are known to be this run's.
            fresh.save(root)?;
            return Ok(fresh);
        };
        let earlier: State = serde_json::from_slice(&bytes).with_context(|| {
            format!("`{STATE}` is not a kubestrap init record\n\nhint: `kubestrap reset` removes it with what an earlier init wrote")
        })?;
        if files_only.is_empty() {
            // This run writes none of init's files (they are all skipped), so it can tell
            // neither whether the earlier run's are left nor whether they fit: the record is
            // kept as it is, for the init that writes them.
            out.status(
                "resume",
                "this run skips every phase that writes init's files: the record of the earlier init is kept",
            );
            return Ok(Record {
                state: earlier,
                ..Record::default()
            });
        }
        let logged = read_write_log(root)?;
        // Only the files of the files-only phases say whether a cluster is left: those of
        // preflight --fix or kubelet-start outlive a `kubeadm reset`.
        let any_left = earlier
            .finished
            .iter()
            .filter(|f| files_only.contains(&f.phase.as_str()))
            .flat_map(|f| f.files.keys())
            .chain(logged.iter().map(|(_, path)| path))
            .any(|path| root.exists(path));
        if !any_left {
            out.status(
                "resume",
                "none of the files of the earlier init recorded here is left: starting afresh",
            );
            root.remove_all(WRITE_LOG)?;
            fresh.save(root)?;
            return Ok(fresh);
        }
        if earlier.digest != fresh.state.digest {
            return Err(anyhow!(InvalidConfig(differences(
                &earlier.settings,
                &fresh.state.settings
            ))))
            .context("this host holds the files of an earlier `kubestrap init` with other settings; nothing was changed\n\nhint: run init with the earlier settings to resume it, or `kubestrap reset` to remove what it wrote and start over with these");
        }
        let folders = init_folders(cfg);
        remove_half_written(root, &earlier, &logged, &folders, out)?;
        let mut record = Record {
            resumed_after: earlier.finished.last().map(|f| f.phase.clone()),
            state: earlier,
            reused: BTreeSet::new(),
        };
        record.reused = record.intact_prefix(root, files_only);
        record.take_back_changed(root, files_only, &folders, out)?;
        match &record.resumed_after {
            Some(after) => out.status(
                "resume",
                &format!(
                    "resuming after `{after}`, where an earlier init with the same settings stopped: {} phases whose files are unchanged are reused, the others run",
                    record.reused.len()
                ),
            ),
            None => out.status(
                "resume",
                "an earlier init with the same settings stopped before finishing a phase: running them all",
            ),
        }
        Ok(record)
    }

    /// Whether this run resumes an earlier one.
    pub fn resuming(&self) -> bool {
        self.resumed_after.is_some()
    }

    /// Whether the step is not run again: an earlier run finished it and its files are unchanged.
    pub fn reuses(&self, phase: &str) -> bool {
        self.reused.contains(phase)
    }

    /// Whether a finished phase (or one under a group, `etcd`) of this or the earlier run is recorded.
    pub fn finished(&self, phase: &str) -> bool {
        self.state.finished.iter().any(|f| {
            f.phase == phase
                || f.phase
                    .strip_prefix(phase)
                    .is_some_and(|r| r.starts_with('/'))
        })
    }

    /// Whether this file is as the recorded phase that wrote it last left it.
    pub fn owns(&self, root: &Root, path: &str) -> bool {
        self.last_digest(path)
            .is_some_and(|want| digest_of(root, path).is_some_and(|d| d == want))
    }

    fn last_digest(&self, path: &str) -> Option<&str> {
        self.state
            .finished
            .iter()
            .rev()
            .find_map(|f| f.files.get(path))
            .map(String::as_str)
    }

    /// Before a files-only phase runs again, removes the files it wrote that a later phase of the
    /// earlier run changed (kubelet-finalize points kubelet.conf at a certificate under
    /// /var/lib/kubelet): written again, not taken up in their later form.
    fn take_back_changed(
        &self,
        root: &Root,
        files_only: &[&str],
        folders: &[String],
        out: &dyn Reporter,
    ) -> Result<()> {
        for phase in files_only.iter().filter(|p| !self.reused.contains(**p)) {
            let Some(done) = self.state.finished.iter().find(|f| f.phase == *phase) else {
                continue;
            };
            for (path, own) in &done.files {
                let Some(now) = digest_of(root, path) else {
                    continue;
                };
                if now != *own
                    && self.last_digest(path) == Some(now.as_str())
                    && removable(path, folders, out)
                {
                    root.remove_all(path)?;
                    out.status(
                        "resume",
                        &format!("removed `{path}`: the earlier run changed it after `{phase}`, which runs again"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Records a phase that finished, with the files it wrote, on disk at once.
    pub fn finish(&mut self, root: &Root, phase: &str, written: &[Change]) -> Result<()> {
        let mut files = BTreeMap::new();
        for change in written {
            if let Change::Wrote { path, .. } = change {
                if Path::new(path).starts_with(STATE_DIR) {
                    continue;
                }
                files.insert(path.clone(), sha256_hex(&root.read(path)?));
            }
        }
        self.state.finished.retain(|f| f.phase != phase);
        self.state.finished.push(Finished {
            phase: phase.to_string(),
            files,
        });
        self.save(root)?;
        root.remove_all(WRITE_LOG)
    }

    fn save(&self, root: &Root) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.state)?;
        root.write(STATE, text.as_bytes(), 0o600)
    }

    /// The finished files-only steps whose files are unchanged, up to the first that is not
    /// (a later one may hold files made from it: a kubeconfig from the CA).
    fn intact_prefix(&self, root: &Root, files_only: &[&str]) -> BTreeSet<String> {
        let mut reused = BTreeSet::new();
        for phase in files_only {
            let Some(done) = self.state.finished.iter().find(|f| f.phase == *phase) else {
                break;
            };
            // As this phase wrote them: a later phase's change to one means writing it again.
            let unchanged = done
                .files
                .iter()
                .all(|(path, own)| digest_of(root, path).as_deref() == Some(own.as_str()));
            if !unchanged {
                break;
            }
            reused.insert(phase.to_string());
        }
        reused
    }
}

/// Removes the files the earlier run started to write but whose phase did not finish, and the
/// temporary files of writes cut short.
fn remove_half_written(
    root: &Root,
    earlier: &State,
    logged: &[(String, String)],
    folders: &[String],
    out: &dyn Reporter,
) -> Result<()> {
    let recorded: BTreeSet<&String> = earlier
        .finished
        .iter()
        .flat_map(|f| f.files.keys())
        .collect();
    let mut written_in = BTreeSet::new();
    for (phase, path) in logged {
        if !removable(path, folders, out) {
            continue;
        }
        if let Some(folder) = Path::new(path).parent() {
            written_in.insert(folder.to_path_buf());
        }
        if recorded.contains(path) || !root.exists(path) {
            continue;
        }
        root.remove_all(path)?;
        out.status(
            "resume",
            &format!("removed `{path}`: the earlier run's `{phase}` did not finish, it runs again"),
        );
    }
    for folder in written_in {
        for name in root.list(&folder)? {
            if name.starts_with(".kubestrap-") {
                root.remove_all(folder.join(&name))?;
            }
        }
    }
    root.remove_all(WRITE_LOG)
}

/// The folders the files-only phases of init write in; the record may name nothing else.
fn init_folders(cfg: &Config) -> Vec<String> {
    let mut folders = vec![
        paths::KUBERNETES_DIR.to_string(),
        paths::KUBELET_DIR.to_string(),
        cfg.cluster.certificates_dir.clone(),
    ];
    folders.extend(cfg.cluster.etcd.local.as_ref().map(|l| l.data_dir.clone()));
    folders.retain(|f| !system_dirs::is_system_dir(Path::new(f)));
    folders
}

/// Whether a path the record or the write log names may be removed: absolute, without `.` or
/// `..`, and inside a folder init writes in. Anything else (`/`, a system file: a damaged or
/// planted record) is left alone, and said.
fn removable(path: &str, folders: &[String], out: &dyn Reporter) -> bool {
    let p = Path::new(path);
    let plain = p.is_absolute()
        && !p
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir));
    let inside = folders
        .iter()
        .any(|f| p.starts_with(f) && p != Path::new(f));
    if !(plain && inside) {
        out.warn(
            "resume",
            &format!(
                "the record of the earlier init names `{path}`, which init never writes (it writes only in {}): left as it is",
                folders.join(", ")
            ),
        );
    }
    plain && inside
}

fn digest_of(root: &Root, path: &str) -> Option<String> {
    root.read(path).ok().map(|b| sha256_hex(&b))
}

/// The `phase<TAB>path` lines of the write log; a last line cut short is left out.
fn read_write_log(root: &Root) -> Result<Vec<(String, String)>> {
    let Some(bytes) = root.read_optional(WRITE_LOG)? else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8_lossy(&bytes);
    Ok(text
        .split_inclusive('\n')
        .filter_map(|line| line.strip_suffix('\n'))
        .filter_map(|line| line.split_once('\t'))
        .map(|(phase, path)| (phase.to_string(), path.to_string()))
        .collect())
}

/// The settings that shape the files init writes or the node it sets up, as `field: value`
/// (kubeadm's field paths). Bootstrap tokens, ignored preflight errors, skipped phases, timeouts
/// and the dry-run switch are not among them: changing them does not make a different cluster.
pub fn settings(cfg: &Config) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut cluster = serde_json::to_value(&cfg.cluster)?;
    if let Some(map) = cluster.as_object_mut() {
        map.remove("kubernetesVersion");
    }
    flatten("", &cluster, &mut out);
    let mut node = serde_json::to_value(&cfg.init.node_registration)?;
    if let Some(map) = node.as_object_mut() {
        for field in [
            "ignorePreflightErrors",
            "imagePullPolicy",
            "imagePullSerial",
        ] {
            map.remove(field);
        }
    }
    flatten("nodeRegistration", &node, &mut out);
    flatten(
        "localAPIEndpoint",
        &serde_json::to_value(&cfg.init.local_api_endpoint)?,
        &mut out,
    );
    if let Some(patches) = &cfg.init.patches {
        flatten("patches", &serde_json::to_value(patches)?, &mut out);
    }
    for (kind, doc) in [
        ("KubeletConfiguration", &cfg.kubelet),
        ("KubeProxyConfiguration", &cfg.kube_proxy),
    ] {
        if let Some(doc) = doc {
            flatten(kind, &serde_json::to_value(doc)?, &mut out);
        }
    }
    // What kubestrap resolved on this host.
    for (field, value) in [
        ("kubernetesVersion", cfg.version.to_string()),
        ("nodeRegistration.name", cfg.node_name.clone()),
        ("nodeRegistration.criSocket", cfg.cri_socket.clone()),
        (
            "localAPIEndpoint.advertiseAddress",
            cfg.advertise_address.to_string(),
        ),
        ("localAPIEndpoint.bindPort", cfg.bind_port.to_string()),
    ] {
        out.insert(field.to_string(), value);
    }
    Ok(out)
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    let key = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, v) in map {
                flatten(&key(name), v, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn digest(settings: &BTreeMap<String, String>) -> Result<String> {
    Ok(sha256_hex(&serde_json::to_vec(settings)?))
}

/// `field: was `a`, now `b`` for each setting that differs.
fn differences(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<String> {
    let fields: BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    let show = |v: Option<&String>| v.map_or("(unset)".to_string(), |v| format!("`{v}`"));
    fields
        .into_iter()
        .filter(|f| before.get(*f) != now.get(*f))
        .map(|f| {
            format!(
                "{f}: the earlier run had {}, this one has {}",
                show(before.get(f)),
                show(now.get(f))
            )
        })
        .collect()
}

/// Removes the record (reset does), and kubestrap's folder when nothing else is in it.
pub fn forget(root: &Root) -> Result<()> {
    root.remove_all(STATE)?;
    root.remove_all(WRITE_LOG)?;
    if root.exists(STATE_DIR) && root.list(STATE_DIR)?.is_empty() {
        root.remove_all(STATE_DIR)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_flat_field_paths() {
        let mut out = BTreeMap::new();
        let value = serde_json::json!({"networking": {"podSubnet": "10.244.0.0/16"}, "list": ["a"], "empty": []});
        flatten("", &value, &mut out);
        assert_eq!(out["networking.podSubnet"], "10.244.0.0/16");
        assert_eq!(out["list[0]"], "a");
        assert_eq!(out["empty"], "[]");
    }

    #[test]
    fn differences_name_each_field() {
        let a = BTreeMap::from([(
            "networking.podSubnet".to_string(),
            "10.244.0.0/16".to_string(),
        )]);
        let b = BTreeMap::from([(
            "networking.podSubnet".to_string(),
            "10.99.0.0/16".to_string(),
        )]);
        assert_eq!(
            differences(&a, &b),
            [
                "networking.podSubnet: the earlier run had `10.244.0.0/16`, this one has `10.99.0.0/16`"
            ]
        );
        assert!(differences(&a, &a).is_empty());
    }
}
