//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the kubestrap binary with these arguments (the caller's `KUBECONFIG` left out).
pub fn kubestrap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubestrap"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("failed to run kubestrap")
}

/// Runs kubestrap with `args` and the flags of a test node: `--root ROOT`, name `n1`, address
/// 10.0.0.1.
pub fn kubestrap_on(root: &Path, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend([
        "--root",
        root.to_str().unwrap(),
        "--node-name",
        "n1",
        "--apiserver-advertise-address",
        "10.0.0.1",
    ]);
    kubestrap(&all)
}

/// stdout and stderr of a run as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under a folder, as sorted relative paths.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Fails the test, naming the Debian package, when a real component is missing.
pub fn require_binary(name: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: run `apt-get install {package}` (or `.ci/run`, which installs it)"
    );
}
