//! Which hosts the cluster-wide preflight checks.

use super::*;

#[test]
fn preflight_checks_fresh_hosts_only() {
    let half_init = Facts {
        kube_files: true,
        ..Facts::default()
    };
    let roles = [Role::ControlPlane, Role::Worker, Role::Worker];
    let partial_join = Facts {
        kube_files: true,
        ..Facts::default()
    };
    // A fresh cluster: the init host and the fresh worker; the half-done join is reset first.
    let fresh = plan::plan(
        &roles,
        &[Facts::default(), Facts::default(), partial_join.clone()],
    );
    assert_eq!(
        preflighted(
            &fresh,
            &[Facts::default(), Facts::default(), partial_join.clone()]
        ),
        vec![(0, true), (1, false)]
    );
    // A half-done init resumes with init's own preflight, which knows its files.
    let facts = [half_init, Facts::default(), partial_join];
    let resumed = plan::plan(&roles, &facts);
    assert_eq!(resumed.init(), Some(0));
    assert_eq!(preflighted(&resumed, &facts), vec![(1, false)]);
}
