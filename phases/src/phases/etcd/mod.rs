//! The `etcd` phase: the local etcd static pod.

pub mod leave;
pub mod member;

pub use leave::run as remove_etcd_member;
pub use member::{AddedMember, check_etcd, join_etcd, undo_etcd_member};

use std::net::IpAddr;

use anyhow::{Context as _, Result, bail};

use crate::config::Config;
use crate::config::flags;
use crate::fs::paths;
use crate::render::staticpod::{self, Probes};
use crate::render::templates::{self, list, scalar};
use crate::runner::Phase;
use crate::runner::context::Context;
use crate::version::{EtcdProbes, images};

/// Client port of the local etcd member.
pub const CLIENT_PORT: u16 = 2379;
/// Peer port of the local etcd member.
pub const PEER_PORT: u16 = 2380;
/// Plain-HTTP metrics and health port, bound to localhost.
pub const METRICS_PORT: u16 = 2381;

fn url(scheme: &str, ip: IpAddr, port: u16) -> String {
    format!("{scheme}://{}:{port}", crate::config::net::url_host(ip))
}

fn localhost(cfg: &Config) -> IpAddr {
    if cfg.advertise_address.is_ipv6() {
        IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    }
}

/// Whether an etcd image tag (`3.6.4-0`) is etcd 3.6 or newer, whose flags lost the
/// `experimental-` prefix; kubeadm decides by the tag too.
fn at_least_3_6(tag: &str) -> bool {
    let core = tag.trim_start_matches('v');
    let mut parts = core.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (3, 6),
        _ => false,
    }
}

/// The etcd command line for a single-member cluster on this node.
pub fn etcd_command(cfg: &Config) -> Result<Vec<String>> {
    command(cfg, None)
}

/// The etcd command line: a new single-member cluster, or (`joining` = the whole
/// `--initial-cluster`) a member joining an existing cluster.
fn command(cfg: &Config, joining: Option<&str>) -> Result<Vec<String>> {
    let Some(local) = &cfg.cluster.etcd.local else {
        bail!("no `etcd.local` section: the cluster uses external etcd");
    };
    let p = cfg.version.profile();
    let adv = cfg.advertise_address;
    let pki = |f: &str| format!("{}/{f}", cfg.cluster.certificates_dir);
    let client_url = url("https", adv, CLIENT_PORT);
    let peer_url = url("https", adv, PEER_PORT);
    let mut d: Vec<(&str, String)> = vec![
        ("name", cfg.node_name.clone()),
        (
            "listen-client-urls",
            format!("{},{client_url}", url("https", localhost(cfg), CLIENT_PORT)),
        ),
        ("advertise-client-urls", client_url),
        ("listen-peer-urls", peer_url.clone()),
        ("initial-advertise-peer-urls", peer_url.clone()),
        ("data-dir", local.data_dir.clone()),
        ("cert-file", pki("etcd/server.crt")),
        ("key-file", pki("etcd/server.key")),
        ("trusted-ca-file", pki("etcd/ca.crt")),
        ("client-cert-auth", "true".into()),
        ("peer-cert-file", pki("etcd/peer.crt")),
        ("peer-key-file", pki("etcd/peer.key")),
        ("peer-trusted-ca-file", pki("etcd/ca.crt")),
        ("peer-client-cert-auth", "true".into()),
        ("snapshot-count", "10000".into()),
        (
            "listen-metrics-urls",
            url("http", localhost(cfg), METRICS_PORT),
        ),
        (
            "initial-cluster",
            joining
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}={peer_url}", cfg.node_name)),
        ),
    ];
    if joining.is_some() {
        d.push(("initial-cluster-state", "existing".into()));
    }
    let v3_6 = at_least_3_6(&images::etcd_tag(cfg));
    if p.etcd_initial_corrupt_check {
        if v3_6 {
            d.push(("feature-gates", "InitialCorruptCheck=true".into()));
        } else {
            d.push(("experimental-initial-corrupt-check", "true".into()));
        }
    }
    if p.etcd_watch_progress_notify {
        let name = if v3_6 {
            "watch-progress-notify-interval"
        } else {
            "experimental-watch-progress-notify-interval"
        };
        d.push((name, "5s".into()));
    }
    let mut command = vec!["etcd".to_string()];
    command.extend(flags::merge(&d, &local.extra_args));
    Ok(command)
}

/// Where the kubelet probes etcd: the first `listen-metrics-urls` entry, else localhost:2381 over HTTP.
fn probe_endpoint(cfg: &Config) -> (String, u16, &'static str) {
    let default = (localhost(cfg).to_string(), METRICS_PORT, "HTTP");
    let Some(value) = cfg
        .cluster
        .etcd
        .local
        .as_ref()
        .and_then(|l| flags::user_value(&l.extra_args, "listen-metrics-urls"))
    else {
        return default;
    };
    let first = value.split(',').next().unwrap_or("");
    let Some((scheme, rest)) = first.split_once("://") else {
        return default;
    };
    let hostport = rest.split('/').next().unwrap_or("");
    let (host, port): (&str, Option<u16>) = match hostport.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (rest, None),
        },
        None => match hostport.split_once(':') {
            Some((h, p)) => (h, p.parse().ok()),
            None => (hostport, None),
        },
    };
    let host = if host.is_empty() {
        default.0.clone()
    } else {
        host.to_string()
    };
    let scheme = if scheme == "https" { "HTTPS" } else { "HTTP" };
    (host, port.unwrap_or(METRICS_PORT), scheme)
}

/// The local etcd static pod.
pub fn etcd_manifest(cfg: &Config) -> Result<String> {
    manifest(cfg, None)
}

/// The static pod of a member joining the cluster of `initial_cluster` (`name=peerURL,…`).
pub fn joining_manifest(cfg: &Config, initial_cluster: &str) -> Result<String> {
    manifest(cfg, Some(initial_cluster))
}

fn manifest(cfg: &Config, joining: Option<&str>) -> Result<String> {
    let Some(local) = &cfg.cluster.etcd.local else {
        bail!("no `etcd.local` section: the cluster uses external etcd");
    };
    let p = cfg.version.profile();
    let (host, port, scheme) = probe_endpoint(cfg);
    let (liveness, readiness, startup) = match p.etcd_probes {
        EtcdProbes::Health => ("/health", None, "/health"),
        EtcdProbes::SerializableHealth => (
            "/health?exclude=NOSPACE&serializable=true",
            None,
            "/health?serializable=false",
        ),
        EtcdProbes::LivezReadyz => ("/livez", Some("/readyz"), "/readyz"),
    };
    let probes = Probes {
        host,
        port,
        scheme,
        named: p.named_probe_port,
        liveness,
        readiness,
        startup,
    };
    let mut requests = String::from("cpu: 100m\n");
    if p.etcd_ephemeral_storage_request {
        requests.push_str("ephemeral-storage: 100Mi\n");
    }
    requests.push_str("memory: 100Mi\n");
    let certs = format!("{}/etcd", cfg.cluster.certificates_dir);
    // Mounts keep kubeadm's order (data, then certificates); volumes are sorted by name.
    let mounts = format!(
        "- mountPath: {data}\n  name: etcd-data\n- mountPath: {certs}\n  name: etcd-certs\n",
        data = scalar(&local.data_dir),
        certs = scalar(&certs)
    );
    let volumes = format!(
        "- hostPath:\n    path: {certs}\n    type: DirectoryOrCreate\n  name: etcd-certs\n- hostPath:\n    path: {data}\n    type: DirectoryOrCreate\n  name: etcd-data\n",
        data = scalar(&local.data_dir),
        certs = scalar(&certs)
    );
    let vars = vec![
        (
            "advertiseClientUrls",
            url("https", cfg.advertise_address, CLIENT_PORT),
        ),
        ("command", list(&command(cfg, joining)?)),
        ("env", staticpod::env(&local.extra_envs)),
        ("image", images::etcd(cfg)),
        ("requests", requests),
        ("volumeMounts", mounts),
        ("volumes", volumes),
    ];
    staticpod::render("static-pods/etcd.yaml", templates::ETCD, cfg, &probes, vars)
}

fn run_local(ctx: &mut Context) -> Result<()> {
    let Some(local) = &ctx.cfg.cluster.etcd.local else {
        ctx.out.status(
            "etcd",
            "External etcd mode: skipping the creation of a manifest for local etcd",
        );
        return Ok(());
    };
    let manifest = etcd_manifest(&ctx.cfg)?;
    let manifest =
        crate::phases::apply_patches::yaml(ctx, crate::render::patches::Target::Etcd, &manifest)?;
    ctx.root
        .create_dir(&local.data_dir, 0o700)
        .with_context(|| format!("failed to create the etcd data folder `{}`", local.data_dir))?;
    ctx.out.status(
        "etcd",
        &format!(
            "Creating static Pod manifest for local etcd in \"{}\"",
            paths::MANIFESTS_DIR
        ),
    );
    staticpod::write(&ctx.root, "etcd", &manifest)
}

/// The sub-phases of `etcd`.
pub static PHASES: &[Phase] = &[Phase::leaf(
    "local",
    "Generate the static Pod manifest file for a local, single-node local etcd instance",
    run_local,
)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_3_6_is_told_by_the_tag() {
        assert!(at_least_3_6("3.6.4-0"));
        assert!(at_least_3_6("v3.7.0"));
        assert!(!at_least_3_6("3.5.24-0"));
        assert!(!at_least_3_6("latest"));
    }

    #[test]
    fn urls_bracket_ipv6() {
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(url("https", v6, 2379), "https://[fd00::1]:2379");
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(url("http", v4, 2381), "http://10.0.0.1:2381");
    }
}
