//! The scripts run by `sh` as a host runs them, and a host over a real sshd.

use std::io::Write as _;
use std::process::{Command as Process, Stdio};

use super::{PREPARE, WITH_CONFIG, facts_and_preflight};

/// `sh -c WITH_CONFIG sh CMD…` with `config` on stdin, as the host runs it; its exit code and
/// what CMD printed.
fn run(config: &str, cmd: &[&str]) -> (Option<i32>, String) {
    let mut child = Process::new("sh")
        .args(["-c", WITH_CONFIG, "sh"])
        .args(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The command sees the config in a 0600 file named after `--config`; the file is gone once
/// the command ended, and its exit code is the script's.
#[test]
fn the_config_is_a_0600_file_for_the_command_only() {
    let (code, out) = run(
        "token: abcdef.0123456789abcdef\n",
        &[
            "sh",
            "-c",
            r#"[ "$1" = --config ] && stat -c %a "$2" && cat "$2" && echo "$2"; exit 7"#,
            "kubestrap",
        ],
    );
    assert_eq!(code, Some(7), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["600", "token: abcdef.0123456789abcdef"]);
    assert!(lines[2].starts_with("/tmp/kubestrap-cluster-"), "{out}");
    assert!(
        !std::path::Path::new(lines[2]).exists(),
        "{} was left",
        lines[2]
    );
}

/// The host's `timeout` ends the shell with TERM (the shell runs its trap once the command
/// it waits for ends): the file goes too.
#[test]
fn the_config_goes_when_the_command_is_ended_by_a_signal() {
    let (code, out) = run(
        "secret\n",
        &[
            "sh",
            "-c",
            r#"echo "$2"; kill -TERM "$PPID"; sleep 1"#,
            "kubestrap",
        ],
    );
    assert_eq!(code, Some(143), "{out}");
    let file = out.trim();
    assert!(file.starts_with("/tmp/kubestrap-cluster-"), "{out}");
    assert!(!std::path::Path::new(file).exists(), "{file} was left");
}

/// A stand-in kubestrap: `cluster agent facts` prints `{"kubeFiles":false}` (`$FACTS` when
/// set); anything else (the preflight) prints its arguments, its
/// config file's mode, contents and path, says `warn` on stderr and exits 2.
const FAKE: &str = r#"#!/bin/sh
if [ "$1" = cluster ]; then echo "${FACTS:-{\"kubeFiles\":false\}}"; exit 0; fi
for a; do f=$a; done
echo "$*" | sed "s#$f#FILE#"
stat -c %a "$f"; cat "$f"; echo "$f"
echo warn >&2
exit 2
"#;

/// `sh -c PREPARE sh BIN SHA LEN ARGS…` with `config` then `binary` (after its size, when
/// given), then `next` (the command to run once it is ready) on stdin (the stand-in's facts
/// `facts` when given): exit code and stdout.
fn prepare(
    bin: &str,
    sha: &str,
    config: &str,
    binary: Option<&[u8]>,
    args: &[&str],
    facts: Option<&str>,
    next: &str,
) -> (Option<i32>, String) {
    let mut child = Process::new("sh")
        .args(["-c", PREPARE, "sh", bin, sha])
        .arg(config.len().to_string())
        .args(args)
        .envs(facts.map(|f| ("FACTS", f)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = config.as_bytes().to_vec();
    if let Some(binary) = binary {
        input.extend(format!("{}\n", binary.len()).bytes());
        input.extend_from_slice(binary);
    }
    input.extend_from_slice(next.as_bytes());
    let mut pipe = child.stdin.take().unwrap();
    // The script may end without reading it all (the host has this kubestrap).
    let _ = pipe.write_all(&input);
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

fn executable(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Without the binary following, a host without this kubestrap is left as it was and the
/// script ends after the probe's lines.
#[test]
fn the_probe_alone_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin/kubestrap");
    let bin = bin.to_str().unwrap();
    let arch = std::env::consts::ARCH;
    let config = "kind: InitConfiguration\n";
    assert_eq!(
        prepare(bin, "00", config, None, &["preflight"], None, ""),
        (Some(0), format!("{arch}\n\n"))
    );
    assert!(!dir.path().join("bin").exists(), "the probe made a folder");
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    executable(std::path::Path::new(bin), FAKE);
    let sha = crate::pki::sha256_hex(FAKE.as_bytes());
    assert_eq!(
        prepare(bin, "00", "", None, &[], None, ""),
        (Some(0), format!("{arch}\n{sha}\n"))
    );
    assert_eq!(std::fs::read_to_string(bin).unwrap(), FAKE);
}

/// With the same kubestrap the probe goes on to the facts, reading nothing more, and runs
/// the preflight ahead after them with the config in a 0600 file that is gone afterwards;
/// the preflight's exit code is reported, not the script's.
#[test]
fn the_probe_reads_the_facts_and_runs_the_preflight_with_the_same_kubestrap() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("kubestrap");
    let bin = bin.to_str().unwrap();
    let arch = std::env::consts::ARCH;
    let config = "kind: InitConfiguration\n";
    executable(std::path::Path::new(bin), FAKE);
    let sha = crate::pki::sha256_hex(FAKE.as_bytes());
    assert_eq!(
        prepare(bin, &sha, "", None, &[], None, ""),
        (
            Some(0),
            format!("{arch}\n{sha}\n{{\"kubeFiles\":false}}\n--- ready\n")
        )
    );
    let (code, out) = prepare(bin, &sha, config, None, &["preflight", "--join"], None, "");
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..7],
        [
            arch,
            sha.as_str(),
            "{\"kubeFiles\":false}",
            "--- preflight",
            "preflight --join --config FILE",
            "600",
            "kind: InitConfiguration"
        ],
        "{out}"
    );
    assert_eq!(
        lines[8..],
        ["warn", "--- preflight exit 2", "--- ready"],
        "{out}"
    );
    assert!(lines[7].starts_with("/tmp/kubestrap-cluster-"), "{out}");
    for left in [lines[7].to_string(), format!("{}.said", lines[7])] {
        assert!(!std::path::Path::new(&left).exists(), "{left} was left");
    }
    let rest = out.splitn(3, '\n').nth(2).unwrap();
    let (facts, said) = facts_and_preflight(rest.strip_suffix("--- ready\n").unwrap());
    assert_eq!(facts, "{\"kubeFiles\":false}");
    let said = said.expect("the preflight's output");
    assert_eq!(said.code, Some(2));
    assert!(
        said.stdout
            .starts_with("preflight --join --config FILE\n600\n")
            && said.stdout.ends_with("warn\n"),
        "{said:?}"
    );
}

/// A host with something of a cluster on it gets no preflight ahead: the plan never checks
/// one (it resumes or resets it first).
#[test]
fn no_preflight_runs_ahead_on_a_host_with_files_of_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("kubestrap");
    let bin = bin.to_str().unwrap();
    executable(std::path::Path::new(bin), FAKE);
    let sha = crate::pki::sha256_hex(FAKE.as_bytes());
    let arch = std::env::consts::ARCH;
    let facts = r#"{"hostname":"n1","kubeFiles":true}"#;
    let config = "kind: InitConfiguration\n";
    let (code, out) = prepare(bin, &sha, config, None, &["preflight"], Some(facts), "");
    assert_eq!(
        (code, out),
        (Some(0), format!("{arch}\n{sha}\n{facts}\n--- ready\n"))
    );
}

/// The script tells a fresh host by a piece of the facts' JSON as kubestrap prints it.
#[test]
fn the_script_knows_a_fresh_host_from_the_facts_kubestrap_prints() {
    let piece = r#""kubeFiles":false"#;
    assert!(PREPARE.contains(piece));
    let fresh = serde_json::to_string(&super::Facts::default()).unwrap();
    assert!(fresh.contains(piece), "{fresh}");
    let used = super::Facts {
        kube_files: true,
        ..super::Facts::default()
    };
    let used = serde_json::to_string(&used).unwrap();
    assert!(!used.contains(piece), "{used}");
}

/// A copy takes the config from the head of stdin, then the binary's size and the binary,
/// byte for byte; it installs it with mode 0755 and runs it for the facts and the preflight.
#[test]
fn a_copy_installs_the_binary_after_the_config_and_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("new/bin/kubestrap");
    let arch = std::env::consts::ARCH;
    let config = "token: abcdef.0123456789abcdef\n";
    let binary = Some(FAKE.as_bytes());
    let (code, out) = prepare(
        bin.to_str().unwrap(),
        "00",
        config,
        binary,
        &["preflight"],
        None,
        "",
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(std::fs::read_to_string(&bin).unwrap(), FAKE);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&bin).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o755);
    let rest = out.strip_prefix(&format!("{arch}\n\n")).expect(&out);
    let (facts, said) = facts_and_preflight(rest.strip_suffix("--- ready\n").expect(&out));
    assert_eq!(facts, "{\"kubeFiles\":false}");
    let said = said.expect("the preflight's output");
    assert_eq!(said.code, Some(2));
    assert!(
        said.stdout
            .starts_with("preflight --config FILE\n600\ntoken: abcdef.0123456789abcdef\n"),
        "{said:?}"
    );
    // Without a preflight ahead, over an older binary: the binary is all the input.
    executable(&bin, "#!/bin/sh\nexit 1\n");
    let old = crate::pki::sha256_hex(b"#!/bin/sh\nexit 1\n");
    let (code, out) = prepare(bin.to_str().unwrap(), "00", "", binary, &[], None, "");
    assert_eq!(
        (code, out),
        (
            Some(0),
            format!("{arch}\n{old}\n{{\"kubeFiles\":false}}\n--- ready\n")
        )
    );
    assert_eq!(std::fs::read_to_string(&bin).unwrap(), FAKE);
}

/// Once ready, the same shell runs the command it is given next: its arguments, then its limit
/// and configuration, which it gets in a fresh 0600 file (not the preflight's configuration)
/// gone afterwards; the script's exit code is the command's, 124 past its limit.
#[test]
fn the_shell_runs_the_next_command_with_its_own_config_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("kubestrap");
    let bin = bin.to_str().unwrap();
    executable(std::path::Path::new(bin), FAKE);
    let sha = crate::pki::sha256_hex(FAKE.as_bytes());
    let config = "kind: InitConfiguration\n";
    let join = "kind: JoinConfiguration\ntoken: abcdef.0123456789abcdef\n";
    let next = format!("3\njoin\n--v=5\na b\n60 10\n{}\n{join}", join.len());
    let (code, out) = prepare(bin, &sha, config, None, &["preflight"], None, &next);
    assert_eq!(code, Some(2), "{out}");
    let after = out.split_once("--- ready\n").expect(&out).1;
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "join --v=5 a b --config FILE",
            "600",
            "kind: JoinConfiguration",
            "token: abcdef.0123456789abcdef",
            lines[4],
        ],
        "{out}"
    );
    assert!(lines[4].starts_with("/tmp/kubestrap-cluster-"), "{out}");
    assert!(
        !std::path::Path::new(lines[4]).exists(),
        "{} was left",
        lines[4]
    );
    // Past its limit: `timeout` ends it.
    let sleeper = dir.path().join("sleeper");
    executable(
        &sleeper,
        "#!/bin/sh\n[ \"$1\" = cluster ] && { echo '{\"kubeFiles\":true}'; exit 0; }\nsleep 5\n",
    );
    let sha = crate::pki::sha256_hex(std::fs::read(&sleeper).unwrap().as_slice());
    let started = std::time::Instant::now();
    let (code, out) = prepare(
        sleeper.to_str().unwrap(),
        &sha,
        "",
        None,
        &[],
        None,
        "1\ninit\n1 1\n0\n",
    );
    assert_eq!(code, Some(124), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

/// A binary cut short (fewer bytes than its size says) is not installed.
#[test]
fn a_copy_cut_short_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("kubestrap");
    let bin = bin.to_str().unwrap();
    let mut child = Process::new("sh")
        .args(["-c", PREPARE, "sh", bin, "00", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(format!("{}\n", FAKE.len()).as_bytes())
        .unwrap();
    pipe.write_all(&FAKE.as_bytes()[..10]).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("cut short: 10 bytes of {}", FAKE.len())),
        "{said}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Over a real sshd: a host without this kubestrap gets it in the probe's own command once
/// it is given (size line, then the binary), reads its facts and runs the preflight ahead;
/// the next connection finds the same binary and copies nothing; a probe closed without
/// the binary (another host refused) leaves the host as it was.
#[test]
fn a_host_gets_this_kubestrap_in_the_probes_command_once() {
    use crate::host::ssh::test_sshd::Sshd;
    let sshd = Sshd::start();
    let settings = sshd.settings(sshd.known_hosts());
    let target = sshd.target();
    let host = super::Host {
        name: target.name,
        address: target.address,
        port: target.port,
        user: target.user,
        key: target.key,
        sudo: false,
        role: super::super::file::Role::Worker,
        node_name: None,
        labels: Default::default(),
        taints: None,
    };
    let facts = super::Facts::default();
    // The stand-in prints these facts (no environment comes over SSH).
    let fake = FAKE.replace(
        r#""${FACTS:-{\"kubeFiles\":false\}}""#,
        &format!("'{}'", serde_json::to_string(&facts).unwrap()),
    );
    assert_ne!(fake, FAKE);
    let local = super::Local {
        sha256: crate::pki::sha256_hex(fake.as_bytes()),
        bytes: fake.into_bytes(),
        arch: std::env::consts::ARCH,
    };
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin/kubestrap");
    let bin = bin.to_str().unwrap();
    let ahead = Some(super::Ahead {
        args: vec!["preflight".into(), "--join".into()],
        config: "kind: JoinConfiguration\n".into(),
    });
    let control = sshd.dir.path();
    let rt = crate::host::ssh::runtime().unwrap();
    rt.block_on(async {
        let wait = super::limits::session(1);
        let conn = super::Conn::open(&host, bin, &local, ahead.clone(), wait, &settings, control)
            .await
            .expect("connects");
        let (copied, read) = conn.install(&local).await.expect("installs");
        assert!(copied);
        assert_eq!(read, facts);
        assert_eq!(std::fs::read(bin).unwrap(), local.bytes);
        let said = conn
            .take_ahead(&["preflight", "--join"])
            .expect("the preflight ran ahead");
        assert_eq!(said.code, Some(2));
        assert!(
            said.stdout
                .starts_with("preflight --join --config FILE\n600\nkind: JoinConfiguration\n"),
            "{said:?}"
        );
        // The join runs in the shell that read the facts, then the next in one of its own.
        let config = "kind: JoinConfiguration\ntoken: abcdef.0123456789abcdef\n";
        for _ in 0..2 {
            let out = conn
                .run_with_config(&["join", "--v=5"], config, super::limits::QUICK, true)
                .await
                .expect("runs");
            assert_eq!(out.code, Some(2), "{out:?}");
            assert!(
                out.stdout
                    .starts_with(&format!("join --v=5 --config FILE\n600\n{config}")),
                "{out:?}"
            );
        }
        conn.close().await;
        let log = std::fs::read_to_string(sshd.path("logs").join(format!("{}.log", host.name)))
            .unwrap_or_default();
        assert_eq!(
            log.matches("kubestrap join --v=5 --config <a 0600 file of the input, removed after>   (in the shell started ahead)")
                .count(),
            1,
            "{log}"
        );

        let conn = super::Conn::open(&host, bin, &local, None, wait, &settings, control)
            .await
            .expect("connects again");
        assert_eq!(conn.install(&local).await.expect("facts"), (false, facts));
        conn.close().await;

        let other = dir.path().join("other/kubestrap");
        let conn = super::Conn::open(
            &host,
            other.to_str().unwrap(),
            &local,
            ahead,
            wait,
            &settings,
            control,
        )
        .await
        .expect("connects");
        conn.close().await;
        assert!(
            !dir.path().join("other").exists(),
            "the probe made a folder"
        );
    });
}
