//! Renewing a certificate with the CA on disk (`certs renew`), keeping its subject (but for
//! the groups 1.29 moves), names and usages; and keys with certificate signing requests for an external CA (`certs generate-csr`).

use anyhow::{Context as _, Result, bail};

use crate::api::client::CLUSTER_ADMINS_GROUP;
use crate::api::kubeconfig::Kubeconfig;
use crate::phases::certs::ca_name;
use crate::phases::certs::{self, Cert};
use crate::phases::kubeconfig::File;
use crate::phases::renewal::expiry::Renewable;
use crate::pki::{self, AltNames, CertRequest, Certificate, Usage};
use crate::runner::context::Context;
use crate::version::migrations::{self, Migration};

/// What renewing one certificate did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written with a new key; the new certificate's serial (hex).
    Renewed { serial: String },
    /// Its file does not exist.
    Missing,
    /// Its CA has no key here: the external CA has to sign a new one.
    ExternalCa { ca: String },
}

/// Renews `item`: a new key and certificate signed by its CA, with the same subject, SANs and
/// usages, valid for `certificateValidityPeriod` from now. A kubeconfig keeps its server, user
/// and context; only the embedded client certificate and key change.
pub fn renew(ctx: &Context, item: Renewable) -> Result<Outcome> {
    let ca = item.signer();
    let dir = ctx.cert_dir();
    let (ca_crt, ca_key_path) = pki::pair_paths(dir, ca.base());
    let Some(current) = item.read(ctx)? else {
        return Ok(Outcome::Missing);
    };
    if !ctx.root.exists(&ca_crt) {
        bail!(
            "`{ca_crt}` does not exist to sign the renewed {}\n\nhint: restore the CA the cluster was made with; a new CA would not be trusted by the running cluster",
            item.name()
        );
    }
    let authority = pki::load_ca(&ctx.root, dir, ca.base())
        .with_context(|| format!("failure loading {} certificate authority", ca_name(ca)))?;
    let Some(ca_key) = &authority.key else {
        return Ok(Outcome::ExternalCa { ca: ca_name(ca) });
    };
    certs::check_signing_period(&authority.cert, &ca_name(ca))?;
    if !current.is_signed_by(&authority.cert) {
        bail!(
            "`{}` was not signed by `{ca_crt}`: renewing it with this CA would change who trusts it\n\nhint: put back the CA that signed it (`{ca_crt}` and `{ca_key_path}`)",
            item.path(ctx)
        );
    }
    let req = same_as(ctx, &current, &authority.cert, item)?;
    let key = pki::new_key(certs::key_algorithm(ctx)?)?;
    let cert = pki::sign(&req, &key, Some((&authority.cert, ca_key)))
        .with_context(|| format!("failed to renew certificate {}", item.name()))?;
    match item {
        Renewable::Leaf(c) => pki::write_pair(&ctx.root, dir, c.base(), &cert, &key)?,
        Renewable::Kubeconfig(_) => {
            let path = item.path(ctx);
            let text = ctx.root.read_to_string(&path)?;
            let mut config =
                Kubeconfig::parse(&text).with_context(|| format!("failed to parse `{path}`"))?;
            let name = config
                .contexts
                .iter()
                .find(|c| c.name == config.current_context)
                .map(|c| c.context.user.clone())
                .with_context(|| format!("`{path}`: its current context names no user"))?;
            let user = config
                .users
                .iter_mut()
                .find(|u| u.name == name)
                .with_context(|| format!("`{path}`: user {name:?} is not defined"))?;
            user.user = Kubeconfig::client_cert_user(&cert.pem(), key.pem());
            ctx.root.write_secret(&path, config.to_yaml()?.as_bytes())?;
        }
    }
    Ok(Outcome::Renewed {
        serial: cert.serial_hex(),
    })
}

/// The request for a certificate like `current`, valid from now for the configured period.
fn same_as(
    ctx: &Context,
    current: &Certificate,
    ca: &Certificate,
    item: Renewable,
) -> Result<CertRequest> {
    let (not_before, not_after) = certs::leaf_validity(ctx, ca)?;
    let usages = if current.usages.is_empty() {
        // Every certificate kubeadm makes has one; a hand-made client certificate may not.
        match item {
            Renewable::Kubeconfig(_) => vec![Usage::ClientAuth],
            Renewable::Leaf(_) => bail!(
                "`{}` has no extended key usage to keep; kubestrap does not guess one",
                item.path(ctx)
            ),
        }
    } else {
        current.usages.clone()
    };
    Ok(CertRequest {
        common_name: current.common_name.clone(),
        organizations: organizations(ctx, current, item),
        alt_names: AltNames {
            dns: current.dns_names.clone(),
            ips: current.ips.clone(),
        },
        usages,
        is_ca: false,
        leaf_basic_constraints: ctx.profile().leaf_basic_constraints,
        not_before,
        not_after,
    })
}

/// The groups of the renewed certificate: `current`'s, except that the renewal of the version
/// that took certificates out of `system:masters` does it for those it made in that group
/// ([`Migration::RenewalLeavesSystemMasters`]).
fn organizations(ctx: &Context, current: &Certificate, item: Renewable) -> Vec<String> {
    const MASTERS: &str = "system:masters";
    let mut groups = current.organizations.clone();
    let migrates =
        migrations::for_target(ctx.cfg.version).contains(&Migration::RenewalLeavesSystemMasters);
    if !migrates || !groups.iter().any(|g| g == MASTERS) {
        return groups;
    }
    match item {
        Renewable::Leaf(Cert::ApiserverKubeletClient) => {
            groups.retain(|g| g != MASTERS && g != CLUSTER_ADMINS_GROUP);
            groups.push(CLUSTER_ADMINS_GROUP.to_string());
        }
        Renewable::Leaf(Cert::ApiserverEtcdClient | Cert::EtcdHealthcheckClient) => {
            groups.retain(|g| g != MASTERS);
        }
        _ => {}
    }
    groups
}

/// What `generate-csr` writes for one certificate: the key, the request and (for a kubeconfig)
/// the kubeconfig with the key but no certificate yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrFiles {
    pub name: String,
    pub key_or_kubeconfig: String,
    pub csr: String,
}

/// A certificate `init` needs that an external CA signs: a leaf file or a kubeconfig's.
enum CsrTarget {
    Leaf(Cert),
    Kubeconfig(File),
}

fn targets(ctx: &Context) -> Vec<CsrTarget> {
    let external_etcd = ctx.cfg.cluster.etcd.external.is_some();
    let mut out: Vec<CsrTarget> = Cert::ALL
        .into_iter()
        .filter(|c| c.signer().is_some() && !(external_etcd && c.signer() == Some(Cert::EtcdCa)))
        .map(CsrTarget::Leaf)
        .collect();
    out.extend(File::files(ctx).iter().map(|f| CsrTarget::Kubeconfig(*f)));
    out
}

/// Writes a key and a CSR for every leaf certificate (`<cert-dir>/<name>.key|.csr`) and every
/// kubeconfig (`<kubeconfig-dir>/<name>.conf` holding the key, and `<name>.conf.csr`), for an
/// external CA to sign. Refuses, writing nothing, when any of those files or a certificate
/// already exists.
pub fn generate_csrs(ctx: &Context, kubeconfig_dir: &str) -> Result<Vec<CsrFiles>> {
    let dir = ctx.cert_dir();
    let mut planned = Vec::new();
    for target in targets(ctx) {
        planned.push(match target {
            CsrTarget::Leaf(c) => {
                let (crt, key) = pki::pair_paths(dir, c.base());
                let csr = format!("{dir}/{}.csr", c.base());
                (target, key, csr, vec![crt])
            }
            CsrTarget::Kubeconfig(f) => {
                let conf = format!("{kubeconfig_dir}/{}", f.name());
                let csr = format!("{conf}.csr");
                let crt = format!("{conf}.crt");
                (target, conf, csr, vec![crt])
            }
        });
    }
    let existing: Vec<&String> = planned
        .iter()
        .flat_map(|(_, a, b, c)| [a, b].into_iter().chain(c))
        .filter(|p| ctx.root.exists(p))
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already exist: {}\n\nhint: generate-csr makes new keys and never overwrites one; move these files away (or run it with other --cert-dir/--kubeconfig-dir folders)",
            if existing.len() == 1 {
                "a file"
            } else {
                "files"
            },
            existing
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let alg = certs::key_algorithm(ctx)?;
    pki::prefetch_keys(alg, planned.len());
    let server = crate::phases::kubeconfig::control_plane_endpoint(ctx)?;
    let local = crate::phases::kubeconfig::local_endpoint(ctx);
    let mut written = Vec::new();
    for (target, path, csr_path, _) in planned {
        let key = pki::new_key(alg)?;
        let name = match target {
            CsrTarget::Leaf(c) => {
                let req = c.request(ctx, None)?;
                let csr = pki::certificate_request(&req, &key)?;
                pki::write_csr(&ctx.root, dir, c.base(), &csr, &key)?;
                c.base().to_string()
            }
            CsrTarget::Kubeconfig(f) => {
                let (user, group) = f.identity(ctx);
                let req = CertRequest {
                    common_name: user.clone(),
                    organizations: group.map(str::to_string).into_iter().collect(),
                    alt_names: AltNames::default(),
                    usages: vec![Usage::ClientAuth],
                    is_ca: false,
                    leaf_basic_constraints: ctx.profile().leaf_basic_constraints,
                    // A request carries no validity: the CA sets it.
                    not_before: ctx.started,
                    not_after: ctx.started,
                };
                let csr = pki::certificate_request(&req, &key)?;
                let server = match f {
                    File::ControllerManager | File::Scheduler => &local,
                    _ => &server,
                };
                let ca_pem = ctx
                    .root
                    .read_to_string(pki::pair_paths(dir, Cert::Ca.base()).0)
                    .unwrap_or_default();
                let mut config = Kubeconfig::with_client_cert(
                    &ctx.cfg.cluster.cluster_name,
                    server,
                    &ca_pem,
                    &user,
                    "",
                    key.pem(),
                );
                if let Some(u) = config.users.first_mut() {
                    u.user.client_certificate_data = None;
                }
                if ca_pem.is_empty()
                    && let Some(c) = config.clusters.first_mut()
                {
                    c.cluster.certificate_authority_data = None;
                }
                ctx.root.write_secret(&path, config.to_yaml()?.as_bytes())?;
                ctx.root.write_secret(&csr_path, csr.as_bytes())?;
                f.name().to_string()
            }
        };
        written.push(CsrFiles {
            name,
            key_or_kubeconfig: path,
            csr: csr_path,
        });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Documents, Overrides};
    use crate::fs::root::Root;
    use crate::host::FakeHost;
    use crate::pki::AltNames;
    use crate::runner::context::Options;
    use crate::runner::report::RecordingReporter;

    fn node(base: &std::path::Path, version: &str) -> Context {
        let root = Root::new(base);
        let overrides = Overrides {
            kubernetes_version: Some(version.into()),
            node_name: Some("node1".into()),
            ..Overrides::default()
        };
        let host = FakeHost::healthy();
        let cfg = config::resolve(Documents::default(), &overrides, &root, &host).unwrap();
        Context::new(
            cfg,
            root,
            Box::new(host),
            Box::new(std::sync::Arc::new(RecordingReporter::default())),
            Options::default(),
        )
    }

    /// The cluster CA and etcd CA, and the three certificates a 1.28 node has in
    /// `system:masters`.
    fn v1_28_node(base: &std::path::Path) {
        let ctx = node(base, "v1.28.3");
        for (base_name, cn) in [("ca", "kubernetes"), ("etcd/ca", "etcd-ca")] {
            let key = pki::new_key(certs::key_algorithm(&ctx).unwrap()).unwrap();
            let (not_before, not_after) = certs::ca_validity(&ctx).unwrap();
            let req = CertRequest {
                common_name: cn.into(),
                organizations: Vec::new(),
                alt_names: AltNames::default(),
                usages: Vec::new(),
                is_ca: true,
                leaf_basic_constraints: false,
                not_before,
                not_after,
            };
            let cert = pki::sign(&req, &key, None).unwrap();
            pki::write_pair(&ctx.root, ctx.cert_dir(), base_name, &cert, &key).unwrap();
        }
        for cert in CHANGED {
            certs::ensure_leaf(&ctx, cert).unwrap();
        }
    }

    const CHANGED: [Cert; 3] = [
        Cert::ApiserverKubeletClient,
        Cert::ApiserverEtcdClient,
        Cert::EtcdHealthcheckClient,
    ];

    fn groups(ctx: &Context, cert: Cert) -> Vec<String> {
        Renewable::Leaf(cert)
            .read(ctx)
            .unwrap()
            .unwrap()
            .organizations
    }

    #[test]
    fn the_renewal_of_v1_29_takes_the_certificates_out_of_system_masters() {
        let dir = tempfile::tempdir().unwrap();
        v1_28_node(dir.path());
        let ctx = node(dir.path(), "v1.29.0");
        for cert in CHANGED {
            assert_eq!(groups(&ctx, cert), ["system:masters"]);
            assert!(matches!(
                renew(&ctx, Renewable::Leaf(cert)).unwrap(),
                Outcome::Renewed { .. }
            ));
        }
        // As init of 1.29 makes them.
        assert_eq!(
            groups(&ctx, Cert::ApiserverKubeletClient),
            [CLUSTER_ADMINS_GROUP]
        );
        assert!(groups(&ctx, Cert::ApiserverEtcdClient).is_empty());
        assert!(groups(&ctx, Cert::EtcdHealthcheckClient).is_empty());
        // Renewed again: as they are.
        renew(&ctx, Renewable::Leaf(Cert::ApiserverKubeletClient)).unwrap();
        assert_eq!(
            groups(&ctx, Cert::ApiserverKubeletClient),
            [CLUSTER_ADMINS_GROUP]
        );
    }

    #[test]
    fn other_versions_renew_a_certificate_in_its_groups() {
        for version in ["v1.28.3", "v1.30.0"] {
            let dir = tempfile::tempdir().unwrap();
            v1_28_node(dir.path());
            let ctx = node(dir.path(), version);
            for cert in CHANGED {
                renew(&ctx, Renewable::Leaf(cert)).unwrap();
                assert_eq!(groups(&ctx, cert), ["system:masters"], "{version}");
            }
        }
    }
}
