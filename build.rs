//! Records the git commit the binary is built from (`kubestrap version`); "unknown" outside a
//! git checkout, e.g. when built from a crate tarball.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Only this crate's own checkout counts, not a repository that happens to enclose it.
    let commit = if Path::new(".git").exists() {
        // HEAD moves on checkout; the branch's ref (or packed-refs) moves on commit. In a
        // worktree `.git` is a file, so git says where these live.
        for name in ["HEAD", "packed-refs"] {
            watch(git(&["rev-parse", "--git-path", name]));
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(git(&["rev-parse", "--git-path", &branch]));
        }
        git(&["rev-parse", "--short", "HEAD"])
    } else {
        None
    };
    println!(
        "cargo:rustc-env=KUBESTRAP_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}

fn watch(path: Option<String>) {
    // A path that does not exist would make cargo rerun this script on every build.
    if let Some(path) = path.filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
}
