//! Resumable init: a run killed after a phase, or half-way through writing a file, is resumed by
//! the next run with the same settings (its own files reused, not refused); other settings are
//! refused naming the field; files init did not write are still refused; reset forgets the record.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use kubestrap_phases::config::{self, Documents, InvalidConfig, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::FakeHost;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;
use kubestrap_phases::runner::resume::{self, Record};
use kubestrap_phases::workflows::{init, reset};
use kubestrap_phases::{preflight, runner};

use crate::support::{text, tree};

pub(crate) fn context(base: &Path, pod_subnet: &str) -> (Context, Arc<RecordingReporter>) {
    context_on(base, pod_subnet, FakeHost::healthy())
}

fn context_on(base: &Path, pod_subnet: &str, host: FakeHost) -> (Context, Arc<RecordingReporter>) {
    let mut docs = Documents::default();
    docs.init.node_registration.name = Some("node1".into());
    docs.init.node_registration.cri_socket = Some("unix:///run/containerd/containerd.sock".into());
    docs.init.local_api_endpoint.advertise_address = Some("10.20.0.1".into());
    docs.cluster.kubernetes_version = Some("v1.20.2".into());
    docs.cluster.networking.pod_subnet = Some(pod_subnet.into());
    let root = Root::new(base);
    let cfg = config::resolve(docs, &Overrides::default(), &root, &host).unwrap();
    let out = Arc::new(RecordingReporter {
        yes: true,
        ..RecordingReporter::default()
    });
    let ctx = Context::new(
        cfg,
        root,
        Box::new(host),
        Box::new(out.clone()),
        Options::default(),
    );
    (ctx, out)
}

/// The file phases of init up to and including `last`, recorded as a whole init records them.
fn init_until(base: &Path, last: &str) -> Result<Arc<RecordingReporter>, anyhow::Error> {
    let (mut ctx, out) = context(base, "10.244.0.0/16");
    let steps = file_steps(&ctx);
    ctx.record = Some(open(&ctx)?);
    let end = steps.iter().position(|s| s.path == last).unwrap();
    runner::run(&steps[..=end], &mut ctx, false)?;
    Ok(out)
}

/// The record of an init of the file phases on this context's root.
fn open(ctx: &Context) -> anyhow::Result<Record> {
    let steps = file_steps(ctx);
    Record::open(
        &ctx.root,
        &ctx.cfg,
        &runner::files_only(&steps),
        ctx.out.as_ref(),
    )
}

fn file_steps(ctx: &Context) -> Vec<runner::Step> {
    runner::plan(init::phases(ctx.cfg.version), None, &[])
        .unwrap()
        .into_iter()
        .filter(|s| s.files_only)
        .collect()
}

fn lines(out: &RecordingReporter) -> String {
    out.lines().join("\n")
}

#[test]
fn a_rerun_with_the_same_settings_reuses_its_files_and_its_manifests_pass_preflight() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "control-plane/apiserver").unwrap();
    let ca = fs::read(base.join("etc/kubernetes/pki/ca.crt")).unwrap();

    let (mut ctx, out) = context(base, "10.244.0.0/16");
    let steps = file_steps(&ctx);
    ctx.record = Some(open(&ctx).unwrap());
    let said = lines(&out);
    assert!(
        said.contains("resuming after `control-plane/apiserver`"),
        "{said}"
    );
    let report = preflight::check(&ctx, preflight::Role::Init);
    assert!(
        report
            .get("FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml")
            .is_none(),
        "{report:?}"
    );
    runner::run(&steps, &mut ctx, false).unwrap();
    let said = lines(&out);
    assert!(
        said.contains("`certs/ca`: reusing the files of the earlier run"),
        "{said}"
    );
    assert!(
        said.contains("`control-plane/apiserver`: reusing"),
        "{said}"
    );
    assert!(!said.contains("`control-plane/scheduler`: reusing"));
    assert!(
        base.join("etc/kubernetes/manifests/kube-scheduler.yaml")
            .is_file()
    );
    assert_eq!(
        fs::read(base.join("etc/kubernetes/pki/ca.crt")).unwrap(),
        ca
    );
}

/// The earlier run's own kube-apiserver on 6443 is no conflict for the run that resumes it; for
/// a first init it still is.
#[test]
fn the_resumed_runs_own_apiserver_holds_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "control-plane/scheduler").unwrap();
    let leftover =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hosts/port-apiserver-leftover/proc");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&leftover)
        .arg(base)
        .status()
        .unwrap();
    assert!(copied.success());
    let mut host = FakeHost::healthy();
    host.busy_ports = vec![6443];

    let (mut ctx, _) = context_on(base, "10.244.0.0/16", host.clone());
    ctx.record = Some(open(&ctx).unwrap());
    let report = preflight::check(&ctx, preflight::Role::Init);
    assert!(report.get("Port-6443").is_none(), "{report:?}");

    fs::remove_file(base.join(resume::STATE.trim_start_matches('/'))).unwrap();
    let (mut ctx, _) = context_on(base, "10.244.0.0/16", host);
    ctx.record = Some(open(&ctx).unwrap());
    let report = preflight::check(&ctx, preflight::Role::Init);
    assert_eq!(
        report.get("Port-6443").map(|f| f.level),
        Some(preflight::Level::Error)
    );
}

/// kubelet-finalize points kubelet.conf at the kubelet's own certificate under /var/lib/kubelet;
/// with that folder gone (a wiped node), a resumed run writes kubelet.conf again instead of
/// taking up the finalized one, which would name a certificate that is not there.
#[test]
fn a_file_a_later_phase_changed_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "control-plane/scheduler").unwrap();
    let (ctx, _) = context(base, "10.244.0.0/16");
    let mut progress = open(&ctx).unwrap();
    let finalized =
        b"users: [{user: {client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem}}]\n";
    let before = ctx.root.changes().len();
    ctx.root
        .write_secret("/etc/kubernetes/kubelet.conf", finalized)
        .unwrap();
    let written = ctx.root.changes().split_off(before);
    progress
        .finish(
            &ctx.root,
            "kubelet-finalize/experimental-cert-rotation",
            &written,
        )
        .unwrap();
    drop(ctx);

    let (mut ctx, out) = context(base, "10.244.0.0/16");
    ctx.record = Some(open(&ctx).unwrap());
    let said = lines(&out);
    assert!(
        said.contains("removed `/etc/kubernetes/kubelet.conf`: the earlier run changed it after `kubeconfig/kubelet`, which runs again"),
        "{said}"
    );
    assert!(ctx.record.as_ref().unwrap().reuses("kubeconfig/admin"));
    assert!(!ctx.record.as_ref().unwrap().reuses("kubeconfig/kubelet"));
    runner::run(&file_steps(&ctx), &mut ctx, false).unwrap();
    let kubelet_conf = fs::read(base.join("etc/kubernetes/kubelet.conf")).unwrap();
    assert_ne!(kubelet_conf, finalized);
    assert!(String::from_utf8_lossy(&kubelet_conf).contains("client-certificate-data"));
}

#[test]
fn a_manifest_changed_since_is_not_the_runs_own() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "control-plane/scheduler").unwrap();
    let manifest = base.join("etc/kubernetes/manifests/kube-apiserver.yaml");
    let mut text = fs::read_to_string(&manifest).unwrap();
    text.push_str("# someone else's\n");
    fs::write(&manifest, text).unwrap();

    let (mut ctx, _) = context(base, "10.244.0.0/16");
    ctx.record = Some(open(&ctx).unwrap());
    let report = preflight::check(&ctx, preflight::Role::Init);
    let finding = report
        .get("FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml")
        .expect("a changed manifest is refused");
    assert_eq!(finding.level, preflight::Level::Error);
    assert!(
        report
            .get("FileAvailable--etc-kubernetes-manifests-etcd.yaml")
            .is_none()
    );
}

#[test]
fn without_a_record_the_files_are_refused_as_kubeadm_does() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "control-plane/scheduler").unwrap();
    fs::remove_file(base.join(resume::STATE.trim_start_matches('/'))).unwrap();
    let (mut ctx, _) = context(base, "10.244.0.0/16");
    ctx.record = Some(open(&ctx).unwrap());
    let report = preflight::check(&ctx, preflight::Role::Init);
    assert!(
        report
            .get("FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml")
            .is_some()
    );
}

#[test]
fn other_settings_are_refused_naming_the_field_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "certs/sa").unwrap();
    let before = tree(base);
    let (ctx, _) = context(base, "10.245.0.0/16");
    let err = open(&ctx).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(
            "networking.podSubnet: the earlier run had `10.244.0.0/16`, this one has `10.245.0.0/16`"
        ),
        "{msg}"
    );
    assert!(msg.contains("kubestrap reset"), "{msg}");
    assert!(
        err.chain()
            .any(|c| c.downcast_ref::<InvalidConfig>().is_some())
    );
    assert_eq!(tree(base), before, "nothing changes");

    // After reset, the other settings are a new cluster.
    let (mut ctx, out) = context(base, "10.244.0.0/16");
    let steps = runner::plan(reset::PHASES, None, &[]).unwrap();
    runner::run(&steps, &mut ctx, false).unwrap();
    assert!(lines(&out).contains(resume::STATE));
    assert!(!base.join(resume::STATE.trim_start_matches('/')).exists());
    let (ctx, _) = context(base, "10.245.0.0/16");
    open(&ctx).unwrap();
}

#[test]
fn a_record_whose_files_are_all_gone_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "kubeconfig/admin").unwrap();
    fs::remove_dir_all(base.join("etc/kubernetes")).unwrap();
    let (ctx, out) = context(base, "10.245.0.0/16");
    let progress = open(&ctx).unwrap();
    assert!(!progress.resuming());
    assert!(lines(&out).contains("starting afresh"));
}

#[test]
fn a_run_that_writes_none_of_inits_files_keeps_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "kubeconfig/admin").unwrap();
    let state = base.join(resume::STATE.trim_start_matches('/'));
    let before = fs::read(&state).unwrap();
    // Every files-only phase skipped: nothing planned writes init's files.
    let (ctx, out) = context(base, "10.244.0.0/16");
    let record = Record::open(&ctx.root, &ctx.cfg, &[], ctx.out.as_ref()).unwrap();
    assert!(!record.resuming());
    assert!(
        record.finished("certs/ca"),
        "the earlier phases stay recorded"
    );
    let said = lines(&out);
    assert!(!said.contains("starting afresh"), "{said}");
    assert!(
        said.contains("the record of the earlier init is kept"),
        "{said}"
    );
    assert_eq!(fs::read(&state).unwrap(), before);
}

/// `kubestrap init` into a folder, skipping the phases that act on this machine.
pub(crate) fn init_bin(root: &Path, crash: Option<&str>) -> Output {
    let mut cmd = crate::support::init_files_only(root);
    cmd.env_remove("SUDO_USER");
    match crash {
        Some(c) => cmd.env("KUBESTRAP_TEST_CRASH", c),
        None => cmd.env_remove("KUBESTRAP_TEST_CRASH"),
    };
    cmd.output().unwrap()
}

fn killed(out: &Output) -> bool {
    out.status.signal() == Some(9)
}

#[test]
fn the_binary_dies_where_asked_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let out = init_bin(base, Some("after:certs"));
    assert!(killed(&out), "{:?} {:?}", out.status, text(&out));
    assert!(base.join("etc/kubernetes/pki/sa.key").is_file());
    assert!(!base.join("etc/kubernetes/admin.conf").exists());

    let out = init_bin(base, Some("after:kubeconfig/admin"));
    assert!(killed(&out), "{:?}", text(&out));
    let (_, err) = text(&out);
    assert!(err.contains("resuming after `certs/sa`"), "{err}");
    assert!(base.join("etc/kubernetes/admin.conf").is_file());
    assert!(!base.join("etc/kubernetes/kubelet.conf").exists());

    let out = init_bin(base, None);
    assert!(out.status.success(), "{:?}", text(&out));
    let (_, err) = text(&out);
    assert!(err.contains("resuming after `kubeconfig/admin`"), "{err}");
    assert!(base.join("etc/kubernetes/manifests/etcd.yaml").is_file());
}

#[test]
fn a_file_cut_short_is_written_again_with_its_phase() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    // ca.key is written, ca.crt half-way (in its temporary file) when the process dies.
    let out = init_bin(base, Some("writing:/etc/kubernetes/pki/ca.crt"));
    assert!(killed(&out), "{:?}", text(&out));
    let pki = base.join("etc/kubernetes/pki");
    assert!(pki.join("ca.key").is_file());
    assert!(!pki.join("ca.crt").exists());
    assert!(
        fs::read_dir(&pki).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".kubestrap-")),
        "the temporary file is left as by kill -9"
    );

    let out = init_bin(base, None);
    assert!(out.status.success(), "{:?}", text(&out));
    let (_, err) = text(&out);
    assert!(
        err.contains(
            "removed `/etc/kubernetes/pki/ca.key`: the earlier run's `certs/ca` did not finish"
        ),
        "{err}"
    );
    let left: Vec<String> = fs::read_dir(&pki)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The pair is whole again: the apiserver certificate verifies against the new CA.
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(pki.join("ca.crt"))
        .arg(pki.join("apiserver.crt"))
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
}

/// The write log names what a killed phase had started to write, for the next run to remove:
/// a damaged or planted log never makes it remove `/`, a path with `..`, or a file init never
/// writes.
#[test]
fn the_write_log_never_removes_what_init_does_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    init_until(base, "certs/ca").unwrap();
    let passwd = base.join("etc/passwd");
    fs::write(&passwd, "root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::write(
        base.join(resume::WRITE_LOG.trim_start_matches('/')),
        "certs/apiserver\t/\ncerts/apiserver\t/etc/passwd\ncerts/apiserver\t/etc/kubernetes/../passwd\ncerts/apiserver\t/etc/kubernetes/pki/apiserver.crt\n",
    )
    .unwrap();
    fs::write(base.join("etc/kubernetes/pki/apiserver.crt"), "half").unwrap();
    let (ctx, out) = context(base, "10.244.0.0/16");
    let progress = open(&ctx).unwrap();
    assert!(progress.resuming());
    assert!(passwd.is_file(), "{}", lines(&out));
    assert!(base.join("etc/kubernetes/pki/ca.key").is_file());
    assert!(!base.join("etc/kubernetes/pki/apiserver.crt").exists());
    let said = lines(&out);
    for path in ["/", "/etc/passwd", "/etc/kubernetes/../passwd"] {
        assert!(
            said.contains(&format!("names `{path}`, which init never writes")),
            "{path}: {said}"
        );
    }
}
