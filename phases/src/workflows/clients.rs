//! The API clients the workflows hand their phases: admin.conf under the root, or a dry-run
//! client.

use anyhow::Result;

use crate::api::Client;
use crate::api::client;
use crate::runner::context::{Clients, Context};

/// admin.conf, made ready on 1.29+ (the `kubeadm:cluster-admins` binding); dry-run: a client
/// that reports mutating requests.
pub const ADMIN: Clients = Clients {
    api: admin,
    health: admin_health,
    admin,
};

fn admin(ctx: &Context) -> Result<Client> {
    if ctx.opts.dry_run {
        return Ok(client::dry_run(&ctx.cfg));
    }
    let retry = client::retry(&ctx.cfg);
    let admin = client::admin(&ctx.root, retry)?;
    if ctx.profile().super_admin {
        client::ensure_cluster_admins(&ctx.root, &admin, ctx, retry)?;
    }
    Ok(admin)
}

/// admin.conf as it is (the cluster-admins binding can only be made once the server answers);
/// dry-run: a client that reports mutating requests.
pub fn admin_health(ctx: &Context) -> Result<Client> {
    if ctx.opts.dry_run {
        return Ok(client::dry_run(&ctx.cfg));
    }
    client::admin(&ctx.root, client::retry(&ctx.cfg))
}
