//! `show-join-command`: the join endpoint, CA hashes and one join command per token, kept in
//! `ctx.outputs` for the success text and `-o json`; the join command's text (also printed by
//! `kubestrap token create --print-join-command`).

use anyhow::Result;

use crate::phases::bootstrap::token::{self, admin_cluster};
use crate::runner::context::Context;

use crate::phases::bootstrap::token::WITHHELD;

/// The `show-join-command` phase.
pub fn run(ctx: &mut Context) -> Result<()> {
    if ctx.outputs.tokens.is_empty() {
        token::init_specs(ctx)?;
        ctx.outputs.tokens = ctx
            .cfg
            .init
            .bootstrap_tokens
            .iter()
            .filter_map(|t| t.token.clone())
            .collect();
    }
    if ctx.opts.skip_token_print {
        // As kubeadm: the commands keep their shape, the tokens are not shown.
        ctx.outputs.tokens = vec![WITHHELD.to_string(); ctx.outputs.tokens.len()];
    }
    let (server, ca) = admin_cluster(ctx)?;
    let hashes = crate::pki::ca_cert_hashes(&ca)?;
    let endpoint = crate::config::net::url_host_port(&server);
    ctx.outputs.join_commands = ctx
        .outputs
        .tokens
        .iter()
        .map(|t| one_line(&join_command(&endpoint, t, &hashes, None)))
        .collect();
    if ctx.cfg.cluster.control_plane_endpoint.is_some() {
        // With uploaded certificates the command carries the key that opens them.
        let key = match (ctx.opts.upload_certs, ctx.opts.skip_certificate_key_print) {
            (false, _) => None,
            (true, true) => Some(WITHHELD.to_string()),
            // Run alone without --certificate-key: the key upload-certs printed is not known here.
            (true, false) => Some(
                ctx.cfg
                    .init
                    .certificate_key
                    .clone()
                    .unwrap_or_else(|| "<the key upload-certs printed>".into()),
            ),
        };
        ctx.outputs.control_plane_join_commands = ctx
            .outputs
            .tokens
            .iter()
            .map(|t| one_line(&join_command(&endpoint, t, &hashes, Some(key.as_deref()))))
            .collect();
    }
    ctx.outputs.join_endpoint = Some(endpoint);
    ctx.outputs.ca_cert_hashes = hashes;
    if !ctx.opts.dry_run {
        ctx.outputs.node_not_ready = not_ready(ctx)?;
    }
    Ok(())
}

/// The node's Ready condition, when it is not True: init succeeds without a pod network, and
/// the user should learn why the node is NotReady from kubestrap rather than from kubectl.
fn not_ready(ctx: &Context) -> Result<Option<String>> {
    let api = ctx.api()?;
    let target = crate::api::node::node_ref(&ctx.cfg.node_name)?;
    let Some(node) = api.get::<crate::api::objects::Node>(&target)? else {
        return Ok(Some("the node has not registered".into()));
    };
    let ready = node.status.conditions.iter().find(|c| c.kind == "Ready");
    Ok(match ready {
        Some(c) if c.status == "True" => None,
        Some(c) => Some(
            c.message
                .clone()
                .or_else(|| c.reason.clone())
                .unwrap_or_else(|| "no reason given".into()),
        ),
        None => Some("the kubelet has not reported its status yet".into()),
    })
}

/// The join command in kubeadm's layout: continuation lines start with a TAB, and each hash is
/// followed by a space. `control_plane` is `Some(certificate key)` for a control-plane join.
pub fn join_command(
    endpoint: &str,
    token: &str,
    hashes: &[String],
    control_plane: Option<Option<&str>>,
) -> String {
    let mut out = format!("kubestrap join {endpoint} --token {token} \\\n\t");
    for h in hashes {
        out.push_str(&format!("--discovery-token-ca-cert-hash {h} "));
    }
    if let Some(key) = control_plane {
        out.push_str("\\\n\t--control-plane ");
        if let Some(key) = key {
            out.push_str(&format!("--certificate-key {key}"));
        }
    }
    out
}

/// The same command on one line (for `token create --print-join-command`).
pub fn one_line(cmd: &str) -> String {
    cmd.replace(" \\\n\t", " ")
}
