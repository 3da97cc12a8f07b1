//! A systemd service as systemd would load it from the unit files under the root: the unit, its
//! drop-ins in systemd's order, and the command line `ExecStart=` expands to. kubestrap reads it to
//! know whether the kubelet's service starts the kubelet with the files init and join write.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};

use crate::fs::root::Root;

/// The system unit folders, highest priority first (`/lib` for hosts without merged `/usr`).
pub const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// One `EnvironmentFile=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub path: String,
    /// `-` prefix: a missing file is not an error.
    pub optional: bool,
}

/// The `[Service]` settings kubestrap cares about, after every drop-in was applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    /// The unit file.
    pub unit: String,
    /// Its drop-ins, in the order systemd applies them.
    pub drop_ins: Vec<String>,
    /// The effective `ExecStart=` lines (after `ExecStart=` resets).
    pub exec_start: Vec<String>,
    /// The file that set the effective `ExecStart=`.
    pub exec_start_from: Option<String>,
    /// `Environment=` assignments, in order.
    pub environment: Vec<(String, String)>,
    pub environment_files: Vec<EnvFile>,
}

/// The unit file of `name` (the first in [`UNIT_DIRS`] order) and its `.d/*.conf` drop-ins: one
/// per file name (a higher-priority folder masks a lower one), sorted by file name.
pub fn locate(root: &Root, name: &str) -> (Option<String>, Vec<String>) {
    let unit = UNIT_DIRS
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| root.exists(p));
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in UNIT_DIRS {
        let d = format!("{dir}/{name}.d");
        for file in root.list(&d).unwrap_or_default() {
            if file.ends_with(".conf") {
                by_name
                    .entry(file.clone())
                    .or_insert_with(|| format!("{d}/{file}"));
            }
        }
    }
    (unit, by_name.into_values().collect())
}

/// The service `name` as systemd would load it; `None` when no unit file exists (drop-ins alone
/// do not make a unit).
pub fn load(root: &Root, name: &str) -> Result<Option<Service>> {
    let (Some(unit), drop_ins) = locate(root, name) else {
        return Ok(None);
    };
    let mut service = Service {
        unit: unit.clone(),
        drop_ins: drop_ins.clone(),
        ..Service::default()
    };
    for file in std::iter::once(&unit).chain(&drop_ins) {
        let text = root
            .read_to_string(file)
            .with_context(|| format!("cannot read the unit file `{file}`"))?;
        for (key, value) in service_entries(&text) {
            service.apply(file, &key, &value)?;
        }
    }
    Ok(Some(service))
}

/// The service one file describes alone (a unit, or a drop-in read without its unit).
pub fn parse(file: &str, text: &str) -> Result<Service> {
    let mut service = Service {
        unit: file.to_string(),
        ..Service::default()
    };
    for (key, value) in service_entries(text) {
        service.apply(file, &key, &value)?;
    }
    Ok(service)
}

/// The `key=value` entries of the `[Service]` section, with continuation lines joined.
fn service_entries(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let whole = std::mem::take(&mut pending);
        let whole = whole.trim();
        if whole.starts_with('[') && whole.ends_with(']') {
            section = whole[1..whole.len() - 1].to_string();
        } else if section == "Service"
            && let Some((k, v)) = whole.split_once('=')
        {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

impl Service {
    fn apply(&mut self, file: &str, key: &str, value: &str) -> Result<()> {
        match key {
            "ExecStart" if value.is_empty() => {
                self.exec_start.clear();
                self.exec_start_from = None;
            }
            "ExecStart" => {
                self.exec_start.push(value.to_string());
                self.exec_start_from = Some(file.to_string());
            }
            "Environment" if value.is_empty() => self.environment.clear(),
            "Environment" => {
                let words = shlex::split(value).with_context(|| {
                    format!("`{file}`: unbalanced quotes in `Environment={value}`")
                })?;
                for word in words {
                    if let Some((k, v)) = word.split_once('=') {
                        self.environment.push((k.to_string(), v.to_string()));
                    }
                }
            }
            "EnvironmentFile" if value.is_empty() => self.environment_files.clear(),
            "EnvironmentFile" => {
                let (optional, path) = match value.strip_prefix('-') {
                    Some(p) => (true, p),
                    None => (false, value),
                };
                self.environment_files.push(EnvFile {
                    path: path.to_string(),
                    optional,
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The one effective `ExecStart=` line; systemd refuses a simple service with several.
    pub fn exec_line(&self) -> Result<&str> {
        match self.exec_start.as_slice() {
            [] => bail!("`{}` and its drop-ins leave no ExecStart=", self.unit),
            [one] => Ok(one),
            _ => bail!(
                "`{}` and its drop-ins leave {} ExecStart= lines (a service may have one; a drop-in that replaces it starts with an empty `ExecStart=`)",
                self.unit,
                self.exec_start.len()
            ),
        }
    }

    /// The program `ExecStart=` runs, without systemd's prefixes (`-`, `@`, `+`, `!`, `:`).
    pub fn program(&self) -> Result<String> {
        let line = self.exec_line()?;
        let words = shlex::split(line).unwrap_or_default();
        let first = words.first().map(String::as_str).unwrap_or_default();
        Ok(first
            .trim_start_matches(['-', '@', '+', '!', ':'])
            .to_string())
    }

    /// The `Environment=` variables (later assignments win).
    pub fn static_environment(&self) -> BTreeMap<String, String> {
        self.environment.iter().cloned().collect()
    }

    /// The process's environment when it starts: `Environment=`, then the environment files in
    /// order (they override). A missing required file is an error, as systemd refuses to start.
    pub fn environment_at_start(&self, root: &Root) -> Result<BTreeMap<String, String>> {
        let mut env = self.static_environment();
        for file in &self.environment_files {
            match root.read_optional(&file.path)? {
                Some(bytes) => env.extend(parse_env_file(&String::from_utf8_lossy(&bytes))),
                None if file.optional => {}
                None => bail!(
                    "the environment file `{}` of `{}` does not exist",
                    file.path,
                    self.unit
                ),
            }
        }
        Ok(env)
    }
}

/// An `EnvironmentFile=`: `KEY=VALUE` lines; `#`/`;` comments; a quoted value is unquoted.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let value = if v.starts_with('"') || v.starts_with('\'') {
            shlex::split(v).map_or_else(|| v.to_string(), |w| w.join(" "))
        } else {
            v.to_string()
        };
        out.push((k.trim().to_string(), value));
    }
    out
}

/// Expands a command line as systemd does: a word that is exactly `$NAME` becomes the value's
/// whitespace-separated words (none when empty), `${NAME}` becomes the value as one piece, `$$` a
/// `$`. Variables not in `env` are kept as written when `keep_unknown`, else expand to nothing.
pub fn expand(
    line: &str,
    env: &BTreeMap<String, String>,
    keep_unknown: bool,
) -> Result<Vec<String>> {
    let words = shlex::split(line).with_context(|| format!("unbalanced quotes in `{line}`"))?;
    let mut out = Vec::new();
    for word in words {
        if let Some(name) = word.strip_prefix('$').filter(|n| is_name(n)) {
            match env.get(name) {
                Some(v) => out.extend(v.split_whitespace().map(str::to_string)),
                None if keep_unknown => out.push(word.clone()),
                None => {}
            }
            continue;
        }
        out.push(expand_braced(&word, env, keep_unknown));
    }
    Ok(out)
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn expand_braced(word: &str, env: &BTreeMap<String, String>, keep_unknown: bool) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{')
            && let Some(end) = inner.find('}')
            && is_name(&inner[..end])
        {
            match env.get(&inner[..end]) {
                Some(v) => out.push_str(v),
                None if keep_unknown => out.push_str(&rest[i..i + end + 3]),
                None => {}
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_whole_word_variable_splits_and_a_braced_one_does_not() {
        let e = env(&[("A", "--x=1  --y=2"), ("B", "two words"), ("EMPTY", "")]);
        assert_eq!(
            expand("/bin/k $A ${B} $EMPTY --z=${B}! $$HOME", &e, false).unwrap(),
            [
                "/bin/k",
                "--x=1",
                "--y=2",
                "two words",
                "--z=two words!",
                "$HOME"
            ]
        );
        assert_eq!(
            expand("/bin/k $UNSET ${UNSET}x", &e, true).unwrap(),
            ["/bin/k", "$UNSET", "${UNSET}x"]
        );
        assert_eq!(expand("/bin/k $UNSET", &e, false).unwrap(), ["/bin/k"]);
    }

    #[test]
    fn environment_files_unquote_values_and_skip_comments() {
        let parsed = parse_env_file(
            "# comment\n; other\nKUBELET_KUBEADM_ARGS=\"--a=b --c=\\\"d\\\"\"\nPLAIN=x y \nbroken\n",
        );
        assert_eq!(
            parsed,
            [
                (
                    "KUBELET_KUBEADM_ARGS".to_string(),
                    "--a=b --c=\"d\"".to_string()
                ),
                ("PLAIN".to_string(), "x y".to_string()),
            ]
        );
    }

    #[test]
    fn drop_ins_apply_in_name_order_and_reset_exec_start() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.write(
            "/usr/lib/systemd/system/kubelet.service",
            b"[Unit]\nDescription=k\n[Service]\nExecStart=/usr/bin/kubelet\nEnvironment=A=1\n",
            0o644,
        )
        .unwrap();
        // Same name in /etc masks the one in /usr/lib.
        root.write(
            "/usr/lib/systemd/system/kubelet.service.d/20-b.conf",
            b"[Service]\nExecStart=/masked\n",
            0o644,
        )
        .unwrap();
        root.write(
            "/etc/systemd/system/kubelet.service.d/20-b.conf",
            b"[Service]\nEnvironment=\"B=x y\" C=2\nEnvironmentFile=-/etc/default/kubelet\n",
            0o644,
        )
        .unwrap();
        root.write(
            "/etc/systemd/system/kubelet.service.d/10-a.conf",
            b"# c\n[Service]\nExecStart=\nExecStart=/usr/bin/kubelet \\\n  $B\n",
            0o644,
        )
        .unwrap();
        let s = load(&root, "kubelet.service").unwrap().unwrap();
        assert_eq!(s.unit, "/usr/lib/systemd/system/kubelet.service");
        assert_eq!(
            s.drop_ins,
            [
                "/etc/systemd/system/kubelet.service.d/10-a.conf",
                "/etc/systemd/system/kubelet.service.d/20-b.conf"
            ]
        );
        assert_eq!(s.exec_line().unwrap(), "/usr/bin/kubelet  $B");
        assert_eq!(
            s.exec_start_from.as_deref(),
            Some("/etc/systemd/system/kubelet.service.d/10-a.conf")
        );
        assert_eq!(s.program().unwrap(), "/usr/bin/kubelet");
        let env = s.environment_at_start(&root).unwrap();
        assert_eq!(
            expand(s.exec_line().unwrap(), &env, false).unwrap(),
            ["/usr/bin/kubelet", "x", "y"]
        );
        assert!(load(&root, "other.service").unwrap().is_none());
    }

    #[test]
    fn two_exec_starts_without_a_reset_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.write(
            "/etc/systemd/system/k.service",
            b"[Service]\nExecStart=/a\n",
            0o644,
        )
        .unwrap();
        root.write(
            "/etc/systemd/system/k.service.d/x.conf",
            b"[Service]\nExecStart=/b\n",
            0o644,
        )
        .unwrap();
        let s = load(&root, "k.service").unwrap().unwrap();
        let err = s.exec_line().unwrap_err().to_string();
        assert!(err.contains("2 ExecStart= lines"), "{err}");
    }
}
