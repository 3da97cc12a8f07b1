//! What `upgrade apply` to a minor version does besides writing the files and objects that
//! version's init writes ([`super::Profile`] has those): the one-off changes that move a cluster
//! made by the minor before it to this minor's conventions, as that minor's kubeadm makes them.
//! kubeadm makes them on every `upgrade apply` of the minor (a patch upgrade too); each is a no-op
//! once done.

use super::KubeVersion;

/// One change an upgrade to a minor version makes to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migration {
    /// v1.20: control-plane Nodes with the legacy `node-role.kubernetes.io/master` label also get
    /// `node-role.kubernetes.io/control-plane` (PR #95382).
    AddControlPlaneLabel,
    /// v1.21: control-plane Nodes get `node.kubernetes.io/exclude-from-external-load-balancers`
    /// (kubeadm#2375).
    AddExcludeFromLoadBalancersLabel,
    /// v1.22: kubeadm-config is written with the ClusterConfiguration alone; the ClusterStatus of
    /// 1.21 and older leaves the ConfigMap.
    DropClusterStatus,
    /// v1.24: the kubelet's ConfigMap, Role and RoleBinding take the unversioned names
    /// `kubelet-config` and `kubeadm:kubelet-config`; those of the old minor
    /// (`kubelet-config-1.23`) are left as they are.
    UnversionedKubeletConfigMap,
    /// v1.24: a CRI endpoint without URL scheme gets `unix://`, in kubeadm-flags.env's
    /// `--container-runtime-endpoint` and in the Node's `kubeadm.alpha.kubernetes.io/cri-socket`
    /// annotation (PR #107295; kubeadm 1.25 dropped the step).
    CriSocketUrlScheme,
    /// v1.24: the `node-role.kubernetes.io/master` label leaves control-plane Nodes (PR #107533).
    RemoveMasterLabel,
    /// v1.24: control-plane Nodes with the `node-role.kubernetes.io/master:NoSchedule` taint also
    /// get `node-role.kubernetes.io/control-plane:NoSchedule` (PR #107533; from v1.24.1 only
    /// those with the old taint, PR #109841).
    AddControlPlaneTaint,
    /// v1.25: the `node-role.kubernetes.io/master:NoSchedule` taint leaves control-plane Nodes
    /// (PR #110095).
    RemoveMasterTaint,
    /// v1.27: `--container-runtime=remote` leaves kubeadm-flags.env (the kubelet 1.27 no longer
    /// has the flag; PR #112000).
    RemoveContainerRuntimeFlag,
    /// v1.29: the ClusterRoleBinding `kubeadm:cluster-admins` (ClusterRole `cluster-admin`) is
    /// made, and an admin.conf still in `system:masters` is issued again in group
    /// `kubeadm:cluster-admins` (PR #121305).
    ClusterAdminsGroup,
    /// v1.29 only: a certificate renewed (by the upgrade's control-plane step, or `certs renew`)
    /// leaves `system:masters`: apiserver-kubelet-client takes `kubeadm:cluster-admins` instead,
    /// apiserver-etcd-client and etcd/healthcheck-client no group (PRs #121841, #121837,
    /// #120521); kubeadm 1.30 dropped the step (PR #122786).
    RenewalLeavesSystemMasters,
    /// v1.29 only: `super-admin.conf` (group `system:masters`) is written on the node of
    /// `upgrade apply` when missing; kubeadm 1.30 stopped writing it on upgrade (kubeadm#3012).
    SuperAdminConf,
    /// v1.34–v1.36 (feature gate `NodeLocalCRISocket`, on by default from 1.34, locked on in
    /// 1.36; KEP-4656): on each node (`kubelet-config` of `upgrade apply` and `upgrade node`), a
    /// missing `/var/lib/kubelet/instance-config.yaml` is written with the endpoint of
    /// kubeadm-flags.env's `--container-runtime-endpoint`, which leaves that file; the node's
    /// `config.yaml` gets the endpoint from it; the Node's `kubeadm.alpha.kubernetes.io/cri-socket`
    /// annotation is removed. kubeadm 1.37 requires the file instead.
    NodeLocalCriSocket,
    /// v1.35 only: `--pod-infra-container-image` leaves kubeadm-flags.env on each node (the
    /// `post-upgrade` phase of `upgrade apply` and `upgrade node`; the kubelet 1.35 no longer
    /// has the flag; PR #133778). kubeadm 1.36 dropped the step (PR #135807): a node upgraded
    /// to 1.35 no longer has the flag.
    RemovePodInfraContainerImageFlag,
}

/// The migrations of an upgrade to `target`, in the order kubeadm makes them.
pub fn for_target(target: KubeVersion) -> &'static [Migration] {
    use Migration::*;
    match target.minor {
        20 => &[AddControlPlaneLabel],
        21 => &[AddExcludeFromLoadBalancersLabel],
        22 => &[DropClusterStatus],
        24 => &[
            UnversionedKubeletConfigMap,
            CriSocketUrlScheme,
            RemoveMasterLabel,
            AddControlPlaneTaint,
        ],
        25 => &[RemoveMasterTaint],
        27 => &[RemoveContainerRuntimeFlag],
        29 => &[
            ClusterAdminsGroup,
            RenewalLeavesSystemMasters,
            SuperAdminConf,
        ],
        34 | 36 => &[NodeLocalCriSocket],
        35 => &[NodeLocalCriSocket, RemovePodInfraContainerImageFlag],
        _ => &[],
    }
}

impl Migration {
    /// Whether, for `target`, this is [`Migration::AddControlPlaneTaint`] limited to the Nodes
    /// that still carry the master taint (v1.24.1 on; v1.24.0 tainted every control-plane Node).
    pub fn only_where_old_taint(self, target: KubeVersion) -> bool {
        self == Migration::AddControlPlaneTaint && !(target.minor == 24 && target.patch == 0)
    }

    /// What it does, in one line, for `upgrade plan` and the upgrade's output.
    pub fn describe(self) -> &'static str {
        match self {
            Migration::AddControlPlaneLabel => {
                "label control-plane Nodes node-role.kubernetes.io/control-plane next to the legacy master label"
            }
            Migration::AddExcludeFromLoadBalancersLabel => {
                "label control-plane Nodes node.kubernetes.io/exclude-from-external-load-balancers"
            }
            Migration::DropClusterStatus => {
                "write kubeadm-config without the ClusterStatus (kept only up to v1.21)"
            }
            Migration::UnversionedKubeletConfigMap => {
                "move the kubelet configuration to ConfigMap kubelet-config with Role and RoleBinding kubeadm:kubelet-config"
            }
            Migration::CriSocketUrlScheme => {
                "give the CRI endpoint the unix:// scheme in kubeadm-flags.env and the Node's cri-socket annotation"
            }
            Migration::RemoveContainerRuntimeFlag => {
                "remove --container-runtime=remote from kubeadm-flags.env"
            }
            Migration::RemoveMasterLabel => {
                "remove the node-role.kubernetes.io/master label from control-plane Nodes"
            }
            Migration::AddControlPlaneTaint => {
                "taint control-plane Nodes node-role.kubernetes.io/control-plane:NoSchedule"
            }
            Migration::RemoveMasterTaint => {
                "remove the node-role.kubernetes.io/master:NoSchedule taint from control-plane Nodes"
            }
            Migration::ClusterAdminsGroup => {
                "bind group kubeadm:cluster-admins to cluster-admin and issue admin.conf in that group"
            }
            Migration::RenewalLeavesSystemMasters => {
                "renew apiserver-kubelet-client in group kubeadm:cluster-admins and the etcd client certificates without group system:masters"
            }
            Migration::SuperAdminConf => {
                "write super-admin.conf (group system:masters) when missing"
            }
            Migration::NodeLocalCriSocket => {
                "move the CRI endpoint from kubeadm-flags.env to /var/lib/kubelet/instance-config.yaml and remove the Node's cri-socket annotation"
            }
            Migration::RemovePodInfraContainerImageFlag => {
                "remove --pod-infra-container-image from kubeadm-flags.env"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Migration::*;
    use super::*;

    fn at(minor: u32) -> &'static [Migration] {
        for_target(KubeVersion::new(minor, 3))
    }

    #[test]
    fn each_migration_belongs_to_its_minor() {
        assert_eq!(at(20), [AddControlPlaneLabel]);
        assert_eq!(at(21), [AddExcludeFromLoadBalancersLabel]);
        assert_eq!(at(22), [DropClusterStatus]);
        assert_eq!(
            at(24),
            [
                UnversionedKubeletConfigMap,
                CriSocketUrlScheme,
                RemoveMasterLabel,
                AddControlPlaneTaint
            ]
        );
        assert_eq!(at(25), [RemoveMasterTaint]);
        assert_eq!(at(27), [RemoveContainerRuntimeFlag]);
        assert_eq!(
            at(29),
            [
                ClusterAdminsGroup,
                RenewalLeavesSystemMasters,
                SuperAdminConf
            ]
        );
        // kubeadm does it on every upgrade while its feature gate exists (1.34–1.36): a node
        // still without the file gets it on a later minor too.
        for minor in [34, 36] {
            assert_eq!(at(minor), [NodeLocalCriSocket]);
        }
        // Only kubeadm 1.35 removes the pause image flag: the kubelet 1.35 refuses it.
        assert_eq!(
            at(35),
            [NodeLocalCriSocket, RemovePodInfraContainerImageFlag]
        );
        for minor in [23, 26, 28, 30, 31, 32, 33] {
            assert!(at(minor).is_empty(), "v1.{minor}: {:?}", at(minor));
        }
        // A patch upgrade within the minor makes them again, as kubeadm does.
        assert_eq!(for_target(KubeVersion::new(25, 0)), [RemoveMasterTaint]);
    }

    #[test]
    fn the_migrations_agree_with_the_profiles_they_lead_to() {
        // What a migration leaves is what init of that minor makes.
        let before = |m: u32| KubeVersion::new(m - 1, 0).profile();
        let after = |m: u32| KubeVersion::new(m, 0).profile();
        const MASTER: &str = "node-role.kubernetes.io/master";
        const CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";
        assert!(before(24).control_plane_labels.contains(&MASTER));
        assert!(!after(24).control_plane_labels.contains(&MASTER));
        assert!(!before(24).control_plane_taints.contains(&CONTROL_PLANE));
        assert!(after(24).control_plane_taints.contains(&CONTROL_PLANE));
        assert!(before(25).control_plane_taints.contains(&MASTER));
        assert!(!after(25).control_plane_taints.contains(&MASTER));
        assert_eq!(before(24).kubelet_config_map(), "kubelet-config-1.23");
        assert_eq!(after(24).kubelet_config_map(), "kubelet-config");
        assert!(
            before(27).kubelet_container_runtime_remote
                && !after(27).kubelet_container_runtime_remote
        );
        assert!(!before(29).super_admin && after(29).super_admin);
        assert!(before(29).etcd_clients_in_masters && !after(29).etcd_clients_in_masters);
        assert!(!before(34).node_local_cri_socket && after(34).node_local_cri_socket);
        assert_eq!(
            before(35).kubelet_pause_flag,
            crate::version::PauseFlag::Always
        );
        assert_eq!(
            after(35).kubelet_pause_flag,
            crate::version::PauseFlag::Never
        );
        assert_eq!(after(29).admin_group, "kubeadm:cluster-admins");
        assert!(
            !before(21)
                .control_plane_labels
                .contains(&"node.kubernetes.io/exclude-from-external-load-balancers")
        );
    }

    #[test]
    fn v1_24_0_taints_every_control_plane_node() {
        assert!(!AddControlPlaneTaint.only_where_old_taint(KubeVersion::new(24, 0)));
        assert!(AddControlPlaneTaint.only_where_old_taint(KubeVersion::new(24, 1)));
        assert!(!RemoveMasterTaint.only_where_old_taint(KubeVersion::new(25, 0)));
        for m in at(24).iter().chain(at(29)).chain(at(35)) {
            assert!(!m.describe().is_empty());
        }
    }
}
