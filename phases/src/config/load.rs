//! Reading kubeadm config files: multi-document YAML, strict fields, every problem at once, each
//! named by file, line and column.

use std::fmt;
use std::path::Path;

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::component;
use super::join::JoinConfiguration;
use super::locate;
use super::source::Source;
use super::suggest::suggest;
use super::validate::{MAX_PROBLEMS_SHOWN, validate};
use super::{ApiVersion, ClusterConfiguration, Documents, InitConfiguration};

/// A configuration (file or flags) that kubestrap refuses; each entry says where and why.
#[derive(Debug)]
pub struct InvalidConfig(pub Vec<String>);

/// The most characters an error quotes of one problem (with [`MAX_PROBLEMS_SHOWN`]: a hostile
/// file, thousands of bad values or a value of a megabyte, still gets an answer of a few KiB).
const MAX_PROBLEM_CHARS: usize = 2000;

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |p: &str| -> String {
            match p.char_indices().nth(MAX_PROBLEM_CHARS) {
                Some((cut, _)) => format!("{}… ({} more bytes)", &p[..cut], p.len() - cut),
                None => p.to_string(),
            }
        };
        match self.0.as_slice() {
            [one] => write!(f, "invalid configuration: {}", shown(one)),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                for p in many.iter().take(MAX_PROBLEMS_SHOWN) {
                    write!(f, "\n  - {}", shown(p))?;
                }
                if many.len() > MAX_PROBLEMS_SHOWN {
                    write!(
                        f,
                        "\n  - … and {} more; fix these first",
                        many.len() - MAX_PROBLEMS_SHOWN
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for InvalidConfig {}

/// Fields that only `kubeadm.k8s.io/v1beta4` has, by kind.
pub(super) const V1BETA4_ONLY: &[(&str, &[&str])] = &[
    (
        "InitConfiguration",
        &["dryRun", "timeouts", "nodeRegistration.imagePullSerial"],
    ),
    (
        "JoinConfiguration",
        &["dryRun", "timeouts", "nodeRegistration.imagePullSerial"],
    ),
    (
        "ClusterConfiguration",
        &[
            "encryptionAlgorithm",
            "certificateValidityPeriod",
            "caCertificateValidityPeriod",
            "proxy",
            "dns.disabled",
            "apiServer.extraEnvs",
            "controllerManager.extraEnvs",
            "scheduler.extraEnvs",
            "etcd.local.extraEnvs",
        ],
    ),
];

/// Fields that `kubeadm.k8s.io/v1beta4` dropped, with their replacement.
const V1BETA3_ONLY: &[(&str, &str, &str)] = &[
    (
        "ClusterConfiguration",
        "apiServer.timeoutForControlPlane",
        "InitConfiguration `timeouts.controlPlaneComponentHealthCheck`",
    ),
    (
        "JoinConfiguration",
        "discovery.timeout",
        "JoinConfiguration `timeouts.discovery`",
    ),
];

/// extraArgs fields: a map in v1beta3, a list of {name, value} in v1beta4.
pub(super) const EXTRA_ARGS: &[(&str, &str)] = &[
    ("InitConfiguration", "nodeRegistration.kubeletExtraArgs"),
    ("JoinConfiguration", "nodeRegistration.kubeletExtraArgs"),
    ("ClusterConfiguration", "apiServer.extraArgs"),
    ("ClusterConfiguration", "controllerManager.extraArgs"),
    ("ClusterConfiguration", "scheduler.extraArgs"),
    ("ClusterConfiguration", "etcd.local.extraArgs"),
];

/// One `---` document of a file: its text and the line it starts at (1-based).
struct Doc<'a> {
    text: &'a str,
    first_line: usize,
}

/// Reads a config file; any problem fails with [`InvalidConfig`] listing them all.
pub fn load_file(path: &Path) -> Result<Documents> {
    let text = read_config(path)?;
    let (docs, problems) = parse(&text, &path.display().to_string());
    if !problems.is_empty() {
        return Err(InvalidConfig(problems).into());
    }
    Ok(docs)
}

/// Problems between documents: the kube-proxy's clusterCIDR against the pod subnet.
pub(super) fn across_documents(docs: &Documents) -> Vec<super::Problem> {
    let (Some(proxy), Some(pods)) = (&docs.kube_proxy, &docs.cluster.networking.pod_subnet) else {
        return Vec::new();
    };
    super::component_values::cluster_cidr_problem(proxy, pods)
        .map(|why| super::Problem::new("ClusterConfiguration", "networking.podSubnet", why))
        .into_iter()
        .collect()
}

/// Fails with every problem of the documents (flags already applied), pointing into the file.
pub fn check(docs: &Documents) -> Result<()> {
    let problems: Vec<String> = validate(&docs.init, &docs.cluster)
        .into_iter()
        .chain(across_documents(docs))
        .map(|p| p.render(docs.source.as_deref()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(InvalidConfig(problems).into())
    }
}

/// The largest configuration file kubestrap reads (kubeadm's are a few KiB): anything bigger is
/// not a configuration, and refusing it at once keeps every answer quick.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a configuration file: a regular file of at most [`MAX_CONFIG_BYTES`], in UTF-8 (a
/// FIFO or a device such as `/dev/zero` is refused before anything is read from it).
pub fn read_config(path: &Path) -> Result<String> {
    use crate::fs::bounded::{self, Unreadable};
    let shown = path.display();
    let bytes = match bounded::read(path, MAX_CONFIG_BYTES) {
        Ok(bytes) => bytes,
        Err(Unreadable::Io(e)) => {
            return Err(
                anyhow::Error::new(e).context(format!("failed to read config file `{shown}`"))
            );
        }
        Err(Unreadable::NotAFile(what)) => {
            return Err(InvalidConfig(vec![format!(
                "{shown}: {what}, not a configuration file; give the path of a kubeadm configuration file"
            )])
            .into());
        }
        Err(Unreadable::TooLarge(limit)) => {
            return Err(InvalidConfig(vec![format!(
                "{shown}: more than {limit} bytes is not a configuration (kubestrap reads at most {limit} bytes; a kubeadm configuration is a few KiB)"
            )])
            .into());
        }
    };
    String::from_utf8(bytes).map_err(|e| {
        InvalidConfig(vec![format!(
            "{shown}: not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        )])
        .into()
    })
}

/// Parses a whole file: the documents, or every problem found.
pub fn parse(text: &str, name: &str) -> (Documents, Vec<String>) {
    // A byte-order mark, as some editors write, is not part of the YAML.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs = Documents::default();
    let mut problems = Vec::new();
    if let Some(problem) = tab_indent(text, name).or_else(|| too_deep(text, name)) {
        return (docs, vec![problem]);
    }
    let mut kinds_seen: Vec<(String, usize)> = Vec::new();
    let mut source = Source {
        name: name.to_string(),
        kinds: Vec::new(),
    };
    let mut found_kubeadm = false;
    for doc in split(text) {
        let value: Value = match super::yaml::to_value(doc.text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(yaml_problem(&e, &doc, name));
                continue;
            }
        };
        let Value::Mapping(mut map) = value else {
            if !value.is_null() {
                problems.push(format!(
                    "{name}:{}:1: a document must be a mapping with `apiVersion` and `kind`",
                    doc.first_line
                ));
            }
            continue;
        };
        let field = |m: &Mapping, key: &str| m.get(key).and_then(Value::as_str).map(str::to_string);
        let (Some(api_version), Some(kind)) = (field(&map, "apiVersion"), field(&map, "kind"))
        else {
            problems.push(format!(
                "{name}:{}:1: a document lacks `apiVersion` or `kind`",
                doc.first_line
            ));
            continue;
        };
        // kubeadm refuses a kind twice; reading both would let the later one win unseen.
        if let Some((_, first)) = kinds_seen.iter().find(|(k, _)| *k == kind) {
            problems.push(format!(
                "{name}:{}:1: a second {kind} document (the first starts at line {first}); a file holds each kind once: merge them",
                doc.first_line
            ));
            continue;
        }
        kinds_seen.push((kind.clone(), doc.first_line));
        let here = |path: &str| match locate::locate(doc.text, path) {
            Some((line, col)) => format!("{name}:{}:{col}", line + doc.first_line - 1),
            None => format!("{name}:{}:1", doc.first_line),
        };
        match kind.as_str() {
            "InitConfiguration" | "ClusterConfiguration" | "JoinConfiguration" => {
                found_kubeadm = true;
                let Some(version) = ApiVersion::parse(&api_version) else {
                    problems.push(unsupported_api_version(&here("apiVersion"), &api_version));
                    continue;
                };
                if docs.api_version.is_some_and(|v| v != version) {
                    problems.push(format!(
                        "{}: `{api_version}` differs from the other documents' API version; use one version in a file",
                        here("apiVersion")
                    ));
                }
                docs.api_version = Some(version);
                check_version_fields(&mut map, &kind, version, &here, &mut problems);
                source.kinds.push((kind.clone(), doc.first_line, doc.text.to_string()));
                if kind == "JoinConfiguration" {
                    if let Some(v) = typed::<JoinConfiguration>(map, &kind, &here, &mut problems) {
                        docs.join = Some(v);
                    }
                    continue;
                }
                docs.has_init_kinds = true;
                if kind == "InitConfiguration" {
                    if let Some(v) = typed::<InitConfiguration>(map, &kind, &here, &mut problems) {
                        docs.init = v;
                    }
                } else if let Some(v) = typed::<ClusterConfiguration>(map, &kind, &here, &mut problems) {
                    docs.cluster = v;
                }
            }
            "KubeletConfiguration" | "KubeProxyConfiguration" => {
                let before = problems.len();
                component::check(&kind, &api_version, &map, &here, &mut problems);
                if problems.len() == before {
                    super::component_values::check(&kind, &map, &here, &mut problems);
                }
                if problems.len() == before {
                    if kind == "KubeletConfiguration" {
                        docs.kubelet = Some(map);
                    } else {
                        docs.kube_proxy = Some(map);
                    }
                }
            }
            "ResetConfiguration" | "UpgradeConfiguration" => {
                found_kubeadm = true;
                match ApiVersion::parse(&api_version) {
                    Some(ApiVersion::V1Beta4) => {
                        source.kinds.push((kind.clone(), doc.first_line, doc.text.to_string()));
                        if kind == "ResetConfiguration" {
                            docs.reset = typed(map, &kind, &here, &mut problems);
                        } else {
                            docs.upgrade = typed(map, &kind, &here, &mut problems);
                        }
                    }
                    Some(ApiVersion::V1Beta3) => problems.push(format!(
                        "{}: {kind} is new in kubeadm.k8s.io/v1beta4; change `apiVersion` to kubeadm.k8s.io/v1beta4",
                        here("apiVersion")
                    )),
                    None => problems.push(unsupported_api_version(&here("apiVersion"), &api_version)),
                }
            }
            other => problems.push(format!(
                "{}: unknown kind `{other}`; kubestrap reads InitConfiguration, ClusterConfiguration, JoinConfiguration, ResetConfiguration, UpgradeConfiguration, KubeletConfiguration and KubeProxyConfiguration",
                here("kind")
            )),
        }
    }
    if !found_kubeadm && problems.is_empty() {
        problems.push(format!(
            "{name}: no InitConfiguration, ClusterConfiguration, JoinConfiguration, ResetConfiguration or UpgradeConfiguration kind was found in the YAML file"
        ));
    }
    docs.source = Some(std::sync::Arc::new(source));
    (docs, problems)
}

fn unsupported_api_version(at: &str, api_version: &str) -> String {
    let hint = if api_version.starts_with("kubeadm.k8s.io/") {
        "; convert it with `kubeadm config migrate --old-config old.yaml --new-config new.yaml` (kubeadm 1.26 or older reads v1beta2)"
    } else {
        ""
    };
    format!(
        "{at}: unsupported apiVersion `{api_version}`: kubestrap reads kubeadm.k8s.io/v1beta3 and kubeadm.k8s.io/v1beta4{hint}"
    )
}

/// Refuses fields of the other API version and extraArgs in the other version's shape.
fn check_version_fields(
    map: &mut Mapping,
    kind: &str,
    version: ApiVersion,
    here: &dyn Fn(&str) -> String,
    problems: &mut Vec<String>,
) {
    if version == ApiVersion::V1Beta3 {
        for (k, paths) in V1BETA4_ONLY {
            for path in paths.iter().filter(|_| k == &kind) {
                if remove_path(map, path) {
                    problems.push(format!(
                        "{}: unknown field `{path}` in {kind}: it is new in kubeadm.k8s.io/v1beta4; change `apiVersion` to kubeadm.k8s.io/v1beta4 to use it",
                        here(path)
                    ));
                }
            }
        }
    } else {
        for (k, path, instead) in V1BETA3_ONLY.iter().filter(|(k, _, _)| k == &kind) {
            if remove_path(map, path) {
                problems.push(format!(
                    "{}: unknown field `{path}` in {k}: kubeadm.k8s.io/v1beta4 replaced it with {instead}",
                    here(path)
                ));
            }
        }
    }
    for (_, path) in EXTRA_ARGS.iter().filter(|(k, _)| k == &kind) {
        let shape = get_path(map, path).map(|v| (v.is_mapping(), v.is_sequence()));
        let wrong = match (version, shape) {
            (ApiVersion::V1Beta3, Some((_, true))) => Some(
                "is a list of {name, value}, the kubeadm.k8s.io/v1beta4 form; in v1beta3 write a map of flag: value",
            ),
            (ApiVersion::V1Beta4, Some((true, _))) => Some(
                "is a map, the kubeadm.k8s.io/v1beta3 form; in v1beta4 write a list of `- name: FLAG` / `  value: VALUE` entries",
            ),
            _ => None,
        };
        if let Some(why) = wrong {
            remove_path(map, path);
            problems.push(format!("{}: `{path}` {why}", here(path)));
        }
    }
}

/// Deserializes strictly; every unknown field and bad value is reported, not just the first.
fn typed<T: DeserializeOwned>(
    map: Mapping,
    kind: &str,
    here: &dyn Fn(&str) -> String,
    problems: &mut Vec<String>,
) -> Option<T> {
    // `apiServer:` with nothing under it is null in YAML; kubeadm reads it as absent.
    let mut value = drop_nulls(Value::Mapping(map));
    // Each round removes the offending field, so the loop ends; the bound is a safety net.
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            // The rest is still read, for `config validate`; every loader refuses it anyway.
            Ok(v) => return Some(v),
            Err(err) => {
                let path = err.path().to_string();
                let inner = err.inner().to_string();
                let (field, message) = describe(&path, &inner, kind);
                problems.push(format!("{}: {message}", here(&field)));
                if !remove_path_value(&mut value, &field) {
                    return None;
                }
            }
        }
    }
    None
}

fn drop_nulls(value: Value) -> Value {
    match value {
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, drop_nulls(v)))
                .collect(),
        ),
        Value::Sequence(seq) => Value::Sequence(seq.into_iter().map(drop_nulls).collect()),
        other => other,
    }
}

/// Fields that belong one level down: a wrongly indented line lands them at the top.
const NESTED: &[(&str, &str)] = &[
    (
        "extraArgs",
        "apiServer.extraArgs (or controllerManager/scheduler)",
    ),
    (
        "extraVolumes",
        "apiServer.extraVolumes (or controllerManager/scheduler)",
    ),
    ("certSANs", "apiServer.certSANs"),
    ("podSubnet", "networking.podSubnet"),
    ("serviceSubnet", "networking.serviceSubnet"),
    ("dnsDomain", "networking.dnsDomain"),
    ("advertiseAddress", "localAPIEndpoint.advertiseAddress"),
    ("bindPort", "localAPIEndpoint.bindPort"),
    ("criSocket", "nodeRegistration.criSocket"),
    ("kubeletExtraArgs", "nodeRegistration.kubeletExtraArgs"),
    ("taints", "nodeRegistration.taints"),
    ("dataDir", "etcd.local.dataDir"),
];

/// The field path an error is about and its message (with a close-match suggestion).
fn describe(path: &str, inner: &str, kind: &str) -> (String, String) {
    let path = if path == "." {
        String::new()
    } else {
        path.to_string()
    };
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        // The error's path already ends with the unknown name.
        let field = path.clone();
        let path = path
            .strip_suffix(name)
            .map(|p| p.trim_end_matches('.').to_string())
            .unwrap_or_default();
        let expected: Vec<&str> = rest
            .split('`')
            .skip(1)
            .filter(|s| !s.contains(',') && !s.trim().is_empty() && !s.contains(' '))
            .collect();
        let nested = NESTED
            .iter()
            .find(|(n, _)| path.is_empty() && *n == name)
            .map(|(_, home)| format!("; it belongs under {home}: indent it below its section"));
        let hint = nested
            .or_else(|| {
                suggest(name, &expected).map(|s| format!("; did you mean `{}`?", join(&path, s)))
            })
            .unwrap_or_default();
        return (
            field.clone(),
            format!("unknown field `{field}` in {kind}{hint}"),
        );
    }
    let mut message = format!("`{path}` in {kind}: {}", strip_location(inner));
    if inner.starts_with("invalid type: floating point") && inner.contains("expected a string") {
        // `kubernetesVersion: 1.20` is the number 1.2 to YAML.
        message.push_str(
            "; quote it (\"v1.20.0\"): unquoted, YAML reads it as a number, and 1.20 as 1.2",
        );
    } else if inner.starts_with("invalid type:") && inner.contains("expected a string") {
        message.push_str("; quote it to make it a string");
    }
    (path.clone(), message)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// A line indented with a tab: YAML allows only spaces there, and the parser's own words for it
/// ("found character that cannot start any token") do not say so.
fn tab_indent(text: &str, name: &str) -> Option<String> {
    text.lines().enumerate().find_map(|(i, line)| {
        let indent = &line[..line.len() - line.trim_start().len()];
        let col = indent.find('\t')?;
        Some(format!(
            "{name}:{}:{}: a tab in the indentation; YAML indents with spaces only: replace the tab with spaces",
            i + 1,
            col + 1
        ))
    })
}

/// The deepest `[`/`{` nesting a configuration may have. The YAML parser needs time quadratic in
/// the depth before its own limit stops it (a minute for 100 000 levels): refuse earlier.
const MAX_FLOW_DEPTH: usize = 64;

/// Flow collections nested deeper than [`MAX_FLOW_DEPTH`] (quotes and comments skipped).
fn too_deep(text: &str, name: &str) -> Option<String> {
    let (mut depth, mut quote, mut comment) = (0usize, None::<char>, false);
    let mut prev = '\n';
    let (mut line, mut col) = (1usize, 0usize);
    let mut escaped = false;
    for c in text.chars() {
        col += 1;
        if c == '\n' {
            (line, col, comment) = (line + 1, 0, false);
            if quote == Some('\'') {
                quote = None;
            }
        } else if comment {
        } else if let Some(q) = quote {
            if q == '"' && c == '\\' && !escaped {
                escaped = true;
                prev = c;
                continue;
            }
            if c == q && !escaped {
                quote = None;
            }
        } else {
            match c {
                '"' | '\'' => quote = Some(c),
                '#' if prev.is_whitespace() => comment = true,
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(format!(
                            "{name}:{line}:{col}: nested too deeply to be a configuration (more than {MAX_FLOW_DEPTH} levels of [ ] or {{ }})"
                        ));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        escaped = false;
        prev = c;
    }
    None
}

/// A YAML error where it happened, in words a user can act on.
fn yaml_problem(e: &serde_yaml::Error, doc: &Doc<'_>, name: &str) -> String {
    let message = strip_location(&e.to_string());
    // serde_yaml names a duplicate key without its place: find its second occurrence.
    if let Some(key) = message
        .strip_prefix("duplicate entry with key \"")
        .and_then(|k| k.strip_suffix('"'))
    {
        let lines: Vec<(usize, usize)> = doc
            .text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let body = l.trim_start();
                let rest = body.strip_prefix(key)?.trim_start();
                rest.starts_with(':').then_some((i, l.len() - body.len()))
            })
            .collect();
        if let [(first, _), .., (line, col)] = lines.as_slice() {
            return format!(
                "{name}:{}:{}: `{key}` is set twice in one mapping (first at line {}); keep one",
                line + doc.first_line,
                col + 1,
                first + doc.first_line
            );
        }
    }
    let at = e
        .location()
        .map(|l| format!("{name}:{}:{}", l.line() + doc.first_line - 1, l.column()))
        .unwrap_or_else(|| name.to_string());
    if message.contains("recursion limit exceeded") {
        return format!("{at}: nested too deeply to be a configuration (more than 128 levels)");
    }
    format!("{at}: not valid YAML: {message}")
}

/// Splits a multi-document YAML text on `---` lines.
fn split(text: &str) -> Vec<Doc<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") {
            docs.push(Doc {
                text: &text[start..offset],
                first_line,
            });
            start = offset + line.len();
            first_line = i + 2;
        }
        offset += line.len();
    }
    docs.push(Doc {
        text: &text[start..],
        first_line,
    });
    docs
}

fn segments(path: &str) -> Vec<String> {
    locate::segments(path)
}

pub(super) fn get_path<'a>(map: &'a Mapping, path: &str) -> Option<&'a Value> {
    let mut cur: Option<&Value> = None;
    for (i, seg) in segments(path).iter().enumerate() {
        let next = if i == 0 {
            map.get(seg.as_str())
        } else {
            cur?.get(seg.as_str())
        };
        cur = next;
    }
    cur
}

pub(super) fn remove_path(map: &mut Mapping, path: &str) -> bool {
    let mut value = Value::Mapping(std::mem::take(map));
    let removed = remove_path_value(&mut value, path);
    if let Value::Mapping(m) = value {
        *map = m;
    }
    removed
}

/// Removes the field at a path (`a.b[2].c`), so strict decoding can go on past it.
fn remove_path_value(value: &mut Value, path: &str) -> bool {
    let segs = segments(path);
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur = value;
    for seg in parents {
        let next = match seg.parse::<usize>() {
            Ok(i) if cur.is_sequence() => cur.get_mut(i),
            _ => cur.get_mut(seg.as_str()),
        };
        match next {
            Some(v) => cur = v,
            None => return false,
        }
    }
    match (cur, last.parse::<usize>()) {
        (Value::Sequence(seq), Ok(i)) if i < seq.len() => {
            seq.remove(i);
            true
        }
        (Value::Mapping(m), _) => m.remove(last.as_str()).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_with_their_first_line() {
        let docs = split("a: 1\n---\nb: 2\nc: 3\n--- \nd: 4\n");
        let firsts: Vec<usize> = docs.iter().map(|d| d.first_line).collect();
        assert_eq!(firsts, [1, 3, 6]);
        assert_eq!(docs[1].text, "b: 2\nc: 3\n");
    }

    #[test]
    fn removes_nested_fields() {
        let mut v: Value = serde_yaml::from_str("a:\n  b:\n  - x: 1\n    y: 2\n").unwrap();
        assert!(remove_path_value(&mut v, "a.b[0].y"));
        assert_eq!(serde_yaml::to_string(&v).unwrap(), "a:\n  b:\n  - x: 1\n");
        assert!(!remove_path_value(&mut v, "a.zz"));
    }
}
