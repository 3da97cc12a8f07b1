//! Installing admin.conf as the kubeconfig of the user who ran kubestrap through sudo
//! (`~/.kube/config`), replacing a stale one from a previous cluster.

use std::time::SystemTime;

use anyhow::{Context as _, Result};

use crate::api::http::Credentials;
use crate::fs::paths;
use crate::phases::bootstrap_token::{self, admin_cluster};
use crate::runner::context::Context;

/// The user who ran kubestrap through sudo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SudoUser {
    pub name: String,
    pub home: String,
    pub uid: u32,
    pub gid: u32,
}

impl SudoUser {
    /// The account of a user name (from `SUDO_USER`); `None` when there is no such account.
    pub fn lookup(name: &str) -> Result<Option<Self>> {
        let user = nix::unistd::User::from_name(name)
            .with_context(|| format!("failed to look up user `{name}`"))?;
        Ok(user.map(|u| SudoUser {
            name: u.name,
            home: u.dir.display().to_string(),
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        }))
    }
}

/// What happened to the invoking user's `~/.kube/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserKubeconfig {
    /// It did not exist and now holds the admin kubeconfig.
    Written(String),
    /// It pointed at this cluster's endpoint with another CA (a previous cluster): backed up
    /// and replaced.
    Replaced { path: String, backup: String },
    /// It exists and was left alone.
    Left(String),
}

/// Installs admin.conf as the sudo user's kubeconfig when it is absent or stale (same endpoint,
/// other CA: the cause of "x509: certificate signed by unknown authority" after a re-init).
pub fn install_user_kubeconfig(ctx: &Context, user: &SudoUser) -> Result<UserKubeconfig> {
    let admin = paths::kubeconfig("admin.conf");
    let admin_text = ctx.root.read(&admin)?;
    let dir = format!("{}/.kube", user.home.trim_end_matches('/'));
    let path = format!("{dir}/config");
    let outcome = match ctx.root.read_optional(&path)? {
        None => UserKubeconfig::Written(path.clone()),
        Some(existing) => {
            let (server, ca) = admin_cluster(ctx)?;
            let stale = std::str::from_utf8(&existing)
                .ok()
                .and_then(|text| Credentials::parse_text(&ctx.root, text).ok())
                .is_some_and(|c| c.server == server && c.ca_pem != ca);
            if !stale {
                return Ok(UserKubeconfig::Left(path));
            }
            let stamp = bootstrap_token::rfc3339(SystemTime::now()).replace(':', "");
            let backup = format!("{path}.bak-{stamp}");
            ctx.root.write_secret(&backup, &existing)?;
            chown(ctx, &backup, user)?;
            UserKubeconfig::Replaced {
                path: path.clone(),
                backup,
            }
        }
    };
    if !ctx.root.exists(&dir) {
        ctx.root.create_dir(&dir, 0o755)?;
        chown(ctx, &dir, user)?;
    }
    ctx.root.write_secret(&path, &admin_text)?;
    chown(ctx, &path, user)?;
    Ok(outcome)
}

/// reset: moves the sudo user's `~/.kube/config` aside (to a backup beside it) when it trusts
/// `ca_pem`, the CA of the cluster being reset: after a new init, kubectl would otherwise fail
/// with "x509: certificate signed by unknown authority". Returns the file and its backup.
pub fn set_aside_user_kubeconfig(
    ctx: &Context,
    user: &SudoUser,
    ca_pem: &[u8],
) -> Result<Option<(String, String)>> {
    let path = format!("{}/.kube/config", user.home.trim_end_matches('/'));
    let Some(existing) = ctx.root.read_optional(&path)? else {
        return Ok(None);
    };
    let ours = std::str::from_utf8(&existing)
        .ok()
        .and_then(|text| Credentials::parse_text(&ctx.root, text).ok())
        .is_some_and(|c| c.ca_pem == ca_pem);
    if !ours {
        return Ok(None);
    }
    let stamp = bootstrap_token::rfc3339(SystemTime::now()).replace(':', "");
    let backup = format!("{path}.reset-{stamp}");
    ctx.root.write_secret(&backup, &existing)?;
    chown(ctx, &backup, user)?;
    ctx.root.remove_all(&path)?;
    Ok(Some((path, backup)))
}

fn chown(ctx: &Context, logical: &str, user: &SudoUser) -> Result<()> {
    if ctx.root.is_dry_run() {
        return Ok(());
    }
    let physical = ctx.root.physical(logical)?;
    nix::unistd::chown(
        &physical,
        Some(nix::unistd::Uid::from_raw(user.uid)),
        Some(nix::unistd::Gid::from_raw(user.gid)),
    )
    .with_context(|| format!("failed to give `{logical}` to user `{}`", user.name))
}
