//! `post-upgrade`: the one-off changes an upgrade to a minor makes so that the cluster looks as
//! that minor's `init` makes it ([`crate::version::migrations`]): the control-plane Nodes'
//! labels and taints, the cluster-admins group, super-admin.conf. Those that the files and
//! objects of the target already carry (kubeadm-config without a ClusterStatus, the kubelet's
//! ConfigMap under its new name) were made by `upload-config`. Each is a no-op once done.

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::api::kubeconfig::{Kubeconfig, decode_data};
use crate::api::objects::{Node, Taint};
use crate::api::{client, manifests, node};
use crate::fs::paths;
use crate::phases::kubeconfig;
use crate::phases::upgrade::Settings;
use crate::pki::Certificate;
use crate::runner::context::Context;
use crate::version::migrations::{self, Migration};

const MASTER: &str = "node-role.kubernetes.io/master";
const CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";
const EXCLUDE_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

fn is_control_plane(n: &Node) -> bool {
    n.metadata.labels.contains_key(MASTER) || n.metadata.labels.contains_key(CONTROL_PLANE)
}

fn has_taint(n: &Node, key: &str) -> bool {
    n.spec.taints.iter().any(|t| t.key == key)
}

/// The merge patch a migration makes to one control-plane Node, `None` when it has nothing to do.
fn patch(m: Migration, only_where_old_taint: bool, n: &Node) -> Option<Value> {
    let label = |key: &str, value: Value| json!({"metadata": {"labels": {key: value}}});
    let taints = |list: Vec<Taint>| json!({"spec": {"taints": list}});
    match m {
        Migration::AddControlPlaneLabel if !n.metadata.labels.contains_key(CONTROL_PLANE) => {
            Some(label(CONTROL_PLANE, json!("")))
        }
        Migration::AddExcludeFromLoadBalancersLabel
            if !n.metadata.labels.contains_key(EXCLUDE_LB) =>
        {
            Some(label(EXCLUDE_LB, json!("")))
        }
        Migration::RemoveMasterLabel if n.metadata.labels.contains_key(MASTER) => {
            Some(label(MASTER, Value::Null))
        }
        Migration::AddControlPlaneTaint
            if !has_taint(n, CONTROL_PLANE) && (!only_where_old_taint || has_taint(n, MASTER)) =>
        {
            let mut list = n.spec.taints.clone();
            list.push(Taint {
                key: CONTROL_PLANE.into(),
                value: None,
                effect: "NoSchedule".into(),
                time_added: None,
            });
            Some(taints(list))
        }
        Migration::RemoveMasterTaint if has_taint(n, MASTER) => Some(taints(
            n.spec
                .taints
                .iter()
                .filter(|t| t.key != MASTER)
                .cloned()
                .collect(),
        )),
        _ => None,
    }
}

/// admin.conf issued again in the target's group when its certificate is still in another one
/// (`system:masters` before 1.29), as init of the target writes it.
fn reissue_admin_conf(ctx: &Context) -> Result<()> {
    let path = paths::kubeconfig("admin.conf");
    let text = ctx.root.read_to_string(&path)?;
    let group = ctx.profile().admin_group;
    let cert = Kubeconfig::parse(&text)
        .with_context(|| format!("failed to parse `{path}`"))?
        .current_user()
        .and_then(|u| u.client_certificate_data.clone())
        .and_then(|d| decode_data(&d).ok())
        .and_then(|pem| Certificate::from_pem(&String::from_utf8_lossy(&pem)).ok());
    // A client certificate in a file of its own, or already in the group: left as it is.
    if cert.is_none_or(|c| c.organizations.iter().any(|o| o == group)) {
        return Ok(());
    }
    if ctx.opts.dry_run {
        ctx.out.status(
            "upgrade/post-upgrade",
            &format!("would write `{path}` anew in group {group}"),
        );
        return Ok(());
    }
    ctx.root.remove_all(&path)?;
    if let Err(e) = kubeconfig::ensure(ctx, kubeconfig::File::Admin) {
        // The old one back: a failed upgrade leaves the administrator a working file.
        ctx.root.write_secret(&path, text.as_bytes())?;
        return Err(e.context(format!("failed to write `{path}` in group {group}")));
    }
    Ok(())
}

/// The `post-upgrade` step.
pub fn run(ctx: &mut Context) -> Result<()> {
    let settings = ctx
        .state::<Settings>()
        .cloned()
        .context("the upgrade's settings are not known to this step")?;
    let target = settings.to;
    for m in migrations::for_target(target).iter().copied() {
        ctx.out.status("upgrade/post-upgrade", m.describe());
        match m {
            Migration::DropClusterStatus | Migration::UnversionedKubeletConfigMap => {
                // upload-config wrote them as the target keeps them.
            }
            Migration::CriSocketUrlScheme | Migration::RemoveContainerRuntimeFlag => {
                // Each node's own: made by kubelet-config ([`kubelet_flags`]) on every node.
            }
            Migration::ClusterAdminsGroup => {
                // admin.conf of the minor before is still in system:masters: it may bind the
                // group itself (super-admin.conf does not exist yet on this node).
                manifests::apply_objects(&ctx.api()?, vec![client::cluster_admins_binding()])?;
                reissue_admin_conf(ctx)?;
            }
            Migration::SuperAdminConf => kubeconfig::ensure(ctx, kubeconfig::File::SuperAdmin)?,
            _ => {
                let api = ctx.api()?;
                let nodes: Vec<Node> = api.list("/api/v1/nodes", "nodes")?;
                let only_old = m.only_where_old_taint(target);
                for n in nodes.into_iter().filter(is_control_plane) {
                    node::change_node_from(&api, n, |n| patch(m, only_old, n))?;
                }
            }
        }
    }
    Ok(())
}

/// The target's changes to this node's kubeadm-flags.env (`--container-runtime-endpoint` with
/// the `unix://` scheme on 1.24, no `--container-runtime=remote` on 1.27), and to its Node's
/// CRI-socket annotation; whether the file changed.
pub fn kubelet_flags(ctx: &Context, target: crate::version::KubeVersion) -> Result<bool> {
    let wanted = migrations::for_target(target);
    let Some(env) = ctx.root.read_optional(paths::KUBELET_FLAGS_ENV)? else {
        return Ok(false);
    };
    let env = String::from_utf8_lossy(&env).into_owned();
    let mut changed = env.clone();
    if wanted.contains(&Migration::CriSocketUrlScheme) {
        changed = changed.replace(
            "--container-runtime-endpoint=/",
            "--container-runtime-endpoint=unix:///",
        );
        annotate_with_scheme(ctx);
    }
    if wanted.contains(&Migration::RemoveContainerRuntimeFlag) {
        changed = changed
            .replace(" --container-runtime=remote", "")
            .replace("--container-runtime=remote ", "")
            .replace("--container-runtime=remote", "");
    }
    if changed == env {
        return Ok(false);
    }
    ctx.root
        .write(paths::KUBELET_FLAGS_ENV, changed.as_bytes(), 0o644)?;
    ctx.out.status(
        "upgrade/kubelet-config",
        &format!("Updated \"{}\" for {target}", paths::KUBELET_FLAGS_ENV),
    );
    Ok(true)
}

/// The Node's `kubeadm.alpha.kubernetes.io/cri-socket` annotation with the `unix://` scheme;
/// a warning when the node's credentials may not change it.
fn annotate_with_scheme(ctx: &Context) {
    const ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";
    let result = ctx.api().and_then(|api| {
        node::change_node(&api, &ctx.cfg.node_name, |n| {
            let socket = n.metadata.annotations.get(ANNOTATION)?;
            socket.starts_with('/').then(
                || json!({"metadata": {"annotations": {ANNOTATION: format!("unix://{socket}")}}}),
            )
        })
    });
    if let Err(e) = result {
        ctx.out.warn(
            "upgrade/kubelet-config",
            &format!("the Node's {ANNOTATION} annotation keeps its endpoint without the unix:// scheme: {e:#}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(labels: &[&str], taints: &[&str]) -> Node {
        let mut n = Node::default();
        for l in labels {
            n.metadata.labels.insert(l.to_string(), String::new());
        }
        n.spec.taints = taints
            .iter()
            .map(|k| Taint {
                key: k.to_string(),
                value: None,
                effect: "NoSchedule".into(),
                time_added: None,
            })
            .collect();
        n
    }

    #[test]
    fn each_migration_patches_only_what_is_not_done_yet() {
        let old = node(&[MASTER], &[MASTER]);
        assert_eq!(
            patch(Migration::AddControlPlaneLabel, false, &old),
            Some(json!({"metadata": {"labels": {CONTROL_PLANE: ""}}}))
        );
        let both = node(&[MASTER, CONTROL_PLANE], &[MASTER]);
        assert_eq!(patch(Migration::AddControlPlaneLabel, false, &both), None);
        assert_eq!(
            patch(Migration::RemoveMasterLabel, false, &both),
            Some(json!({"metadata": {"labels": {MASTER: null}}}))
        );
        let added = patch(Migration::AddControlPlaneTaint, true, &both).unwrap();
        assert_eq!(added["spec"]["taints"].as_array().unwrap().len(), 2);
        // From v1.24.1 only Nodes that still have the old taint get the new one.
        let untainted = node(&[CONTROL_PLANE], &[]);
        assert_eq!(
            patch(Migration::AddControlPlaneTaint, true, &untainted),
            None
        );
        assert!(patch(Migration::AddControlPlaneTaint, false, &untainted).is_some());
        let removed = patch(
            Migration::RemoveMasterTaint,
            false,
            &node(&[CONTROL_PLANE], &[MASTER, CONTROL_PLANE]),
        )
        .unwrap();
        assert_eq!(removed["spec"]["taints"][0]["key"], CONTROL_PLANE);
        assert_eq!(removed["spec"]["taints"].as_array().unwrap().len(), 1);
    }
}
