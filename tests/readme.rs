//! The README's examples work as written: every fenced block marked `offline` (```` ```sh
//! offline ````) runs, as a bash script, in an empty folder of its own, and must succeed. A
//! `kubestrap` command without `--root` gets the folder's `root/` as its root, so no example
//! reads or writes this machine. Any section may mark its blocks the same way.

use std::path::Path;
use std::process::Command;

const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));

/// The blocks whose info string has the word `offline`, with the line each starts at.
fn offline_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) if info.split_whitespace().any(|w| w == "offline") => {
                current = Some((i + 1, String::new()));
            }
            (Some(_), Some("")) => blocks.extend(current.take()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// Runs one block as the README shows it, `kubestrap` being the binary under test.
fn run_block(body: &str, dir: &Path) -> std::process::Output {
    let script = format!(
        r#"set -euo pipefail
kubestrap() {{
  case " $* " in
    *" --root "*) "$KUBESTRAP" "$@" ;;
    *) "$KUBESTRAP" "$@" --root "$PWD/root" ;;
  esac
}}
{body}"#
    );
    std::fs::create_dir_all(dir.join("root")).unwrap();
    Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir)
        .env("KUBESTRAP", env!("CARGO_BIN_EXE_kubestrap"))
        .env_remove("KUBECONFIG")
        .env_remove("SUDO_USER")
        .output()
        .unwrap()
}

#[test]
fn the_offline_examples_of_the_readme_work_as_written() {
    let blocks = offline_blocks(README);
    assert!(blocks.len() >= 3, "README.md lost its offline examples");
    for (line, body) in blocks {
        let dir = tempfile::tempdir().unwrap();
        let out = run_block(&body, dir.path());
        assert!(
            out.status.success(),
            "README.md line {line}: the block failed ({:?}):\n{body}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_failing_block_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_block("kubestrap init phase nonsense\n", dir.path());
    assert!(!out.status.success());
    let found = offline_blocks("text\n```sh offline\nkubestrap version\n```\n```\nsudo x\n```\n");
    assert_eq!(found, vec![(2, "kubestrap version\n".to_string())]);
}

/// Examples use documentation addresses (RFC 5737), never one a real node may have.
#[test]
fn examples_use_documentation_addresses() {
    let documentation = ["192.0.2.", "198.51.100.", "203.0.113.", "127.0.0.1"];
    for (i, line) in README.lines().enumerate() {
        for word in line.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
            let parts: Vec<&str> = word.split('.').collect();
            let address = parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok());
            // Service and pod ranges (10.96.0.0/12, 10.244.0.0/16, …) are kubeadm's defaults.
            let range = line.contains(&format!("{word}/"));
            if address && !range && !documentation.iter().any(|d| word.starts_with(d)) {
                panic!(
                    "README.md line {}: {word} is not a documentation address",
                    i + 1
                );
            }
        }
    }
}

/// Every link of the table of contents leads to a heading.
#[test]
fn the_table_of_contents_leads_to_headings() {
    let slugs: Vec<String> = README
        .lines()
        .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect();
    let contents = README
        .split("## Contents")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a Contents section");
    let links: Vec<&str> = contents
        .split("(#")
        .skip(1)
        .filter_map(|s| s.split(')').next())
        .collect();
    assert!(links.len() > 10, "{contents}");
    for link in links {
        assert!(slugs.iter().any(|s| s == link), "#{link} is no heading");
    }
}
