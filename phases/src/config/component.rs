//! The component configs a kubeadm file may carry, checked before anything is written: a
//! `KubeletConfiguration` (`kubelet.config.k8s.io/v1beta1`, copied into the kubelet's
//! `config.yaml`) and a `KubeProxyConfiguration` (`kubeproxy.config.k8s.io/v1alpha1`, put in the
//! kube-proxy ConfigMap). Their apiVersion, field names and value types are checked against a
//! table generated from the components' own Go types (`phases/data/component-fields.tsv`, made by
//! `component-fields.py` beside it), so a typo or a wrong type is refused with its place in the
//! file instead of crash-looping the component later.
//!
//! Versions: the table holds two sets of types, Kubernetes v1.20.2's and the newest upstream ones.
//! A field of either is accepted (the union: between the two, which minor added or removed a field
//! is not known). What is known is said: for a v1.20 target, a field that v1.20 lacks is warned
//! about, and for a newer target, a field that only v1.20 had. Both components read their file
//! strictly first and then, on unknown fields, leniently with a logged warning, so such a field is
//! ignored, not fatal: a warning, not an error.

use std::sync::LazyLock;

use serde_yaml::{Mapping, Value};

use super::duration;
use super::suggest::suggest;
use crate::version::KubeVersion;

/// The API version each component kind must have.
pub const API_VERSIONS: &[(&str, &str)] = &[
    ("KubeletConfiguration", "kubelet.config.k8s.io/v1beta1"),
    ("KubeProxyConfiguration", "kubeproxy.config.k8s.io/v1alpha1"),
];

/// One field of a component config, as the generated table lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub kind: &'static str,
    /// `authentication.webhook.cacheTTL`; the fields of a list's items sit under `name[]`.
    pub path: &'static str,
    /// `string`, `bool`, `int32`, `int64`, `uint32`, `float`, `duration`, `nanoseconds`,
    /// `quantity`, `time`, `struct`, `list<T>` or `map<T>`.
    pub ty: &'static str,
    /// Kubernetes v1.20's types have it.
    pub in_v1_20: bool,
    /// The newest upstream types have it.
    pub in_latest: bool,
}

const TABLE: &str = include_str!("../../data/component-fields.tsv");

/// The table, parsed once.
pub fn fields() -> &'static [Field] {
    static FIELDS: LazyLock<Vec<Field>> = LazyLock::new(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|line| {
                let cols: Vec<&'static str> = line.split('\t').collect();
                let [kind, path, ty, versions] = cols[..] else {
                    panic!("component-fields.tsv: not four columns: {line:?}");
                };
                let has = |v: &str| versions.split(',').any(|x| x == v);
                Field {
                    kind,
                    path,
                    ty,
                    in_v1_20: has("v1.20"),
                    in_latest: has("latest"),
                }
            })
            .collect()
    });
    &FIELDS
}

fn field(kind: &str, path: &str) -> Option<&'static Field> {
    fields().iter().find(|f| f.kind == kind && f.path == path)
}

/// The names of the fields right below a struct at `parent` ("" for the document).
fn children(kind: &str, parent: &str) -> Vec<&'static str> {
    fields()
        .iter()
        .filter(|f| f.kind == kind)
        .filter_map(|f| match parent {
            "" => Some(f.path),
            p => f.path.strip_prefix(p)?.strip_prefix('.'),
        })
        .filter(|name| !name.contains('.') && !name.ends_with("[]"))
        .collect()
}

/// Checks a component document; each problem is pushed as `file:line:column: message`.
pub fn check(
    kind: &str,
    api_version: &str,
    map: &Mapping,
    here: &dyn Fn(&str) -> String,
    problems: &mut Vec<String>,
) {
    let Some((_, expected)) = API_VERSIONS.iter().find(|(k, _)| *k == kind) else {
        return;
    };
    if api_version != *expected {
        problems.push(format!(
            "{}: `apiVersion` {api_version} is not an API version of {kind}: write `apiVersion: {expected}` (the version every supported Kubernetes reads)",
            here("apiVersion")
        ));
        return;
    }
    let mut walk = Walk {
        kind,
        here,
        problems,
        unlisted: 0,
    };
    walk.mapping("", "", map, true);
    if walk.unlisted > 0 {
        let more = format!(
            "{}: {} more problems in the {kind} are not listed",
            here(""),
            walk.unlisted
        );
        walk.problems.push(more);
    }
}

struct Walk<'a> {
    kind: &'a str,
    here: &'a dyn Fn(&str) -> String,
    problems: &'a mut Vec<String>,
    /// Problems past what an error shows: counted, not placed (placing each costs a look
    /// through the document).
    unlisted: usize,
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

impl Walk<'_> {
    fn problem(&mut self, at: &str, message: String) {
        if self.problems.len() + 1 >= super::validate::MAX_PROBLEMS_SHOWN {
            self.unlisted += 1;
            return;
        }
        let place = (self.here)(at);
        self.problems.push(format!("{place}: {message}"));
    }

    /// The fields of a struct: `table` is its path in the table, `at` in the file.
    fn mapping(&mut self, table: &str, at: &str, map: &Mapping, top: bool) {
        for (key, value) in map {
            let Some(name) = key.as_str() else {
                self.problem(
                    at,
                    format!(
                        "`{at}` in {}: a field name must be a string, not {}",
                        self.kind,
                        describe(key)
                    ),
                );
                continue;
            };
            if top && (name == "apiVersion" || name == "kind") {
                continue;
            }
            let path = join(at, name);
            let Some(f) = field(self.kind, &join(table, name)) else {
                let known = children(self.kind, table);
                let hint = suggest(name, &known)
                    .map(|s| format!("; did you mean `{}`?", join(at, s)))
                    .unwrap_or_default();
                self.problem(
                    &path,
                    format!("unknown field `{path}` in {}{hint}", self.kind),
                );
                continue;
            };
            self.value(f.path, f.ty, &path, value);
        }
    }

    /// A value of type `ty`; `table` is its path in the table, `at` in the file.
    fn value(&mut self, table: &str, ty: &str, at: &str, value: &Value) {
        // Go decodes null as the zero value: accepted wherever it appears.
        if value.is_null() {
            return;
        }
        if let Some(elem) = ty.strip_prefix("list<").and_then(|t| t.strip_suffix('>')) {
            let Value::Sequence(items) = value else {
                return self.wrong(at, &format!("a list, each item {}", expected(elem)), value);
            };
            let table = format!("{table}[]");
            for (i, item) in items.iter().enumerate() {
                self.value(&table, elem, &format!("{at}[{i}]"), item);
            }
            return;
        }
        if let Some(elem) = ty.strip_prefix("map<").and_then(|t| t.strip_suffix('>')) {
            let Value::Mapping(map) = value else {
                return self.wrong(
                    at,
                    &format!("a mapping, each value {}", expected(elem)),
                    value,
                );
            };
            for (key, item) in map {
                let name = key.as_str().map(str::to_string).unwrap_or_else(|| {
                    serde_yaml::to_string(key)
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                });
                // A dotted key (`memory.available`) is not a path: point at the map then.
                let place = if name.contains('.') {
                    at.to_string()
                } else {
                    join(at, &name)
                };
                if let Some(problem) = scalar_problem(elem, item) {
                    self.problem(
                        &place,
                        format!("`{at}` in {}: the value of `{name}` {problem}", self.kind),
                    );
                } else if elem.starts_with("list<") {
                    self.value("", elem, &place, item);
                }
            }
            return;
        }
        if ty == "struct" {
            let Value::Mapping(map) = value else {
                let names = children(self.kind, table).join(", ");
                return self.wrong(at, &format!("a mapping with the fields {names}"), value);
            };
            return self.mapping(table, at, map, false);
        }
        if let Some(problem) = scalar_problem(ty, value) {
            self.problem(at, format!("`{at}` in {}: {problem}", self.kind));
        }
    }

    fn wrong(&mut self, at: &str, what: &str, value: &Value) {
        self.problem(
            at,
            format!(
                "`{at}` in {}: expected {what}, found {}",
                self.kind,
                describe(value)
            ),
        );
    }
}

/// What a type's values look like, for messages.
fn expected(ty: &str) -> String {
    match ty {
        "string" | "time" => "a string".into(),
        "bool" => "true or false".into(),
        "int32" | "int64" | "uint32" => format!("an integer ({ty})"),
        "float" => "a number".into(),
        "duration" => "a duration such as 90s, 5m or 1h30m".into(),
        "nanoseconds" => "a duration such as 5s, or a number of nanoseconds".into(),
        "quantity" => "a quantity such as 100Mi, 2 or 500m".into(),
        "struct" => "a mapping of fields".into(),
        other => match other
            .strip_prefix("list<")
            .and_then(|t| t.strip_suffix('>'))
        {
            Some(elem) => format!("a list, each item {}", expected(elem)),
            None => other.to_string(),
        },
    }
}

/// `None` when a value fits a scalar type (or a list/map type, checked by the caller);
/// otherwise what was expected and what was found.
fn scalar_problem(ty: &str, value: &Value) -> Option<String> {
    let fits = match (ty, value) {
        (_, Value::Null) => true,
        (t, Value::Sequence(_)) if t.starts_with("list<") => true,
        ("string" | "time", Value::String(_)) => true,
        ("bool", Value::Bool(_)) => true,
        ("int32", Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        ("int64", Value::Number(n)) => n.as_i64().is_some(),
        ("uint32", Value::Number(n)) => n.as_u64().is_some_and(|i| u32::try_from(i).is_ok()),
        ("float", Value::Number(_)) => true,
        ("duration" | "nanoseconds", Value::String(s)) => {
            return go_duration(s).err().map(|e| format!("{e}"));
        }
        ("nanoseconds", Value::Number(n)) => n.as_i64().is_some(),
        ("quantity", Value::Number(_)) => true,
        ("quantity", Value::String(s)) => is_quantity(s),
        _ => false,
    };
    if fits {
        return None;
    }
    let mut message = format!("expected {}, found {}", expected(ty), describe(value));
    let hint = match (ty, value) {
        ("bool", Value::String(s)) if is_yaml11_bool(s) => {
            "; YAML 1.1's yes/no/on/off are strings here: write true or false"
        }
        ("int32" | "int64" | "uint32" | "float" | "bool", Value::String(_)) => {
            "; remove the quotes"
        }
        ("int32" | "uint32", Value::Number(n)) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            "; it is out of range"
        }
        ("duration", Value::Number(_)) => "; write it with a unit, e.g. 90s",
        ("string", Value::Number(_) | Value::Bool(_)) => "; quote it to make it a string",
        _ => "",
    };
    message.push_str(hint);
    Some(message)
}

/// A Go duration (`time.ParseDuration`): kubeadm's syntax, which a sign may precede.
fn go_duration(text: &str) -> anyhow::Result<()> {
    duration::parse_signed(text).map(|_| ())
}

fn is_yaml11_bool(s: &str) -> bool {
    ["y", "yes", "n", "no", "on", "off"].contains(&s.to_lowercase().as_str())
}

/// A Kubernetes resource quantity: a number, then a binary (Ki…Ei), decimal (n, u, m, k, M…E)
/// or exponent (e3) suffix.
fn is_quantity(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(digits);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return false;
    }
    const SUFFIXES: &[&str] = &[
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    SUFFIXES.contains(&suffix)
        || suffix
            .strip_prefix(['e', 'E'])
            .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
            .is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()))
}

/// A value as a message names it: `the string "abc"`, `the number 3`, `a list`.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// Fields set in a document (by table path), to weigh them against the target version.
fn set_fields(kind: &str, table: &str, value: &Value, out: &mut Vec<&'static Field>) {
    match value {
        Value::Mapping(map) => {
            for key in map.keys().filter_map(Value::as_str) {
                if let Some(f) = field(kind, &join(table, key)) {
                    out.push(f);
                    if f.ty == "struct" || f.ty == "list<struct>" {
                        set_fields(kind, f.path, &map[key], out);
                    }
                }
            }
        }
        Value::Sequence(items) => {
            let table = format!("{table}[]");
            for item in items {
                set_fields(kind, &table, item, out);
            }
        }
        _ => {}
    }
}

/// Warnings for fields the target version's component does not have (see the module docs).
pub fn version_warnings(kind: &str, doc: &Mapping, version: KubeVersion) -> Vec<String> {
    let mut set = Vec::new();
    set_fields(kind, "", &Value::Mapping(doc.clone()), &mut set);
    let component = if kind == "KubeletConfiguration" {
        "kubelet"
    } else {
        "kube-proxy"
    };
    set.iter()
        .filter_map(|f| {
            let path = f.path.replace("[]", "[*]");
            if version.minor == 20 && !f.in_v1_20 {
                Some(format!(
                    "`{path}` in the {kind} is newer than Kubernetes v1.20: the v1.20 {component} does not have it and ignores it"
                ))
            } else if version.minor > 20 && !f.in_latest {
                Some(format!(
                    "`{path}` in the {kind} is a Kubernetes v1.20 field that later versions removed: the {version} {component} may ignore it"
                ))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let map: Mapping = serde_yaml::from_str(text).unwrap();
        let kind = map["kind"].as_str().unwrap().to_string();
        let api = map["apiVersion"].as_str().unwrap().to_string();
        let mut out = Vec::new();
        let here = |p: &str| format!("f:{p}");
        check(&kind, &api, &map, &here, &mut out);
        out
    }

    const KUBELET: &str = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";

    #[test]
    fn the_table_parses_and_covers_the_known_fields() {
        let all = fields();
        let kubelet = all
            .iter()
            .filter(|f| f.kind == "KubeletConfiguration")
            .count();
        let proxy = all
            .iter()
            .filter(|f| f.kind == "KubeProxyConfiguration")
            .count();
        assert!(kubelet > 150 && proxy > 50, "{kubelet} {proxy}");
        for (kind, path, ty) in [
            ("KubeletConfiguration", "cgroupDriver", "string"),
            ("KubeletConfiguration", "maxPods", "int32"),
            ("KubeletConfiguration", "failSwapOn", "bool"),
            (
                "KubeletConfiguration",
                "authentication.webhook.cacheTTL",
                "duration",
            ),
            ("KubeletConfiguration", "evictionHard", "map<string>"),
            ("KubeletConfiguration", "clusterDNS", "list<string>"),
            (
                "KubeletConfiguration",
                "registerWithTaints[].effect",
                "string",
            ),
            (
                "KubeletConfiguration",
                "logging.flushFrequency",
                "nanoseconds",
            ),
            ("KubeProxyConfiguration", "mode", "string"),
            ("KubeProxyConfiguration", "clientConnection.qps", "float"),
            ("KubeProxyConfiguration", "conntrack.maxPerCore", "int32"),
        ] {
            let f = field(kind, path).unwrap_or_else(|| panic!("{kind} {path}"));
            assert_eq!(f.ty, ty, "{kind} {path}");
        }
        let f = field("KubeProxyConfiguration", "udpIdleTimeout").unwrap();
        assert!(f.in_v1_20 && !f.in_latest);
        let f = field("KubeletConfiguration", "containerRuntimeEndpoint").unwrap();
        assert!(!f.in_v1_20 && f.in_latest);
        // Every field sits below a struct (or list of structs) the table also has.
        for f in all {
            let parent = f
                .path
                .rsplit_once('.')
                .map(|(p, _)| p.trim_end_matches("[]"));
            if let Some(parent) = parent {
                let p = field(f.kind, parent).unwrap_or_else(|| panic!("{}", f.path));
                assert!(p.ty == "struct" || p.ty == "list<struct>", "{}", f.path);
            }
        }
    }

    #[test]
    fn a_correct_document_has_no_problems() {
        let text = format!(
            "{KUBELET}cgroupDriver: systemd\nmaxPods: 110\nfailSwapOn: false\npodPidsLimit: -1\nsyncFrequency: 1m0s\nevictionHard:\n  memory.available: 100Mi\nclusterDNS:\n- 10.96.0.10\nauthentication:\n  webhook:\n    enabled: true\n    cacheTTL: 2m\nregisterWithTaints:\n- key: a\n  effect: NoSchedule\nreservedMemory:\n- numaNode: 0\n  limits:\n    memory: 1Gi\nlogging:\n  flushFrequency: 5000000000\nstaticPodURLHeader:\n  X: [a, b]\nfeatureGates:\n  Foo: true\n"
        );
        assert_eq!(problems(&text), Vec::<String>::new());
    }

    #[test]
    fn wrong_values_are_named_with_what_was_expected() {
        let text = format!(
            "{KUBELET}maxPods: \"110\"\nfailSwapOn: yes\nsyncFrequency: 60\nclusterDNS: 10.96.0.10\nevictionHard: 100Mi\nauthentication: true\nfeatureGates:\n  Foo: 1\nport: 99999999999\nreservedMemory:\n- limits:\n    memory: lots\n"
        );
        let found = problems(&text);
        let expect = [
            "f:maxPods: `maxPods` in KubeletConfiguration: expected an integer (int32), found the string \"110\"; remove the quotes",
            "f:failSwapOn: `failSwapOn` in KubeletConfiguration: expected true or false, found the string \"yes\"; YAML 1.1's yes/no/on/off are strings here: write true or false",
            "f:syncFrequency: `syncFrequency` in KubeletConfiguration: expected a duration such as 90s, 5m or 1h30m, found the number 60; write it with a unit, e.g. 90s",
            "f:clusterDNS: `clusterDNS` in KubeletConfiguration: expected a list, each item a string, found the string \"10.96.0.10\"",
            "f:evictionHard: `evictionHard` in KubeletConfiguration: expected a mapping, each value a string, found the string \"100Mi\"",
            "f:featureGates.Foo: `featureGates` in KubeletConfiguration: the value of `Foo` expected true or false, found the number 1",
            "f:port: `port` in KubeletConfiguration: expected an integer (int32), found the number 99999999999; it is out of range",
            "f:reservedMemory[0].limits.memory: `reservedMemory[0].limits` in KubeletConfiguration: the value of `memory` expected a quantity such as 100Mi, 2 or 500m, found the string \"lots\"",
        ];
        for e in expect {
            assert!(found.iter().any(|f| f == e), "missing {e}\nin {found:#?}");
        }
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("f:authentication: `authentication` in KubeletConfiguration: expected a mapping with the fields anonymous, webhook, x509, found true")),
            "{found:#?}"
        );
        assert_eq!(found.len(), expect.len() + 1, "{found:#?}");
    }

    #[test]
    fn unknown_fields_get_the_nearest_name() {
        let text =
            format!("{KUBELET}cgroupDriverr: systemd\nauthentication:\n  webhok: {{}}\nzzz: 1\n");
        assert_eq!(
            problems(&text),
            [
                "f:cgroupDriverr: unknown field `cgroupDriverr` in KubeletConfiguration; did you mean `cgroupDriver`?",
                "f:authentication.webhok: unknown field `authentication.webhok` in KubeletConfiguration; did you mean `authentication.webhook`?",
                "f:zzz: unknown field `zzz` in KubeletConfiguration",
            ]
        );
    }

    #[test]
    fn a_wrong_api_version_names_the_right_one() {
        let text = "apiVersion: kubeproxy.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\nmode: ipvs\n";
        assert_eq!(
            problems(text),
            [
                "f:apiVersion: `apiVersion` kubeproxy.config.k8s.io/v1beta1 is not an API version of KubeProxyConfiguration: write `apiVersion: kubeproxy.config.k8s.io/v1alpha1` (the version every supported Kubernetes reads)"
            ]
        );
    }

    #[test]
    fn fields_the_target_version_lacks_are_warned_about() {
        let doc: Mapping = serde_yaml::from_str(&format!(
            "{KUBELET}containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\nmaxPods: 10\nlogging:\n  sanitization: true\n"
        ))
        .unwrap();
        let v = |minor| KubeVersion::new(minor, 0);
        let old = version_warnings("KubeletConfiguration", &doc, v(20));
        assert_eq!(old.len(), 1, "{old:?}");
        assert!(old[0].starts_with(
            "`containerRuntimeEndpoint` in the KubeletConfiguration is newer than Kubernetes v1.20"
        ));
        let new = version_warnings("KubeletConfiguration", &doc, v(30));
        assert_eq!(new.len(), 1, "{new:?}");
        assert!(new[0].starts_with("`logging.sanitization` in the KubeletConfiguration is a Kubernetes v1.20 field that later versions removed"));
    }

    #[test]
    fn quantities() {
        for ok in ["1", "100Mi", "0.5", "500m", "1e3", "+2Gi"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "lots", "1.2.3", "10MB", "Mi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
