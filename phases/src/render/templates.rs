//! Text artifacts kubestrap only writes, embedded at build time, and the one renderer that fills them.
//!
//! A placeholder is `{{key}}`. When it stands alone on a line, its value is a YAML block: every line
//! of the value gets the placeholder's indentation, and an empty value drops the line (how optional
//! fields such as `priority` come and go per version). Elsewhere the value is inline text. Rendering
//! fails on a placeholder without a value and on a value no placeholder uses, so a typo can never
//! turn into an empty string in a manifest.

use anyhow::{Result, bail};

/// kube-apiserver static pod.
pub const KUBE_APISERVER: &str = include_str!("../../../templates/static-pods/kube-apiserver.yaml");
/// kube-controller-manager static pod.
pub const KUBE_CONTROLLER_MANAGER: &str =
    include_str!("../../../templates/static-pods/kube-controller-manager.yaml");
/// kube-scheduler static pod.
pub const KUBE_SCHEDULER: &str = include_str!("../../../templates/static-pods/kube-scheduler.yaml");
/// Local etcd static pod.
pub const ETCD: &str = include_str!("../../../templates/static-pods/etcd.yaml");
/// kubeadm's defaults of the KubeletConfiguration (`/var/lib/kubelet/config.yaml`).
pub const KUBELET_CONFIG: &str = include_str!("../../../templates/kubelet/config.yaml");
/// `/var/lib/kubelet/kubeadm-flags.env`.
pub const KUBELET_FLAGS_ENV: &str = include_str!("../../../templates/kubelet/kubeadm-flags.env");
/// `/var/lib/kubelet/instance-config.yaml` (the node's CRI socket, 1.34+).
pub const KUBELET_INSTANCE_CONFIG: &str =
    include_str!("../../../templates/kubelet/instance-config.yaml");

/// kubestrap's drop-in for the kubelet's systemd unit (as kubeadm's package `10-kubeadm.conf`).
pub const KUBELET_DROP_IN: &str = include_str!("../../../templates/kubelet/10-kubestrap.conf");
/// `kubelet.service` for a kubelet installed without one.
pub const KUBELET_SERVICE: &str = include_str!("../../../templates/kubelet/kubelet.service");

/// Every template with its name, for tests and reviews.
pub const ALL: &[(&str, &str)] = &[
    ("static-pods/kube-apiserver.yaml", KUBE_APISERVER),
    (
        "static-pods/kube-controller-manager.yaml",
        KUBE_CONTROLLER_MANAGER,
    ),
    ("static-pods/kube-scheduler.yaml", KUBE_SCHEDULER),
    ("static-pods/etcd.yaml", ETCD),
    ("kubelet/config.yaml", KUBELET_CONFIG),
    ("kubelet/kubeadm-flags.env", KUBELET_FLAGS_ENV),
    ("kubelet/instance-config.yaml", KUBELET_INSTANCE_CONFIG),
    ("kubelet/10-kubestrap.conf", KUBELET_DROP_IN),
    ("kubelet/kubelet.service", KUBELET_SERVICE),
];

/// Fills the placeholders of template `name`.
pub fn render(name: &str, src: &str, vars: &[(&str, String)]) -> Result<String> {
    let mut used = vec![false; vars.len()];
    let mut out = String::with_capacity(src.len() + 512);
    for line in src.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        if let Some(key) = whole_placeholder(trimmed) {
            let i = lookup(name, vars, key)?;
            used[i] = true;
            for value_line in vars[i].1.lines() {
                if value_line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(indent);
                    out.push_str(value_line);
                    out.push('\n');
                }
            }
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                bail!("template `{name}`: unclosed `{{{{` in line {body:?}");
            };
            let key = &rest[start + 2..start + 2 + len];
            let i = lookup(name, vars, key)?;
            used[i] = true;
            let value = &vars[i].1;
            if value.contains('\n') {
                bail!(
                    "template `{name}`: value of `{key}` spans lines but `{{{{{key}}}}}` is not alone on its line"
                );
            }
            out.push_str(&rest[..start]);
            out.push_str(value);
            rest = &rest[start + 2 + len + 2..];
        }
        out.push_str(rest);
    }
    if let Some(i) = used.iter().position(|u| !u) {
        bail!(
            "template `{name}` has no placeholder `{{{{{}}}}}` for the value given",
            vars[i].0
        );
    }
    Ok(out)
}

fn whole_placeholder(trimmed: &str) -> Option<&str> {
    let key = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
    (!key.contains("{{") && !key.contains("}}")).then_some(key)
}

fn lookup(name: &str, vars: &[(&str, String)], key: &str) -> Result<usize> {
    match vars.iter().position(|(k, _)| *k == key) {
        Some(i) => Ok(i),
        None => bail!("template `{name}`: no value for placeholder `{{{{{key}}}}}`"),
    }
}

/// A YAML scalar as Go's YAML encoder writes it: plain when that reads back as the same string,
/// double-quoted when it would read as a number, bool or null, single-quoted otherwise.
pub fn scalar(s: &str) -> String {
    if s.is_empty() || looks_typed(s) {
        return format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    }
    if s.contains(['\n', '\t', '\r']) {
        return serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"));
    }
    if plain_safe(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn looks_typed(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    if WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return true;
    }
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let numeric = t
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && t.replace('_', "").parse::<f64>().is_ok();
    numeric
        || t.strip_prefix("0x").is_some_and(|h| !h.is_empty())
        || matches!(t.to_ascii_lowercase().as_str(), ".inf" | ".nan")
}

fn plain_safe(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if matches!(
        first,
        '?' | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | ' '
    ) {
        return false;
    }
    if first == '-' && (s.len() == 1 || s[1..].starts_with(' ')) {
        return false;
    }
    !(s.ends_with(' ') || s.ends_with(':') || s.contains(": ") || s.contains(" #"))
}

/// A JSON value as YAML the way Go's encoder writes a Kubernetes object: block style, keys
/// sorted, lists at their key's indentation, strings quoted only where YAML 1.1 would misread them.
pub fn yaml(value: &serde_json::Value) -> String {
    let mut out = String::new();
    yaml_block(value, 0, &mut out);
    out
}

fn yaml_inline(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

fn is_block(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => !m.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn yaml_block(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (key, val) in map {
                out.push_str(&format!("{pad}{}:", scalar(key)));
                match val {
                    Value::Object(_) if is_block(val) => {
                        out.push('\n');
                        yaml_block(val, indent + 2, out);
                    }
                    Value::Array(_) if is_block(val) => {
                        out.push('\n');
                        yaml_block(val, indent, out);
                    }
                    _ => out.push_str(&format!(" {}\n", yaml_inline(val))),
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                if is_block(item) {
                    let mut inner = String::new();
                    yaml_block(item, indent + 2, &mut inner);
                    match item {
                        // The first key goes on the dash's line.
                        Value::Object(_) => {
                            out.push(' ');
                            out.push_str(&inner[indent + 2..]);
                        }
                        _ => {
                            out.push('\n');
                            out.push_str(&inner);
                        }
                    }
                } else {
                    out.push_str(&format!(" {}\n", yaml_inline(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", yaml_inline(other))),
    }
}

/// A YAML block sequence of scalars (`- a` lines).
pub fn list(items: &[String]) -> String {
    items.iter().map(|i| format!("- {}\n", scalar(i))).collect()
}

/// Indents every non-empty line of a block by `n` spaces.
pub fn indent(block: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    block
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(k: &'static str, s: &str) -> (&'static str, String) {
        (k, s.to_string())
    }

    #[test]
    fn fills_inline_and_block_placeholders() {
        let src = "a: {{x}}\nb:\n  {{items}}\nc: 1\n  {{gone}}\n";
        let out = render(
            "t",
            src,
            &[v("x", "one"), v("items", "- p\n- q\n"), v("gone", "")],
        )
        .unwrap();
        assert_eq!(out, "a: one\nb:\n  - p\n  - q\nc: 1\n");
    }

    #[test]
    fn refuses_missing_and_unused_values() {
        let err = render("t", "a: {{x}}\n", &[]).unwrap_err().to_string();
        assert!(err.contains("no value for placeholder `{{x}}`"), "{err}");
        let err = render("t", "a: 1\n", &[v("y", "2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no placeholder `{{y}}`"), "{err}");
        let err = render("t", "a: {{x}} b\n", &[v("x", "1\n2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("spans lines"), "{err}");
    }

    #[test]
    fn quotes_scalars_like_go_yaml() {
        assert_eq!(
            scalar("--authorization-mode=Node,RBAC"),
            "--authorization-mode=Node,RBAC"
        );
        assert_eq!(
            scalar("--controllers=*,bootstrapsigner,tokencleaner"),
            "--controllers=*,bootstrapsigner,tokencleaner"
        );
        assert_eq!(scalar("0"), "\"0\"");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("*"), "'*'");
        assert_eq!(scalar("a: b"), "'a: b'");
        assert_eq!(scalar("unix:///run/x.sock"), "unix:///run/x.sock");
        assert_eq!(scalar("192.168.0.10:6443"), "192.168.0.10:6443");
        assert_eq!(scalar("10.96.0.10"), "10.96.0.10");
    }

    /// Every template, rendered with sample values, parses as YAML (the env file as text).
    #[test]
    fn every_template_renders_and_parses() {
        for (name, src) in ALL {
            let mut keys: Vec<&str> = Vec::new();
            let mut rest = *src;
            while let Some(start) = rest.find("{{") {
                let len = rest[start + 2..].find("}}").unwrap();
                let key = &rest[start + 2..start + 2 + len];
                if !keys.contains(&key) {
                    keys.push(key);
                }
                rest = &rest[start + 2 + len + 2..];
            }
            // A block placeholder gets a key of its own, an inline one a plain word.
            let vars: Vec<(&str, String)> = keys
                .iter()
                .map(|k| {
                    let alone = src.lines().any(|l| l.trim() == format!("{{{{{k}}}}}"));
                    let value = if alone {
                        format!("{k}Sample: x")
                    } else {
                        "x".into()
                    };
                    (*k, value)
                })
                .collect();
            let out = render(name, src, &vars).unwrap();
            assert!(!out.contains("{{"), "{name}");
            if name.ends_with(".yaml") {
                let parsed: serde_yaml::Value = serde_yaml::from_str(&out)
                    .unwrap_or_else(|e| panic!("{name} does not parse: {e}\n{out}"));
                assert!(parsed.is_mapping(), "{name}");
            }
        }
    }
}
