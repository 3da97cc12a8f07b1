//! `post-upgrade`: the one-off changes an upgrade to a minor makes so that the cluster looks as
//! that minor's `init` makes it ([`crate::version::migrations`]): the control-plane Nodes'
//! labels and taints, the cluster-admins group, super-admin.conf. Those that the files and
//! objects of the target already carry (kubeadm-config without a ClusterStatus, the kubelet's
//! ConfigMap under its new name) were made by `upload-config`; those of each node (its kubelet's
//! flags, from 1.34 its instance configuration and its Node's CRI-socket annotation) are made by
//! `kubelet-config` on every node. Each is a no-op once done.

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::api::kubeconfig::{Kubeconfig, decode_data};
use crate::api::objects::{Node, Taint};
use crate::api::{client, manifests, node};
use crate::fs::paths;
use crate::phases::kubeconfig;
use crate::phases::kubelet::{self, KUBELET_INSTANCE_CONFIG};
use crate::phases::node::CRI_SOCKET_ANNOTATION;
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
            Migration::CriSocketUrlScheme
            | Migration::RemoveContainerRuntimeFlag
            | Migration::NodeLocalCriSocket
            | Migration::RemovePodInfraContainerImageFlag => {
                // Each node's own: made by kubelet-config ([`kubelet_flags`],
                // [`node_local_cri_socket`]) on every node.
            }
            Migration::ClusterAdminsGroup => {
                // admin.conf of the minor before is still in system:masters: it may bind the
                // group itself (super-admin.conf does not exist yet on this node).
                manifests::apply_objects(&ctx.api()?, vec![client::cluster_admins_binding()])?;
                reissue_admin_conf(ctx)?;
            }
            Migration::RenewalLeavesSystemMasters => {
                // Made by the renewal of each certificate in the control-plane step.
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
/// the `unix://` scheme on 1.24, no `--container-runtime=remote` on 1.27, no
/// `--pod-infra-container-image` on 1.35), and to its Node's CRI-socket annotation; whether the
/// file changed. The file's other flags are kept as they are: kubeadm's upgrade never writes it
/// anew, so a node keeps the pause image of the minor that wrote it until 1.35 removes the flag.
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
    if wanted.contains(&Migration::RemovePodInfraContainerImageFlag)
        && let Some((_, without)) = without_flag(&changed, "--pod-infra-container-image")
    {
        changed = without;
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

/// [`Migration::NodeLocalCriSocket`] on this node's files, before its `config.yaml` is written:
/// `/var/lib/kubelet/instance-config.yaml` with the endpoint of kubeadm-flags.env's
/// `--container-runtime-endpoint` (where the file is missing), then that flag out of
/// kubeadm-flags.env. In this order, a run stopped in between finds the file and removes the
/// flag. Whether a file changed.
pub fn node_local_cri_socket(ctx: &Context, target: crate::version::KubeVersion) -> Result<bool> {
    if !migrations::for_target(target).contains(&Migration::NodeLocalCriSocket) {
        return Ok(false);
    }
    let env = ctx
        .root
        .read_optional(paths::KUBELET_FLAGS_ENV)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let without = env
        .as_deref()
        .and_then(|env| without_flag(env, "--container-runtime-endpoint"));
    let mut changed = false;
    if !ctx.root.exists(KUBELET_INSTANCE_CONFIG) {
        // kubeadm takes the flag's endpoint; a node without the flag keeps the one this upgrade
        // found for it (detected on the node), rather than none.
        let endpoint = match &without {
            Some((endpoint, _)) => endpoint.clone(),
            None => ctx.cfg.cri_socket.clone(),
        };
        let text = kubelet::instance_config_of(&endpoint)?;
        ctx.root
            .write(KUBELET_INSTANCE_CONFIG, text.as_bytes(), 0o644)?;
        ctx.out.status(
            "upgrade/kubelet-config",
            &format!(
                "Wrote the kubelet instance configuration (CRI endpoint {endpoint}) to \"{KUBELET_INSTANCE_CONFIG}\""
            ),
        );
        changed = true;
    }
    if let Some((_, env)) = without {
        ctx.root
            .write(paths::KUBELET_FLAGS_ENV, env.as_bytes(), 0o644)?;
        ctx.out.status(
            "upgrade/kubelet-config",
            &format!(
                "Removed --container-runtime-endpoint from \"{}\": the kubelet takes it from its configuration",
                paths::KUBELET_FLAGS_ENV
            ),
        );
        changed = true;
    }
    Ok(changed)
}

/// The value of kubeadm-flags.env's `flag` (e.g. `--container-runtime-endpoint`) and the file
/// without that flag (the others as they were); `None` when it has no such flag.
fn without_flag(env: &str, flag: &str) -> Option<(String, String)> {
    let prefix = format!("{flag}=");
    let mut value = None;
    let lines: Vec<String> = env
        .lines()
        .map(|line| {
            let Some(args) = line
                .strip_prefix("KUBELET_KUBEADM_ARGS=\"")
                .and_then(|l| l.strip_suffix('"'))
            else {
                return line.to_string();
            };
            let kept: Vec<&str> = args
                .split(' ')
                .filter(|a| match a.strip_prefix(prefix.as_str()) {
                    Some(v) => {
                        value = Some(v.to_string());
                        false
                    }
                    None => !a.is_empty(),
                })
                .collect();
            format!("KUBELET_KUBEADM_ARGS=\"{}\"", kept.join(" "))
        })
        .collect();
    let mut text = lines.join("\n");
    if env.ends_with('\n') {
        text.push('\n');
    }
    value.map(|v| (v, text))
}

/// [`Migration::NodeLocalCriSocket`] on this node's Node: without the
/// `kubeadm.alpha.kubernetes.io/cri-socket` annotation (kubeadm's upgrade fails when it cannot
/// remove it). Whether the Node changed.
pub fn remove_cri_socket_annotation(
    ctx: &Context,
    target: crate::version::KubeVersion,
) -> Result<bool> {
    if !migrations::for_target(target).contains(&Migration::NodeLocalCriSocket) {
        return Ok(false);
    }
    let api = ctx.api()?;
    let removed = node::change_node(&api, &ctx.cfg.node_name, |n| {
        n.metadata
            .annotations
            .contains_key(CRI_SOCKET_ANNOTATION)
            .then(|| json!({"metadata": {"annotations": {CRI_SOCKET_ANNOTATION: null}}}))
    })
    .with_context(|| {
        format!(
            "failed to remove the {CRI_SOCKET_ANNOTATION} annotation from Node {:?}\n\nhint: run the same command again; or remove it yourself: `kubectl annotate node {} {CRI_SOCKET_ANNOTATION}-`",
            ctx.cfg.node_name, ctx.cfg.node_name
        )
    })?;
    if removed {
        ctx.out.status(
            "upgrade/kubelet-config",
            &format!(
                "Removed the {CRI_SOCKET_ANNOTATION} annotation from Node {:?}",
                ctx.cfg.node_name
            ),
        );
    }
    Ok(removed)
}

/// The Node's `kubeadm.alpha.kubernetes.io/cri-socket` annotation with the `unix://` scheme;
/// a warning when the node's credentials may not change it.
fn annotate_with_scheme(ctx: &Context) {
    let result = ctx.api().and_then(|api| {
        node::change_node(&api, &ctx.cfg.node_name, |n| {
            let socket = n.metadata.annotations.get(CRI_SOCKET_ANNOTATION)?;
            socket.starts_with('/').then(
                || json!({"metadata": {"annotations": {CRI_SOCKET_ANNOTATION: format!("unix://{socket}")}}}),
            )
        })
    });
    if let Err(e) = result {
        ctx.out.warn(
            "upgrade/kubelet-config",
            &format!("the Node's {CRI_SOCKET_ANNOTATION} annotation keeps its endpoint without the unix:// scheme: {e:#}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::fake::FakeApi;
    use crate::api::{Client, DryRun, Retry};
    use crate::config::{self, Documents, Overrides};
    use crate::fs::root::Root;
    use crate::host::FakeHost;
    use crate::runner::context::Options;
    use crate::runner::report::RecordingReporter;
    use crate::version::KubeVersion;

    const NODE: &str = "/api/v1/nodes/node1";
    const FLAGS: &str = "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/crio/crio.sock --hostname-override=node1 --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n";
    const ANNOTATIONS: &str = "/metadata/annotations";

    /// A node of `version` in `base` whose cluster is `fake`; the configuration's own CRI
    /// socket (containerd's) is not the one its kubelet runs with (CRI-O's, in its flags).
    fn upgraded_node(
        base: &std::path::Path,
        fake: &FakeApi,
        version: &str,
        dry_run: bool,
    ) -> Context {
        let root = if dry_run {
            Root::dry_run(base).unwrap()
        } else {
            Root::new(base)
        };
        let overrides = Overrides {
            kubernetes_version: Some(version.into()),
            node_name: Some("node1".into()),
            cri_socket: Some("unix:///var/run/containerd/containerd.sock".into()),
            ..Overrides::default()
        };
        let host = FakeHost::healthy();
        let cfg = config::resolve(Documents::default(), &overrides, &root, &host).unwrap();
        let options = Options {
            dry_run,
            ..Options::default()
        };
        let mut ctx = Context::new(
            cfg,
            root,
            Box::new(host),
            Box::new(std::sync::Arc::new(RecordingReporter::default())),
            options,
        );
        let client = if dry_run {
            Client::dry_run(DryRun::reading(Box::new(fake.clone())))
        } else {
            Client::new(Box::new(fake.clone()), Retry::immediate())
        };
        ctx.set_api(client);
        fake.put(
            NODE,
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1",
                "annotations": {CRI_SOCKET_ANNOTATION: "unix:///run/crio/crio.sock",
                    "example.com/kept": "yes"}}}),
        );
        std::fs::create_dir_all(base.join("var/lib/kubelet")).unwrap();
        std::fs::write(base.join("var/lib/kubelet/kubeadm-flags.env"), FLAGS).unwrap();
        ctx
    }

    fn file(base: &std::path::Path, path: &str) -> Option<String> {
        std::fs::read_to_string(base.join(path.trim_start_matches('/'))).ok()
    }

    #[test]
    fn v1_34_moves_the_kubelets_own_endpoint_into_the_instance_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeApi::new();
        let ctx = upgraded_node(dir.path(), &fake, "v1.34.0", false);
        let to = KubeVersion::new(34, 0);
        assert!(node_local_cri_socket(&ctx, to).unwrap());
        assert_eq!(
            file(dir.path(), KUBELET_INSTANCE_CONFIG).as_deref(),
            Some("containerRuntimeEndpoint: \"unix:///run/crio/crio.sock\"\n")
        );
        assert_eq!(
            file(dir.path(), paths::KUBELET_FLAGS_ENV).as_deref(),
            Some(
                "KUBELET_KUBEADM_ARGS=\"--hostname-override=node1 --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n"
            )
        );
        // The kubelet's configuration takes the endpoint from it.
        let config = kubelet::with_instance_config(
            &ctx.root,
            "apiVersion: kubelet.config.k8s.io/v1beta1\ncontainerRuntimeEndpoint: \"\"\nkind: KubeletConfiguration\n",
        )
        .unwrap();
        assert!(
            config.contains("\ncontainerRuntimeEndpoint: unix:///run/crio/crio.sock\n"),
            "{config}"
        );
        assert_eq!(
            kubelet::instance_endpoint(&ctx.root).unwrap().as_deref(),
            Some("unix:///run/crio/crio.sock")
        );

        assert!(remove_cri_socket_annotation(&ctx, to).unwrap());
        let annotations = fake.object(NODE).unwrap().pointer(ANNOTATIONS).cloned();
        assert_eq!(annotations, Some(json!({"example.com/kept": "yes"})));

        // Done once, both are no-ops.
        fake.clear_log();
        assert!(!node_local_cri_socket(&ctx, to).unwrap());
        assert!(!remove_cri_socket_annotation(&ctx, to).unwrap());
        assert_eq!(fake.writes(), Vec::<String>::new());
        assert!(file(dir.path(), paths::KUBELET_FLAGS_ENV).is_some_and(|f| !f.contains(ENDPOINT)));
    }

    const ENDPOINT: &str = "--container-runtime-endpoint";

    #[test]
    fn a_run_stopped_after_the_instance_configuration_removes_the_flag_and_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeApi::new();
        let ctx = upgraded_node(dir.path(), &fake, "v1.35.0", false);
        let kept = "containerRuntimeEndpoint: \"unix:///run/other.sock\"\n";
        ctx.root
            .write(KUBELET_INSTANCE_CONFIG, kept.as_bytes(), 0o644)
            .unwrap();
        assert!(node_local_cri_socket(&ctx, KubeVersion::new(35, 2)).unwrap());
        assert_eq!(
            file(dir.path(), KUBELET_INSTANCE_CONFIG).as_deref(),
            Some(kept)
        );
        assert!(file(dir.path(), paths::KUBELET_FLAGS_ENV).is_some_and(|f| !f.contains(ENDPOINT)));
    }

    #[test]
    fn a_node_without_the_flag_gets_the_endpoint_the_upgrade_found_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeApi::new();
        let ctx = upgraded_node(dir.path(), &fake, "v1.34.0", false);
        let flags = "KUBELET_KUBEADM_ARGS=\"--hostname-override=node1\"\n";
        std::fs::write(dir.path().join("var/lib/kubelet/kubeadm-flags.env"), flags).unwrap();
        assert!(node_local_cri_socket(&ctx, KubeVersion::new(34, 0)).unwrap());
        assert_eq!(
            file(dir.path(), KUBELET_INSTANCE_CONFIG).as_deref(),
            Some("containerRuntimeEndpoint: \"unix:///var/run/containerd/containerd.sock\"\n")
        );
        assert_eq!(
            file(dir.path(), paths::KUBELET_FLAGS_ENV).as_deref(),
            Some(flags)
        );
    }

    #[test]
    fn before_v1_34_the_flag_and_the_annotation_stay() {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeApi::new();
        let ctx = upgraded_node(dir.path(), &fake, "v1.33.0", false);
        let to = KubeVersion::new(33, 0);
        assert!(!node_local_cri_socket(&ctx, to).unwrap());
        assert!(!remove_cri_socket_annotation(&ctx, to).unwrap());
        assert_eq!(
            file(dir.path(), paths::KUBELET_FLAGS_ENV).as_deref(),
            Some(FLAGS)
        );
        assert_eq!(file(dir.path(), KUBELET_INSTANCE_CONFIG), None);
        assert!(
            fake.object(NODE).unwrap().pointer(ANNOTATIONS).unwrap()[CRI_SOCKET_ANNOTATION]
                .is_string()
        );
    }

    #[test]
    fn a_dry_run_shows_the_changes_and_makes_none() {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeApi::new();
        let ctx = upgraded_node(dir.path(), &fake, "v1.34.0", true);
        let before = fake.object(NODE).unwrap();
        fake.clear_log();
        let to = KubeVersion::new(34, 0);
        assert!(node_local_cri_socket(&ctx, to).unwrap());
        assert!(remove_cri_socket_annotation(&ctx, to).unwrap());
        assert_eq!(
            file(dir.path(), paths::KUBELET_FLAGS_ENV).as_deref(),
            Some(FLAGS)
        );
        assert_eq!(file(dir.path(), KUBELET_INSTANCE_CONFIG), None);
        assert_eq!(fake.writes(), Vec::<String>::new());
        assert_eq!(fake.object(NODE).unwrap(), before);
        // What it would write is shown, and the steps after it read it.
        let wrote: Vec<String> = ctx
            .root
            .changes()
            .into_iter()
            .filter_map(|c| match c {
                crate::fs::root::Change::Wrote { path, .. } => Some(path),
                _ => None,
            })
            .collect();
        assert!(
            wrote.iter().any(|p| p.ends_with("instance-config.yaml")),
            "{wrote:?}"
        );
        assert_eq!(
            kubelet::instance_endpoint(&ctx.root).unwrap().as_deref(),
            Some("unix:///run/crio/crio.sock")
        );
    }

    const PAUSE: &str = "--pod-infra-container-image";

    #[test]
    fn v1_35_removes_the_pause_image_flag_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeApi::new();
        let ctx = upgraded_node(dir.path(), &fake, "v1.35.0", false);
        let to = KubeVersion::new(35, 0);
        assert!(kubelet_flags(&ctx, to).unwrap());
        assert_eq!(
            file(dir.path(), paths::KUBELET_FLAGS_ENV).as_deref(),
            Some(
                "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/crio/crio.sock --hostname-override=node1\"\n"
            )
        );
        // With the endpoint moved out too, the file is the one init of 1.35 writes.
        assert!(node_local_cri_socket(&ctx, to).unwrap());
        assert_eq!(
            file(dir.path(), paths::KUBELET_FLAGS_ENV).as_deref(),
            Some("KUBELET_KUBEADM_ARGS=\"--hostname-override=node1\"\n")
        );
        // Run again (a patch upgrade, or a run stopped after it): nothing left to do.
        assert!(!kubelet_flags(&ctx, KubeVersion::new(35, 2)).unwrap());
        assert_eq!(
            file(dir.path(), paths::KUBELET_FLAGS_ENV).as_deref(),
            Some("KUBELET_KUBEADM_ARGS=\"--hostname-override=node1\"\n")
        );
    }

    #[test]
    fn only_v1_35_removes_the_pause_image_flag() {
        for version in ["v1.34.1", "v1.36.0"] {
            let dir = tempfile::tempdir().unwrap();
            let fake = FakeApi::new();
            let ctx = upgraded_node(dir.path(), &fake, version, false);
            let to = KubeVersion::parse(version).unwrap();
            assert!(!kubelet_flags(&ctx, to).unwrap(), "{version}");
            assert!(
                file(dir.path(), paths::KUBELET_FLAGS_ENV).is_some_and(|f| f.contains(PAUSE)),
                "{version}"
            );
        }
    }

    #[test]
    fn a_dry_run_of_v1_35_leaves_the_pause_image_flag_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeApi::new();
        let ctx = upgraded_node(dir.path(), &fake, "v1.35.0", true);
        assert!(kubelet_flags(&ctx, KubeVersion::new(35, 0)).unwrap());
        assert_eq!(
            file(dir.path(), paths::KUBELET_FLAGS_ENV).as_deref(),
            Some(FLAGS)
        );
        // What it would write is shown.
        let env = ctx.root.read_to_string(paths::KUBELET_FLAGS_ENV).unwrap();
        assert!(!env.contains(PAUSE), "{env}");
    }

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
