//! Which host does what: the plan from roles and facts.

use super::*;

fn fresh() -> Facts {
    Facts::default()
}

fn member(ca: &str, control_plane: bool) -> Facts {
    Facts {
        ca_hash: Some(ca.into()),
        kubelet_conf: true,
        admin_conf: control_plane,
        control_plane,
        kube_files: true,
        ..Facts::default()
    }
}

const CP: Role = Role::ControlPlane;
const W: Role = Role::Worker;
const CA: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[test]
fn a_new_cluster_starts_on_the_first_control_plane_then_control_planes_then_workers() {
    let roles = [W, CP, W, CP];
    let plan = plan(&roles, &[fresh(), fresh(), fresh(), fresh()]);
    assert_eq!(plan.first, 1);
    assert_eq!(plan.init(), Some(1));
    assert_eq!(plan.cluster_ca, None);
    assert_eq!(plan.joins(&roles, CP), vec![3]);
    assert_eq!(plan.joins(&roles, W), vec![0, 2]);
}

#[test]
fn a_second_apply_has_nothing_to_do() {
    let roles = [CP, W];
    let plan = plan(&roles, &[member(CA, true), member(CA, false)]);
    assert_eq!(plan.actions, vec![Action::Nothing, Action::Nothing]);
    assert_eq!(plan.init(), None);
    assert_eq!(plan.cluster_ca.as_deref(), Some(CA));
}

#[test]
fn a_host_added_later_is_the_only_one_to_join() {
    let roles = [CP, W, W];
    let plan = plan(&roles, &[member(CA, true), member(CA, false), fresh()]);
    assert_eq!(
        plan.actions,
        vec![
            Action::Nothing,
            Action::Nothing,
            Action::Join { reset_first: false }
        ]
    );
}

#[test]
fn the_existing_cluster_is_found_on_any_control_plane() {
    // The first control plane of the file was reset; the cluster lives on the second.
    let roles = [CP, CP, W];
    let plan = plan(&roles, &[fresh(), member(CA, true), fresh()]);
    assert_eq!(plan.first, 1);
    assert_eq!(plan.init(), None);
    assert_eq!(plan.joins(&roles, CP), vec![0]);
    assert_eq!(plan.joins(&roles, W), vec![2]);
}

#[test]
fn a_half_done_join_is_reset_then_joined() {
    let roles = [CP, W, W];
    // Killed after the CA was written, before kubelet.conf; and killed before anything but
    // the kubelet's folder.
    let partial = Facts {
        ca_hash: Some(CA.into()),
        kube_files: true,
        ..Facts::default()
    };
    let early = Facts {
        kube_files: true,
        ..Facts::default()
    };
    let plan = plan(&roles, &[member(CA, true), partial, early]);
    assert_eq!(
        plan.actions[1..],
        [
            Action::Join { reset_first: true },
            Action::Join { reset_first: true }
        ]
    );
}

#[test]
fn a_host_of_another_cluster_is_refused_and_named_with_both_cas() {
    let roles = [CP, W];
    let plan = plan(&roles, &[member(CA, true), member(OTHER, false)]);
    match &plan.actions[1] {
        Action::Refuse(why) => {
            assert!(why.contains("another cluster"), "{why}");
            assert!(
                why.contains("sha256:bbbbbbbbbbbb") && why.contains("sha256:aaaaaaaaaaaa"),
                "{why}"
            );
        }
        other => panic!("not refused: {other:?}"),
    }
    assert!(plan.joins(&roles, W).is_empty());
}

#[test]
fn before_init_any_host_of_a_cluster_is_another_cluster() {
    let roles = [CP, W];
    let plan = plan(&roles, &[fresh(), member(OTHER, false)]);
    assert_eq!(plan.init(), Some(0));
    assert!(matches!(&plan.actions[1], Action::Refuse(why) if why.contains("another cluster")));
    // A worker of another cluster cannot start this one.
    let plan2 = super::plan(&roles, &[member(OTHER, false), fresh()]);
    assert!(matches!(&plan2.actions[0], Action::Refuse(_)));
    assert_eq!(plan2.init(), None);
}

#[test]
fn a_half_done_init_resumes_as_init() {
    let roles = [CP, W];
    let half = Facts {
        ca_hash: Some(CA.into()),
        kube_files: true,
        ..Facts::default()
    };
    let plan = plan(&roles, &[half, fresh()]);
    assert_eq!(plan.init(), Some(0));
}

#[test]
fn a_role_other_than_the_file_says_is_refused() {
    let roles = [CP, CP, W];
    let plan = plan(
        &roles,
        &[member(CA, true), member(CA, false), member(CA, true)],
    );
    assert!(
        matches!(&plan.actions[1], Action::Refuse(why) if why.contains("file says control-plane"))
    );
    assert!(matches!(&plan.actions[2], Action::Refuse(why) if why.contains("file says worker")));
}
