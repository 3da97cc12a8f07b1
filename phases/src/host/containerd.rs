//! Reading and editing containerd's `config.toml`: which entry disables the CRI plugin, the runc
//! cgroup driver and the sandbox (pause) image, for config versions 1, 2 and 3.

use anyhow::{Context as _, Result, bail};
use toml_edit::{DocumentMut, ImDocument, Item, Table, Value};

/// Where containerd reads its configuration.
pub const CONFIG: &str = "/etc/containerd/config.toml";

/// `disabled_plugins` entries that switch the CRI plugin off.
const CRI_IDS: &[&str] = &[
    "cri",
    "io.containerd.grpc.v1.cri",
    "io.containerd.cri.v1.runtime",
    "io.containerd.cri.v1.images",
];

/// What kubestrap needs from containerd's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The config `version` (1 when absent).
    pub version: i64,
    /// The `disabled_plugins` entry that disables CRI, with its 1-based line and the line's text.
    pub cri_disabled: Option<(String, usize, String)>,
    /// runc's `SystemdCgroup`, with its line when the file sets it.
    pub systemd_cgroup: Option<(bool, usize)>,
    /// The sandbox image, with its line, when the file sets it.
    pub sandbox_image: Option<(String, usize)>,
}

impl Settings {
    /// The settings of a host without a config file: containerd's defaults.
    pub fn defaults() -> Self {
        Settings {
            version: 2,
            cri_disabled: None,
            systemd_cgroup: None,
            sandbox_image: None,
        }
    }

    /// The dotted table that holds runc's options, as written in this config version.
    pub fn runc_options_table(&self) -> String {
        format!(
            "plugins.{}.containerd.runtimes.runc.options",
            key_name(runtime_plugin(self.version))
        )
    }

    /// The dotted key of the sandbox image in this config version.
    pub fn sandbox_key(&self) -> String {
        let (plugin, rest) = sandbox_path(self.version);
        format!("plugins.{}.{}", key_name(plugin), rest.join("."))
    }
}

fn runtime_plugin(version: i64) -> &'static str {
    match version {
        ..=1 => "cri",
        2 => "io.containerd.grpc.v1.cri",
        _ => "io.containerd.cri.v1.runtime",
    }
}

fn sandbox_path(version: i64) -> (&'static str, &'static [&'static str]) {
    match version {
        ..=1 => ("cri", &["sandbox_image"]),
        2 => ("io.containerd.grpc.v1.cri", &["sandbox_image"]),
        _ => ("io.containerd.cri.v1.images", &["pinned_images", "sandbox"]),
    }
}

fn key_name(key: &str) -> String {
    if key.contains('.') {
        format!("{key:?}")
    } else {
        key.to_string()
    }
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> usize {
    span.map_or(0, |s| {
        text[..s.start.min(text.len())].matches('\n').count() + 1
    })
}

/// Reads the settings from a config file's text.
pub fn parse(text: &str) -> Result<Settings> {
    let doc = ImDocument::parse(text).context("not valid TOML")?;
    let root = doc.as_table();
    let version = root.get("version").and_then(Item::as_integer).unwrap_or(1);
    let mut cri_disabled = None;
    if let Some(list) = root.get("disabled_plugins").and_then(Item::as_array) {
        for entry in list {
            if let Some(id) = entry.as_str()
                && CRI_IDS.contains(&id)
            {
                let line = line_of(text, entry.span());
                let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
                cri_disabled = Some((id.to_string(), line, line_text.trim().to_string()));
                break;
            }
        }
    }
    let lookup = |path: &[&str]| -> Option<&Item> {
        let mut item = root.get(path[0])?;
        for key in &path[1..] {
            item = item.as_table_like()?.get(key)?;
        }
        Some(item)
    };
    let plugin = runtime_plugin(version);
    let systemd_cgroup = lookup(&[
        "plugins",
        plugin,
        "containerd",
        "runtimes",
        "runc",
        "options",
        "SystemdCgroup",
    ])
    .and_then(|item| Some((item.as_bool()?, line_of(text, item.span()))));
    let (plugin, rest) = sandbox_path(version);
    let mut path = vec!["plugins", plugin];
    path.extend_from_slice(rest);
    let sandbox_image = lookup(&path)
        .and_then(|item| Some((item.as_str()?.to_string(), line_of(text, item.span()))));
    Ok(Settings {
        version,
        cri_disabled,
        systemd_cgroup,
        sandbox_image,
    })
}

/// Changes to make to the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    pub enable_cri: bool,
    pub systemd_cgroup: Option<bool>,
    pub sandbox_image: Option<String>,
}

impl Edits {
    pub fn is_empty(&self) -> bool {
        *self == Edits::default()
    }
}

/// Applies the edits to a config file's text (`None`: no file yet), keeping everything else as is.
pub fn edit(text: Option<&str>, edits: &Edits) -> Result<String> {
    let mut doc: DocumentMut = match text {
        Some(t) => t.parse().context("not valid TOML")?,
        None => "version = 2\n".parse().context("not valid TOML")?,
    };
    let version = doc.get("version").and_then(Item::as_integer).unwrap_or(1);
    if edits.enable_cri
        && let Some(list) = doc.get_mut("disabled_plugins").and_then(Item::as_array_mut)
    {
        list.retain(|v| !v.as_str().is_some_and(|id| CRI_IDS.contains(&id)));
    }
    if let Some(on) = edits.systemd_cgroup {
        let table = table_at(
            doc.as_table_mut(),
            &[
                "plugins",
                runtime_plugin(version),
                "containerd",
                "runtimes",
                "runc",
                "options",
            ],
        )?;
        table.insert("SystemdCgroup", toml_edit::value(on));
    }
    if let Some(image) = &edits.sandbox_image {
        let (plugin, rest) = sandbox_path(version);
        let mut path = vec!["plugins", plugin];
        path.extend_from_slice(&rest[..rest.len() - 1]);
        let table = table_at(doc.as_table_mut(), &path)?;
        table.insert(rest[rest.len() - 1], toml_edit::value(image.as_str()));
    }
    Ok(doc.to_string())
}

/// The table at a dotted path, created (with implicit parents) when missing.
fn table_at<'a>(mut table: &'a mut Table, path: &[&str]) -> Result<&'a mut Table> {
    for (i, key) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let item = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(!last);
            Item::Table(t)
        });
        if let Item::Value(Value::InlineTable(inline)) = item {
            let t = std::mem::take(inline).into_table();
            *item = Item::Table(t);
        }
        table = match item.as_table_mut() {
            Some(t) => t,
            None => bail!("`{}` is not a table; edit it by hand", path[..=i].join(".")),
        };
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "#   Copyright 2018-2022 Docker Inc.\n\n#disabled_plugins = []\ndisabled_plugins = [\"cri\"]\n\n#root = \"/var/lib/containerd\"\n";

    #[test]
    fn finds_the_entry_that_disables_cri() {
        let s = parse(DOCKER).unwrap();
        assert_eq!(s.version, 1);
        assert_eq!(
            s.cri_disabled,
            Some(("cri".into(), 4, "disabled_plugins = [\"cri\"]".into()))
        );
        let v2 = "version = 2\ndisabled_plugins = [\n  \"io.containerd.internal.v1.opt\",\n  \"io.containerd.grpc.v1.cri\",\n]\n";
        assert_eq!(parse(v2).unwrap().cri_disabled.unwrap().1, 4);
    }

    #[test]
    fn edits_keep_the_rest_of_the_file() {
        let edits = Edits {
            enable_cri: true,
            systemd_cgroup: Some(true),
            sandbox_image: Some("registry.k8s.io/pause:3.10".into()),
        };
        let out = edit(Some(DOCKER), &edits).unwrap();
        assert!(out.starts_with("#   Copyright 2018-2022 Docker Inc.\n\n#disabled_plugins = []\ndisabled_plugins = []\n"), "{out}");
        let s = parse(&out).unwrap();
        assert_eq!(s.cri_disabled, None);
        assert_eq!(s.systemd_cgroup.map(|c| c.0), Some(true));
        assert_eq!(
            s.sandbox_image.map(|i| i.0).as_deref(),
            Some("registry.k8s.io/pause:3.10")
        );
        let v2 = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = false\n  BinaryName = \"runc\"\n";
        let out = edit(
            Some(v2),
            &Edits {
                systemd_cgroup: Some(true),
                ..Edits::default()
            },
        )
        .unwrap();
        assert!(out.contains("SystemdCgroup = true"), "{out}");
        assert!(out.contains("BinaryName = \"runc\""), "{out}");
        let new = edit(
            None,
            &Edits {
                systemd_cgroup: Some(true),
                ..Edits::default()
            },
        )
        .unwrap();
        assert_eq!(parse(&new).unwrap().systemd_cgroup.map(|c| c.0), Some(true));
    }
}
