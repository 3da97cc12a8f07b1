//! Installing admin.conf as the kubeconfig of the user who ran kubestrap through sudo
//! (`~/.kube/config`), replacing a stale one from a previous cluster.

use std::time::SystemTime;

use anyhow::{Context as _, Result};

use crate::api::http::Credentials;
use crate::fs::home::Owner;
use crate::fs::paths;
use crate::phases::bootstrap::{self, admin_cluster};
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
    /// Nothing was written: it could not be done safely (a symbolic link, a folder or file the
    /// user does not own), said in `why`.
    Unsafe { path: String, why: String },
}

impl SudoUser {
    /// `~/.kube/config`.
    pub fn kubeconfig(&self) -> String {
        format!("{}/.kube/config", self.home.trim_end_matches('/'))
    }

    fn owner(&self) -> Owner {
        Owner {
            uid: self.uid,
            gid: self.gid,
        }
    }
}

/// Installs admin.conf as the sudo user's kubeconfig when it is absent or stale (same endpoint,
/// other CA: the cause of "x509: certificate signed by unknown authority" after a re-init).
/// Everything in the user's home goes through [`crate::fs::home`]: no link the user could have
/// planted is followed, and the files are the user's.
pub fn install_user_kubeconfig(ctx: &Context, user: &SudoUser) -> Result<UserKubeconfig> {
    let admin_text = ctx.root.read(paths::kubeconfig("admin.conf"))?;
    let (server, ca) = admin_cluster(ctx)?;
    let path = user.kubeconfig();
    let install = || -> Result<UserKubeconfig> {
        let dir = ctx.root.user_dir(&user.home, ".kube", user.owner(), true)?;
        let outcome = match dir.read("config")? {
            None => UserKubeconfig::Written(path.clone()),
            Some(existing) => {
                let stale = std::str::from_utf8(&existing)
                    .ok()
                    .and_then(|text| Credentials::parse_text(&ctx.root, text).ok())
                    .is_some_and(|c| c.server == server && c.ca_pem != ca);
                if !stale {
                    return Ok(UserKubeconfig::Left(path.clone()));
                }
                let backup = format!("config.bak-{}", stamp());
                dir.write(&backup, &existing)?;
                UserKubeconfig::Replaced {
                    path: path.clone(),
                    backup: dir.path(&backup),
                }
            }
        };
        dir.write("config", &admin_text)?;
        Ok(outcome)
    };
    Ok(install().unwrap_or_else(|e| UserKubeconfig::Unsafe {
        path: path.clone(),
        why: format!("{e:#}"),
    }))
}

/// reset: moves the sudo user's `~/.kube/config` aside (to a backup beside it) when it trusts
/// `ca_pem`, the CA of the cluster being reset: after a new init, kubectl would otherwise fail
/// with "x509: certificate signed by unknown authority". Returns the file and its backup. Fails,
/// changing nothing, where that cannot be done safely (see [`install_user_kubeconfig`]).
pub fn set_aside_user_kubeconfig(
    ctx: &Context,
    user: &SudoUser,
    ca_pem: &[u8],
) -> Result<Option<(String, String)>> {
    let path = user.kubeconfig();
    if !ctx.root.exists(&path) {
        return Ok(None);
    }
    let dir = ctx
        .root
        .user_dir(&user.home, ".kube", user.owner(), false)?;
    let Some(existing) = dir.read("config")? else {
        return Ok(None);
    };
    let ours = std::str::from_utf8(&existing)
        .ok()
        .and_then(|text| Credentials::parse_text(&ctx.root, text).ok())
        .is_some_and(|c| c.ca_pem == ca_pem);
    if !ours {
        return Ok(None);
    }
    let backup = format!("config.reset-{}", stamp());
    dir.write(&backup, &existing)?;
    dir.remove("config")?;
    Ok(Some((path, dir.path(&backup))))
}

/// Now, for a backup's name: RFC 3339 without colons.
fn stamp() -> String {
    bootstrap::rfc3339(SystemTime::now()).replace(':', "")
}
