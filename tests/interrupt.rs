//! SIGINT and SIGTERM: the binary, made to wait after a phase (`KUBESTRAP_TEST_CRASH=pause:…`),
//! stops at once through its failure path with the shell's exit code (130, 143): a dry run's
//! scratch folder with its private keys is gone, and a real init resumes after the phases it
//! finished. In the library, a signal during a phase lets it finish and stops the run before the
//! next one.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use kubestrap_phases::host::interrupt::{Interrupt, Interrupted};
use kubestrap_phases::runner::{self, Phase, context::Context};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::resume::init_bin;
use crate::support::{init_files_only, text, tree};

/// A test's folder with an empty `root` and `tmp` in it.
fn root_and_tmp() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (root, tmp) = (dir.path().join("root"), dir.path().join("tmp"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    (dir, root, tmp)
}

/// A child process killed (SIGKILL) if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `cmd` (kubestrap) with its temporary folders in `tmp`, waiting after `phase`; once it
/// says it waits, calls `paused` and sends `signal`. Returns the exit code and the standard
/// error.
fn interrupt_after(
    mut cmd: Command,
    tmp: &Path,
    phase: &str,
    signal: Signal,
    paused: impl FnOnce(),
) -> (Option<i32>, String) {
    let child = cmd
        .env("KUBESTRAP_TEST_CRASH", format!("pause:{phase}"))
        .env("TMPDIR", tmp)
        .env_remove("SUDO_USER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let mut stderr = BufReader::new(running.0.stderr.take().unwrap());
    let mut said = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        said.push_str(&line);
        assert!(n > 0, "kubestrap ended without waiting: {said}");
        if line.contains(&format!("pause:{phase}: waiting for SIGINT or SIGTERM")) {
            break;
        }
    }
    paused();
    kill(Pid::from_raw(running.0.id() as i32), signal).unwrap();
    stderr.read_to_string(&mut said).unwrap();
    let status = running.0.wait().unwrap();
    (status.code(), said)
}

#[test]
fn an_interrupted_dry_run_leaves_no_scratch_folder_behind() {
    let (_dir, root, tmp) = root_and_tmp();
    let mut cmd = init_files_only(&root);
    cmd.arg("--dry-run");
    let (code, stderr) = interrupt_after(cmd, &tmp, "certs", Signal::SIGINT, || {
        let scratch = tree(&tmp);
        assert!(
            scratch
                .iter()
                .any(|f| f.ends_with("etc/kubernetes/pki/ca.key")),
            "the dry run's keys are not where the test looks: {scratch:?}"
        );
    });
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("kubestrap init stopped on SIGINT: nothing was changed"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    assert!(tree(&root).is_empty(), "{:?}", tree(&root));
}

#[test]
fn an_init_stopped_between_phases_resumes_after_them() {
    let (_dir, root, tmp) = root_and_tmp();
    let (code, stderr) = interrupt_after(
        init_files_only(&root),
        &tmp,
        "kubeconfig",
        Signal::SIGTERM,
        || {},
    );
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        stderr.contains("stopped on SIGTERM: the phases that finished are recorded"),
        "{stderr}"
    );
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let files = tree(&root);
    assert!(
        files.contains(&"etc/kubernetes/admin.conf".to_string()),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.contains("/.kubestrap-")),
        "a temporary file is left: {files:?}"
    );
    assert!(!root.join("etc/kubernetes/manifests").exists());

    let out = init_bin(&root, None);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("resuming after `kubeconfig/scheduler`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`certs/ca`: reusing the files of the earlier run"),
        "{stderr}"
    );
    assert!(root.join("etc/kubernetes/manifests/etcd.yaml").is_file());
}

fn signals_sigterm(ctx: &mut Context) -> anyhow::Result<()> {
    ctx.interrupt.raise(Signal::SIGTERM as i32);
    ctx.root.write("/first", b"whole", 0o644)
}

fn writes_second(ctx: &mut Context) -> anyhow::Result<()> {
    ctx.root.write("/second", b"whole", 0o644)
}

static TWO_PHASES: &[Phase] = &[
    Phase::leaf("first", "Gets a signal while it runs", signals_sigterm),
    Phase::leaf("second", "Must not start", writes_second),
];

#[test]
fn a_signal_during_a_phase_lets_it_finish_and_stops_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ctx, _) = crate::resume::context(dir.path(), "10.244.0.0/16");
    ctx.interrupt = Interrupt::private();
    let steps = runner::plan(TWO_PHASES, None, &[]).unwrap();
    let err = runner::run(&steps, &mut ctx, false).unwrap_err();
    assert_eq!(
        Interrupted::find(&err).map(|i| i.exit_code()),
        Some(143),
        "{err:#}"
    );
    assert!(
        format!("{err:#}").contains("stopped before phase `second`"),
        "{err:#}"
    );
    assert_eq!(tree(dir.path()), ["first"]);
}
