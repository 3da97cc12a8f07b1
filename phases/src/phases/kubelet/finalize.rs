//! The `kubelet-finalize` phase: points kubelet.conf at the rotated client certificate once the
//! kubelet has one.

use crate::api::kubeconfig::Kubeconfig;
use anyhow::{Context as _, Result};

use crate::fs::paths;
use crate::runner::context::Context;

/// The kubelet's rotated client certificate and key (one PEM file).
pub const KUBELET_CLIENT_CURRENT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";

/// Rewrites the user of kubelet.conf to read the rotated certificate from disk; `None` when it
/// already does. Returns the new text.
pub fn rotatable(kubeconfig: &str, node: &str) -> Result<Option<String>> {
    let mut kc = Kubeconfig::parse(kubeconfig).context("kubelet.conf is not a kubeconfig")?;
    let name = format!("system:node:{node}");
    let Some(user) = kc
        .users
        .iter_mut()
        .find(|u| u.name == name)
        .map(|u| &mut u.user)
    else {
        anyhow::bail!("kubelet.conf has no user `{name}`");
    };
    let path = Some(KUBELET_CLIENT_CURRENT.to_string());
    if user.client_certificate == path && user.client_key == path {
        return Ok(None);
    }
    user.client_certificate_data = None;
    user.client_key_data = None;
    user.client_certificate = path.clone();
    user.client_key = path;
    kc.to_yaml().map(Some)
}

/// `kubelet-finalize`: once the kubelet has rotated its client certificate, kubelet.conf reads
/// it from disk so later rotations take effect; then the kubelet restarts.
pub fn run(ctx: &mut Context) -> Result<()> {
    let conf = paths::kubeconfig("kubelet.conf");
    if !ctx.root.exists(KUBELET_CLIENT_CURRENT) {
        ctx.out.status(
            "kubelet-finalize",
            &format!("`{KUBELET_CLIENT_CURRENT}` does not exist yet: leaving `{conf}` as it is"),
        );
        return Ok(());
    }
    let text = ctx.root.read_to_string(&conf)?;
    let Some(new) = rotatable(&text, &ctx.cfg.node_name)? else {
        return Ok(());
    };
    ctx.out.status(
        "kubelet-finalize",
        &format!("Updating \"{conf}\" to point to a rotatable kubelet client certificate and key"),
    );
    ctx.root.write_secret(&conf, new.as_bytes())?;
    crate::phases::kubelet::service::restart(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_the_node_user_at_the_rotated_certificate() {
        let conf = "apiVersion: v1\nkind: Config\nusers:\n- name: system:node:n1\n  user:\n    client-certificate-data: QQ==\n    client-key-data: Qg==\n";
        let new = rotatable(conf, "n1").unwrap().unwrap();
        assert!(!new.contains("client-certificate-data"), "{new}");
        assert!(
            new.contains(&format!("client-key: {KUBELET_CLIENT_CURRENT}")),
            "{new}"
        );
        assert_eq!(rotatable(&new, "n1").unwrap(), None);
        assert!(rotatable(conf, "other").is_err());
    }
}
