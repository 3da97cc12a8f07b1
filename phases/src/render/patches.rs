//! kubeadm's `--patches DIR` (and `patches.directory`): files named
//! `target[suffix][+patchtype].(yaml|json)`, each holding one or more patches (`---`) of one type —
//! strategic merge (the default), JSON merge (RFC 7386) or JSON patch (RFC 6902) — applied in
//! file-name order to a static pod, the kubelet's configuration or the CoreDNS Deployment.
//!
//! Everything is checked when the folder is read: a file whose name or content kubestrap cannot
//! use is refused there, naming it, instead of being passed over as kubeadm does.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::strategic::{self, ListMerge};
use crate::version::KubeVersion;

/// How a patch file's documents patch their target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Strategic,
    Merge,
    Json,
}

impl PatchType {
    /// The media type kubeadm names the type by in its `[patches]` lines.
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "strategic" => Some(PatchType::Strategic),
            "merge" => Some(PatchType::Merge),
            "json" => Some(PatchType::Json),
            _ => None,
        }
    }
}

/// What a patch file patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Etcd,
    KubeApiserver,
    KubeControllerManager,
    KubeScheduler,
    KubeletConfiguration,
    CorednsDeployment,
}

impl Target {
    /// Every target, in kubeadm's order.
    pub const ALL: [Target; 6] = [
        Target::Etcd,
        Target::KubeApiserver,
        Target::KubeControllerManager,
        Target::KubeScheduler,
        Target::KubeletConfiguration,
        Target::CorednsDeployment,
    ];

    /// The name in file names and `[patches]` lines.
    pub fn name(self) -> &'static str {
        match self {
            Target::Etcd => "etcd",
            Target::KubeApiserver => "kube-apiserver",
            Target::KubeControllerManager => "kube-controller-manager",
            Target::KubeScheduler => "kube-scheduler",
            Target::KubeletConfiguration => "kubeletconfiguration",
            Target::CorednsDeployment => "corednsdeployment",
        }
    }

    /// The first Kubernetes minor whose kubeadm patches this target.
    pub fn since_minor(self) -> u32 {
        match self {
            Target::KubeletConfiguration => 25,
            Target::CorednsDeployment => 30,
            _ => 0,
        }
    }

    /// The targets kubeadm of this version knows.
    pub fn known(version: KubeVersion) -> Vec<Target> {
        Target::ALL
            .into_iter()
            .filter(|t| version.at_least(t.since_minor()))
            .collect()
    }

    fn lists(self) -> fn(&str) -> Option<ListMerge> {
        match self {
            Target::KubeletConfiguration => strategic::no_lists,
            Target::CorednsDeployment => strategic::deployment_lists,
            _ => strategic::pod_lists,
        }
    }

    /// Checks that a patched object is still one kubeadm could decode as this target.
    fn check(self, v: &Value) -> Result<()> {
        match self {
            Target::KubeletConfiguration => {
                kind_is(v, "kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")
            }
            Target::CorednsDeployment => {
                kind_is(v, "apps/v1", "Deployment")?;
                name_is(v, "coredns")?;
                pod_spec(&v["spec"]["template"]["spec"], "spec.template.spec")
            }
            _ => {
                kind_is(v, "v1", "Pod")?;
                name_is(v, self.name())?;
                pod_spec(&v["spec"], "spec")
            }
        }
    }
}

fn kind_is(v: &Value, api_version: &str, kind: &str) -> Result<()> {
    if !v.is_object() {
        bail!("the result is not an object");
    }
    if v["apiVersion"] != api_version || v["kind"] != kind {
        bail!(
            "the result is no longer a {api_version} {kind} (apiVersion {}, kind {})",
            v["apiVersion"],
            v["kind"]
        );
    }
    Ok(())
}

fn name_is(v: &Value, name: &str) -> Result<()> {
    if v["metadata"]["name"] != name {
        bail!(
            "`metadata.name` must stay {name:?} (the result has {})",
            v["metadata"]["name"]
        );
    }
    Ok(())
}

fn strings(v: &Value, at: &str) -> Result<()> {
    match v {
        Value::Null => Ok(()),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
        _ => bail!("`{at}` must be a list of strings"),
    }
}

/// The parts of a pod spec the kubelet refuses a static pod over.
fn pod_spec(spec: &Value, at: &str) -> Result<()> {
    let volumes = match &spec["volumes"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v["name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .with_context(|| format!("`{at}.volumes[{i}]` has no `name`"))
            })
            .collect::<Result<Vec<_>>>()?,
        _ => bail!("`{at}.volumes` must be a list"),
    };
    let Some(containers) = spec["containers"].as_array().filter(|c| !c.is_empty()) else {
        bail!("`{at}.containers` must be a list of at least one container");
    };
    let mut names = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let here = format!("{at}.containers[{i}]");
        let name = c["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .with_context(|| format!("`{here}` has no `name`"))?;
        if names.contains(&name) {
            bail!("two containers are named {name:?}");
        }
        names.push(name);
        if !c["image"].is_string() {
            bail!("`{here}.image` must be a string");
        }
        strings(&c["command"], &format!("{here}.command"))?;
        strings(&c["args"], &format!("{here}.args"))?;
        for (j, e) in c["env"].as_array().into_iter().flatten().enumerate() {
            if !e["name"].is_string() || !(e["value"].is_null() || e["value"].is_string()) {
                bail!(
                    "`{here}.env[{j}]` needs a string `name` and a string `value` (quote numbers and booleans)"
                );
            }
        }
        for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
            if !p["containerPort"]
                .as_u64()
                .is_some_and(|n| (1..=65535).contains(&n))
            {
                bail!("`{here}.ports[{j}].containerPort` must be a port number (1-65535)");
            }
        }
        for (j, m) in c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = m["name"].as_str().unwrap_or_default();
            if !m["mountPath"].is_string() {
                bail!("`{here}.volumeMounts[{j}].mountPath` must be a string");
            }
            if !volumes.contains(&name) {
                bail!(
                    "`{here}.volumeMounts[{j}]` mounts the volume {name:?}, which `{at}.volumes` does not have"
                );
            }
        }
    }
    Ok(())
}

/// One file of the folder.
#[derive(Debug, Clone)]
pub struct PatchFile {
    /// The path as given (folder and file name), for messages.
    pub path: String,
    pub target: Target,
    pub kind: PatchType,
    /// The patches of the file, in order, as JSON.
    pub patches: Vec<Value>,
}

/// The patches of a folder, in file-name order.
#[derive(Debug, Clone, Default)]
pub struct PatchSet {
    pub dir: String,
    pub files: Vec<PatchFile>,
}

/// Splits `kube-apiserver0+merge.yaml` into its target and patch type.
fn parse_name(name: &str, known: &[Target]) -> Result<(Target, PatchType)> {
    let Some(stem) = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".json"))
    else {
        bail!("the file extension must be .yaml or .json");
    };
    let (head, kind) = match stem.split_once('+') {
        Some((head, kind)) => (
            head,
            PatchType::parse(kind).with_context(|| {
                format!(
                    "unknown or missing patch type {kind:?} after '+': use json, merge or strategic"
                )
            })?,
        ),
        None => (stem, PatchType::Strategic),
    };
    // The longest target the name starts with; what follows is a free suffix (`0`, `-resources`).
    let target = Target::ALL
        .into_iter()
        .filter(|t| head.starts_with(t.name()))
        .max_by_key(|t| t.name().len());
    let Some(target) = target else {
        bail!(
            "unknown target: the name must start with one of {}",
            names(known)
        );
    };
    if head[target.name().len()..].contains('.') {
        bail!("the suffix after the target may not contain '.'");
    }
    if !known.contains(&target) {
        bail!(
            "the target {} is patched by kubeadm from Kubernetes 1.{} (this is the list for this version: {})",
            target.name(),
            target.since_minor(),
            names(known)
        );
    }
    Ok((target, kind))
}

fn names(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The documents of a patch file (YAML or JSON, `---` between documents) as JSON.
fn documents(text: &str) -> Result<Vec<Value>> {
    crate::config::yaml::check_expansion(text).context("not valid YAML or JSON")?;
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value: Value = serde::Deserialize::deserialize(doc)
            .with_context(|| format!("document {} is not valid YAML or JSON", i + 1))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// The largest patch file read (a patch is a few lines).
const MAX_PATCH_BYTES: u64 = 1 << 20;

impl PatchSet {
    /// Reads every file of `dir` (sub-folders are refused) for a Kubernetes version; every
    /// file must be a patch of a target this version has, of a type kubestrap applies.
    pub fn load(dir: &Path, version: KubeVersion) -> Result<PatchSet> {
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).with_context(|| {
            format!("could not list patch files for path `{shown}`: it must be a folder")
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("failed to read the folder `{shown}`"))?;
            paths.push(entry.path());
        }
        paths.sort();
        let known = Target::known(version);
        let mut files = Vec::new();
        for path in paths {
            let file = path.display().to_string();
            if path.is_dir() {
                bail!(
                    "the patches folder `{shown}` holds the folder `{file}`; patches are read from the folder's own files only: move them up or remove it"
                );
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (target, kind) = parse_name(&name, &known).with_context(|| {
                format!("the patch file `{file}` has a name kubestrap cannot use (`target[suffix][+json|merge|strategic].yaml|json`)")
            })?;
            let bytes = crate::fs::bounded::read(&path, MAX_PATCH_BYTES)
                .with_context(|| format!("failed to read the patch file `{file}`"))?;
            let text = String::from_utf8(bytes)
                .with_context(|| format!("the patch file `{file}` is not UTF-8 text"))?;
            let patches = documents(&text)
                .with_context(|| format!("the patch file `{file}` is unreadable"))?;
            for (i, p) in patches.iter().enumerate() {
                let ok = match kind {
                    PatchType::Json => serde_json::from_value::<json_patch::Patch>(p.clone())
                        .map(drop)
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "not an RFC 6902 JSON patch (a list of {{op, path, value}}): {e}"
                            )
                        }),
                    _ if p.is_object() => Ok(()),
                    _ => Err(anyhow::anyhow!(
                        "a {} patch must be a mapping",
                        match kind {
                            PatchType::Merge => "merge",
                            _ => "strategic merge",
                        }
                    )),
                };
                ok.with_context(|| format!("the patch file `{file}`, document {}", i + 1))?;
            }
            files.push(PatchFile {
                path: file,
                target,
                kind,
                patches,
            });
        }
        Ok(PatchSet { dir: shown, files })
    }

    /// Whether any file patches this target.
    pub fn has(&self, target: Target) -> bool {
        self.files.iter().any(|f| f.target == target)
    }

    /// Patches an object in place, calling `applied` with the media type of each patch applied.
    pub fn apply_value(
        &self,
        target: Target,
        value: &mut Value,
        applied: &mut dyn FnMut(PatchType),
    ) -> Result<()> {
        for file in self.files.iter().filter(|f| f.target == target) {
            for (i, patch) in file.patches.iter().enumerate() {
                let at = || {
                    format!(
                        "the patch file `{}` (document {}) does not apply to {}",
                        file.path,
                        i + 1,
                        target.name()
                    )
                };
                match file.kind {
                    PatchType::Strategic => {
                        strategic::apply(value, patch, target.lists()).with_context(at)?
                    }
                    PatchType::Merge => json_patch::merge(value, patch),
                    PatchType::Json => {
                        let ops: json_patch::Patch =
                            serde_json::from_value(patch.clone()).with_context(at)?;
                        json_patch::patch(value, &ops).with_context(at)?;
                    }
                }
                target.check(value).with_context(|| {
                    format!(
                        "after the patch file `{}` (document {}), {} is not valid",
                        file.path,
                        i + 1,
                        target.name()
                    )
                })?;
                applied(file.kind);
            }
        }
        Ok(())
    }

    /// Patches a YAML document; the text comes back unchanged when no file patches the target,
    /// and otherwise as YAML with sorted keys, as kubeadm writes it.
    pub fn apply_yaml(
        &self,
        target: Target,
        yaml: &str,
        applied: &mut dyn FnMut(PatchType),
    ) -> Result<String> {
        if !self.has(target) {
            return Ok(yaml.to_string());
        }
        let mut value: Value = serde_yaml::from_str(yaml)
            .with_context(|| format!("the {} document is not YAML", target.name()))?;
        self.apply_value(target, &mut value, applied)?;
        Ok(super::templates::yaml(&value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> KubeVersion {
        KubeVersion::parse(text).unwrap()
    }

    #[test]
    fn file_names_follow_kubeadm_grammar() {
        let known = Target::known(v("v1.30.0"));
        let ok = |n: &str| parse_name(n, &known).unwrap();
        assert_eq!(
            ok("kube-apiserver.yaml"),
            (Target::KubeApiserver, PatchType::Strategic)
        );
        assert_eq!(
            ok("kube-apiserver0+merge.json"),
            (Target::KubeApiserver, PatchType::Merge)
        );
        assert_eq!(
            ok("etcd-resources+json.yaml"),
            (Target::Etcd, PatchType::Json)
        );
        assert_eq!(
            ok("corednsdeployment+strategic.yaml"),
            (Target::CorednsDeployment, PatchType::Strategic)
        );
        for (bad, says) in [
            ("kube-apiserver.txt", "extension"),
            ("kube-apiserver+.yaml", "patch type"),
            ("kube-apiserver+xml.yaml", "patch type"),
            ("kube-proxy.yaml", "unknown target"),
            ("etcd.a.yaml", "may not contain"),
        ] {
            let err = format!("{:#}", parse_name(bad, &known).unwrap_err());
            assert!(err.contains(says), "{bad}: {err}");
        }
        let old = Target::known(v("v1.24.0"));
        let err = format!(
            "{:#}",
            parse_name("kubeletconfiguration.yaml", &old).unwrap_err()
        );
        assert!(err.contains("from Kubernetes 1.25"), "{err}");
        assert!(parse_name("corednsdeployment.yaml", &Target::known(v("v1.29.0"))).is_err());
    }
}
