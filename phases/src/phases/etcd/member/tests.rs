use super::*;
use crate::api::etcd_cluster::fake::FakeEtcd;
use crate::host::interrupt::{Interrupt, Interrupted};
use crate::phases::control_plane::join::tests::joining;

#[test]
fn the_member_s_peer_url_is_this_node_s_address() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = joining(dir.path(), None);
    assert_eq!(peer_url(&ctx), "https://10.0.0.2:2380");
}

fn etcd_manifest(base: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(base.join("etc/kubernetes/manifests/etcd.yaml")).ok()
}

#[test]
fn the_member_joins_as_a_learner_and_is_promoted_once_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    let etcd = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    etcd.new_members_start.set(true);
    add_member(&mut ctx, &etcd).unwrap();
    let manifest = etcd_manifest(dir.path()).unwrap();
    assert!(
        manifest
            .contains("--initial-cluster=node1=https://10.0.0.1:2380,node2=https://10.0.0.2:2380"),
        "{manifest}"
    );
    assert!(
        manifest.contains("--initial-cluster-state=existing"),
        "{manifest}"
    );
    let members = etcd.members.borrow().clone();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m.started() && !m.is_learner));
    let added = ctx.state::<AddedMember>().cloned();
    assert_eq!(
        added.as_ref().map(|a| a.others.clone()),
        Some(vec!["https://10.0.0.1:2379".to_string()])
    );
    // A failure later in the join takes the member out again, and its pod and data.
    remove_added(&ctx, &etcd, added.as_ref().unwrap()).unwrap();
    assert_eq!(etcd.members.borrow().len(), 1);
    assert_eq!(etcd_manifest(dir.path()), None);
}

/// The kubelet, still running after a failed join's undo, may restart etcd into the emptied
/// folder before it drops the pod. The reset that follows empties it again, though the manifest
/// it would learn the folder from is gone.
#[test]
fn the_etcd_folder_a_failed_join_emptied_is_emptied_again_by_the_next_reset() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    let etcd = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    etcd.new_members_start.set(true);
    add_member(&mut ctx, &etcd).unwrap();
    let added = ctx.state::<AddedMember>().cloned().unwrap();
    remove_added(&ctx, &etcd, &added).unwrap();
    let restarted = dir.path().join("var/lib/etcd/member/wal/0.wal");
    std::fs::create_dir_all(restarted.parent().unwrap()).unwrap();
    std::fs::write(&restarted, "written by the restarted etcd").unwrap();

    crate::phases::etcd::leave::run(&mut ctx).unwrap();
    crate::phases::reset::cleanup_node(&mut ctx).unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.path().join("var/lib/etcd"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_join_interrupted_while_its_member_starts_stops_and_the_member_is_removed_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    ctx.interrupt = Interrupt::private();
    // The new member never starts: without the signal the join would wait its full 180 s.
    let etcd = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    ctx.interrupt.raise(signal_hook::consts::SIGINT);
    let err = add_member(&mut ctx, &etcd).unwrap_err();
    assert_eq!(
        Interrupted::find(&err).map(|i| i.name()),
        Some("SIGINT".to_string()),
        "{err:#}"
    );
    assert_eq!(etcd.members.borrow().len(), 2);
    let added = ctx.state::<AddedMember>().cloned();
    // The undo of a failed join, which the interrupted one takes: etcd refuses the first
    // removal, and the undo tries again although the run is interrupted.
    etcd.refused_removals.set(1);
    remove_added(&ctx, &etcd, &added.unwrap()).unwrap();
    assert_eq!(etcd.members.borrow().len(), 1);
    assert_eq!(etcd_manifest(dir.path()), None);
}

#[test]
fn a_pending_or_unhealthy_member_or_this_address_already_a_member_is_refused_before_the_add() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    let pending = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    pending
        .members
        .borrow_mut()
        .push(crate::api::etcd_cluster::fake::member("42", "", "10.0.0.3"));
    let err = add_member(&mut ctx, &pending).unwrap_err().to_string();
    assert!(
        err.contains("42 at https://10.0.0.3:2380 (added, never started)"),
        "{err}"
    );
    let sick = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1"), ("3", "node3", "10.0.0.3")]);
    sick.up.borrow_mut().remove("https://10.0.0.3:2379");
    let err = add_member(&mut ctx, &sick).unwrap_err().to_string();
    assert!(err.contains("node3 (3) do not answer"), "{err}");
    let again = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1"), ("2", "node2", "10.0.0.2")]);
    let err = add_member(&mut ctx, &again).unwrap_err().to_string();
    assert!(err.contains("belongs to etcd member node2 (2)"), "{err}");
    for etcd in [&pending, &sick, &again] {
        assert!(etcd.members.borrow().iter().all(|m| !m.is_learner));
    }
    assert_eq!(etcd_manifest(dir.path()), None);
    assert_eq!(ctx.state::<AddedMember>(), None);
}

#[test]
fn a_member_that_never_starts_times_out_with_the_place_to_look() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    let etcd = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    let (id, _) = etcd.add_learner("https://10.0.0.2:2380").unwrap();
    let err = wait_and_promote(&ctx, &etcd, &id, Duration::from_millis(10))
        .unwrap_err()
        .to_string();
    assert!(err.contains("it has not started"), "{err}");
    assert!(err.contains("crictl ps -a --name etcd"), "{err}");
}

#[test]
fn a_dry_run_reports_the_etcd_steps_and_reaches_no_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    ctx.opts.dry_run = true;
    // Nothing answers at the cluster: a real attempt would fail.
    check_etcd(&mut ctx).unwrap();
    join_etcd(&mut ctx).unwrap();
    assert_eq!(etcd_manifest(dir.path()), None);
    assert_eq!(ctx.state::<AddedMember>(), None);
}

#[test]
fn the_member_waits_for_a_node_that_shows_its_ephemeral_storage() {
    let node = |allocatable: Value| serde_json::json!({"status": {"allocatable": allocatable}});
    for ready in ["51470364Ki", "48Gi", "1", "0.5Gi"] {
        assert_eq!(
            storage_pending(&node(serde_json::json!({"ephemeral-storage": ready}))),
            None,
            "{ready}"
        );
    }
    for pending in [
        node(serde_json::json!({"cpu": "2", "memory": "4Gi"})),
        node(serde_json::json!({"ephemeral-storage": "0"})),
        node(serde_json::json!({"ephemeral-storage": "0Ki"})),
        serde_json::json!({"metadata": {"name": "node2"}}),
    ] {
        assert!(storage_pending(&pending).is_some(), "{pending}");
    }
}
