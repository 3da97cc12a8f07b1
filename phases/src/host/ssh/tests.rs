//! The SSH layer against a real sshd ([`super::test_sshd`]).

use std::process::Command as Process;
use std::time::Duration;

use super::test_sshd::{Sshd, free_port, keygen};
use super::*;

fn connect(sshd: &Sshd, settings: &Settings) -> Result<(tokio::runtime::Runtime, Remote)> {
    let rt = runtime()?;
    let first = Command::new(&["echo", "first"], Duration::from_secs(30));
    let (remote, started) = rt.block_on(Remote::connect(
        &sshd.target(),
        settings,
        sshd.dir.path(),
        first,
    ))?;
    // The check that privileged commands run as root said nothing of its own.
    assert_eq!(rt.block_on(remote.complete(started, &[]))?, "first\n");
    Ok((rt, remote))
}

#[test]
fn runs_commands_with_their_output_exit_code_and_stdin() {
    let sshd = Sshd::start();
    let settings = sshd.settings(sshd.known_hosts());
    let (rt, remote) = connect(&sshd, &settings).expect("connects with a known host key");
    let out = rt
        .block_on(remote.run(Command::new(
            &["sh", "-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(10),
        )))
        .expect("runs");
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (Some(3), "out\n", "err\n")
    );
    // Arguments keep their spaces and quotes (the crate quotes them for the remote shell).
    let echoed = rt
        .block_on(remote.check(Command::new(
            &["printf", "%s|", "a b", "it's", "$HOME"],
            Duration::from_secs(10),
        )))
        .expect("printf");
    assert_eq!(echoed, "a b|it's|$HOME|");
    let secret = b"abcdef.0123456789abcdef";
    let back = rt
        .block_on(
            remote.check(
                Command::new(&["cat"], Duration::from_secs(10))
                    .stdin(secret)
                    .secret_output(),
            ),
        )
        .expect("cat");
    assert_eq!(back.as_bytes(), secret);
    // A failure names the host, the command and what it said.
    let err = rt
        .block_on(remote.check(Command::new(
            &["sh", "-c", "echo broken >&2; exit 7"],
            Duration::from_secs(10),
        )))
        .expect_err("exit 7 fails");
    let text = format!("{err:#}");
    assert!(
        text.contains("local: `sh -c echo broken >&2; exit 7` failed (exit code 7)")
            && text.contains("broken"),
        "{text}"
    );
    rt.block_on(remote.close());
    // The log has the commands and their output, never what came on stdin.
    let log = std::fs::read_to_string(sshd.path("logs/local.log")).expect("host log");
    assert!(log.contains("$ cat   (< 23 bytes on stdin)"), "{log}");
    assert!(
        log.contains("[exit code 3 after ") && log.contains("err"),
        "{log}"
    );
    assert!(!log.contains("0123456789abcdef"), "{log}");
}

#[test]
fn secret_output_is_not_logged_but_its_stderr_is() {
    let sshd = Sshd::start();
    let settings = sshd.settings(sshd.known_hosts());
    let (rt, remote) = connect(&sshd, &settings).expect("connects");
    let out = rt
        .block_on(
            remote.check(
                Command::new(
                    &["sh", "-c", "cat; echo progress >&2"],
                    Duration::from_secs(10),
                )
                .stdin(b"token: s3cret\n")
                .secret_output(),
            ),
        )
        .expect("cat");
    assert_eq!(out, "token: s3cret\n");
    rt.block_on(remote.close());
    let log = std::fs::read_to_string(sshd.path("logs/local.log")).expect("host log");
    assert!(!log.contains("s3cret"), "a secret was logged: {log}");
    assert!(
        log.contains("(stdout not logged: it holds a secret)"),
        "{log}"
    );
    // What it said on stderr is still there.
    assert!(log.contains("[stderr]\nprogress"), "{log}");
}

#[test]
fn unknown_host_keys_are_refused_unless_accepted_and_changed_ones_always() {
    let sshd = Sshd::start();
    let empty = sshd.path("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    let err = connect(&sshd, &sshd.settings(empty.clone()))
        .err()
        .expect("an unknown host key is refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("is not in") && text.contains("--accept-new-host-keys"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&empty).expect("read"), "");

    let mut accepting = sshd.settings(empty.clone());
    accepting.accept_new_host_keys = true;
    let (rt, remote) = connect(&sshd, &accepting).expect("accepted");
    rt.block_on(remote.close());
    let host_key = std::fs::read_to_string(sshd.path("host.pub")).expect("key");
    let key = host_key.split_whitespace().nth(1).expect("key field");
    assert!(
        std::fs::read_to_string(&empty).expect("read").contains(key),
        "the accepted key was not added"
    );

    // Another key for the same address: refused even with --accept-new-host-keys.
    keygen(&sshd.path("other"));
    let other = std::fs::read_to_string(sshd.path("other.pub")).expect("other");
    let mut f = other.split_whitespace();
    let changed = sshd.path("changed_known_hosts");
    std::fs::write(
        &changed,
        format!(
            "[127.0.0.1]:{} {} {}\n",
            sshd.port,
            f.next().expect("type"),
            f.next().expect("key")
        ),
    )
    .expect("write");
    let mut settings = sshd.settings(changed);
    settings.accept_new_host_keys = true;
    let err = connect(&sshd, &settings)
        .err()
        .expect("a changed key is refused");
    assert!(format!("{err:#}").contains("is not the one"), "{err:#}");
}

#[test]
fn a_command_past_its_time_is_stopped_on_the_host() {
    let sshd = Sshd::start();
    let settings = sshd.settings(sshd.known_hosts());
    let (rt, remote) = connect(&sshd, &settings).expect("connects");
    let marker = sshd.path("still-running");
    let script = format!("sleep 5 && touch {}", marker.display());
    let err = rt
        .block_on(remote.run(Command::new(&["sh", "-c", &script], Duration::from_secs(1))))
        .expect_err("times out");
    assert!(
        format!("{err:#}").contains("did not end within 1 s"),
        "{err:#}"
    );
    std::thread::sleep(Duration::from_secs(5));
    assert!(!marker.exists(), "the command went on on the host");
    rt.block_on(remote.close());
}

#[test]
fn nothing_listening_is_named_with_the_address() {
    let sshd = Sshd::start();
    let mut target = sshd.target();
    target.port = free_port();
    let settings = sshd.settings(sshd.known_hosts());
    let rt = runtime().expect("runtime");
    let err = rt
        .block_on(Remote::connect(
            &target,
            &settings,
            sshd.dir.path(),
            Command::new(&["true"], Duration::from_secs(30)),
        ))
        .err()
        .expect("nothing listens");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("no SSH connection to 127.0.0.1:{}", target.port)),
        "{text}"
    );
}

#[test]
fn tokens_and_certificate_keys_are_masked_in_logs() {
    let key = "0123456789abcdef".repeat(4);
    let text = format!(
        "kubestrap join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:{key} --certificate-key {key}\n"
    );
    assert_eq!(
        mask_secrets(&text),
        format!(
            "kubestrap join 10.0.0.1:6443 --token <token> --discovery-token-ca-cert-hash sha256:{key} --certificate-key <certificate key>\n"
        )
    );
    assert_eq!(
        mask_secrets(&format!("certificateKey: {key}\n")),
        "certificateKey: <certificate key>\n"
    );
    assert_eq!(
        mask_secrets(&format!("[upload-certs] Using certificate key:\n{key}\n")),
        "[upload-certs] Using certificate key:\n<certificate key>\n"
    );
    // Not a secret: upper case, other lengths, file names, a file's checksum.
    let checksum = format!("{key}  /usr/local/bin/kubestrap");
    for kept in [
        "Abcdef.0123456789abcdef",
        "abcdef.0123456789abcde",
        "kubelet.conf",
        "ünïcode …",
        checksum.as_str(),
    ] {
        assert_eq!(mask_secrets(kept), kept);
    }
}

/// What [`refusal`] makes of the check's output on host web1 (user admin).
fn probe(sudo: bool, code: i32, stdout: &str, stderr: &str) -> String {
    let target = Target {
        name: "web1".into(),
        address: "192.0.2.10".into(),
        port: 22,
        user: "admin".into(),
        key: None,
        sudo,
    };
    let out = Output {
        code: Some(code),
        stdout: stdout.into(),
        stderr: stderr.into(),
    };
    refusal(&target, &out)
}

#[test]
fn a_host_where_privileged_commands_would_not_run_as_root_is_refused() {
    let password = probe(true, 1, "", "sudo: a password is required\n");
    assert!(
        password
            .starts_with("web1: `sudo -n` needs a password for admin: refused before anything ran")
            && password.contains("hint: `sudo -n` needs a password for admin on web1")
            && password.contains("`admin ALL=(ALL) NOPASSWD: ALL`"),
        "{password}"
    );
    let no_sudo = probe(false, 0, "1000\n", "");
    assert!(
        no_sudo.contains("admin is not root (uid 1000)") && no_sudo.contains("set `sudo: true`"),
        "{no_sudo}"
    );
    let not_root = probe(true, 0, "1000\n", "");
    assert!(
        not_root.contains("`sudo -n` runs commands as uid 1000, not root"),
        "{not_root}"
    );
    let missing = probe(true, 127, "", "bash: line 1: sudo: command not found\n");
    assert!(
        missing.contains("`sudo -n id -u` failed (exit code 127)")
            && missing.contains("sudo: command not found")
            && !missing.contains("needs a password"),
        "{missing}"
    );
}

/// The first command goes on after the root check: its first lines come as it prints them
/// (much said on stderr first does not hold them up), then the rest of its input is given and
/// it keeps its own output and exit code.
#[test]
fn the_first_command_reads_its_input_after_its_first_line() {
    let sshd = Sshd::start();
    let settings = sshd.settings(sshd.known_hosts());
    let rt = runtime().expect("runtime");
    let script =
        "head -c 3000000 /dev/zero >&2; echo ready; read -r x; echo \"got $x\"; cat; exit 3";
    let first = Command::new(&["sh", "-c", script], Duration::from_secs(30))
        .stdin(b"one\n")
        .input_follows();
    let (remote, mut started) = rt
        .block_on(Remote::connect(
            &sshd.target(),
            &settings,
            sshd.dir.path(),
            first,
        ))
        .expect("connects");
    assert_eq!(
        rt.block_on(started.line()).expect("a line").as_deref(),
        Some("ready")
    );
    let out = rt.block_on(remote.finish(started, b"two\n")).expect("ends");
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.len()),
        (Some(3), "ready\ngot one\ntwo\n", 3_000_000)
    );
    rt.block_on(remote.close());
    let log = std::fs::read_to_string(sshd.path("logs/local.log")).expect("host log");
    assert!(
        log.contains("(< 4 bytes on stdin)") && log.contains("[then 4 bytes more on stdin]"),
        "{log}"
    );
}

/// The script itself, run by `sh`: the uid first, the command only as root (as root, also run as
/// uid 65534 through `setpriv`).
#[test]
fn the_root_check_script_runs_the_command_only_as_root() {
    let run = |prefix: &[&str]| {
        let mut argv = prefix.to_vec();
        argv.extend(["sh", "-c", AS_ROOT, "sh", "sh", "-c", "echo ran; exit 4"]);
        let out = Process::new(argv[0])
            .args(&argv[1..])
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let uid = nix::unistd::Uid::current();
    if uid.is_root() {
        assert_eq!(run(&[]), (Some(4), "0\nran\n".into()));
        let nobody = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        assert_eq!(run(&nobody), (Some(0), "65534\n".into()));
    } else {
        assert_eq!(run(&[]), (Some(0), format!("{uid}\n")));
    }
}
