//! `kubestrap certs check-expiration|renew|restart|generate-csr|certificate-key` and
//! `kubestrap kubeconfig user`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::phases::control_plane::restart;
use kubestrap_phases::phases::kubeconfig as kubeconfig_phase;
use kubestrap_phases::phases::renewal::expiry::{self as renewable, Expiration, State, Summary};
use kubestrap_phases::phases::renewal::renew::{self, Outcome};
use kubestrap_phases::pki;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::workflows::renewal as workflow;

use crate::cli::{CertsArgs, CertsCmd, KubeconfigCmd, OutputFormat};
use crate::exit;
use crate::output::Printer;

/// Where a certs command takes the cluster's settings from without `--config`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Without {
    /// kubeadm's defaults.
    Defaults,
    /// The cluster's kubeadm-config (through admin.conf), else kubeadm's defaults, as
    /// kubeadm's `certs renew` and `check-expiration` do.
    ClusterThenDefaults,
}

/// The context of a certs command: the configuration file (or what `without` says) with
/// `--cert-dir` over it. `local_address`: whether the command uses this node's advertise
/// address (otherwise none is looked up, so a host without a default route works).
fn context(
    base: &Path,
    config_file: Option<&PathBuf>,
    without: Without,
    cert_dir: Option<String>,
    local_address: bool,
    printer: &Printer,
) -> Result<Context> {
    let mut docs = match config_file {
        Some(path) => config::load_file(path)?,
        None => Documents::default(),
    };
    if config_file.is_none() && without == Without::ClusterThenDefaults {
        match workflow::cluster_configuration(&Root::new(base), printer) {
            Ok(cluster) => docs.cluster = cluster,
            Err(e) => printer.status(
                "certs",
                &format!(
                    "Error reading configuration from the cluster ({e:#}); falling back to the default configuration (pass --config to use a file)"
                ),
            ),
        }
    }
    if !local_address && docs.init.local_api_endpoint.advertise_address.is_none() {
        // Neither expiry nor renewal reads it; a placeholder avoids looking for a default route.
        docs.init.local_api_endpoint.advertise_address = Some("127.0.0.1".into());
    }
    let overrides = Overrides {
        cert_dir,
        ..Overrides::default()
    };
    let root = Root::new(base);
    let host = LinuxHost;
    let cfg = config::resolve(docs, &overrides, &root, &host)?;
    Ok(Context::new(
        cfg,
        root,
        Box::new(host),
        Box::new(printer.clone()),
        Options::default(),
    ))
}

/// Runs a `certs` subcommand.
pub fn run(cmd: CertsCmd, base: &Path, printer: &Printer) -> Result<ExitCode> {
    match cmd {
        CertsCmd::CertificateKey => {
            printer.data(&pki::certificate_key()?);
            Ok(ExitCode::SUCCESS)
        }
        CertsCmd::CheckExpiration { output, files } => {
            let ctx = context(
                base,
                files.config.as_ref(),
                Without::ClusterThenDefaults,
                files.cert_dir,
                false,
                printer,
            )?;
            let summary = renewable::check_expiration(&ctx, SystemTime::now())?;
            match output {
                OutputFormat::Text => printer.raw(&table(&summary)),
                format => printer.document(
                    format,
                    &serde_json::json!({
                        "kind": "CertificateExpirationInfo",
                        "certificates": summary.certificates,
                        "certificateAuthorities": summary.certificate_authorities,
                        "kubeletClientCertificate": summary.kubelet_client,
                        "needsRenewal": summary.needs_renewal(),
                    }),
                )?,
            }
            Ok(if summary.needs_renewal() {
                ExitCode::from(exit::NEEDS_RENEWAL)
            } else {
                ExitCode::SUCCESS
            })
        }
        CertsCmd::Renew {
            names,
            restart,
            files,
        } => {
            let _lock = super::lock_root(&Root::new(base), printer)?;
            let ctx = context(
                base,
                files.config.as_ref(),
                Without::ClusterThenDefaults,
                files.cert_dir.clone(),
                false,
                printer,
            )?;
            let items = workflow::select(&ctx, &names).map_err(usage)?;
            let outcomes = workflow::renew(&ctx, &items)?;
            for (item, outcome) in &outcomes {
                match outcome {
                    Outcome::Renewed { .. } => {
                        printer.data(&format!("{} renewed", item.long_name()))
                    }
                    Outcome::Missing => printer.data(&format!("MISSING! {}", item.long_name())),
                    Outcome::ExternalCa { ca } => printer.data(&format!(
                        "Detected external {ca} CA, {} can't be renewed",
                        item.name()
                    )),
                }
            }
            let components = workflow::components_to_restart(&outcomes);
            if names.iter().any(|n| n == "all") {
                printer.data("\nDone renewing certificates.");
            }
            if components.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            if restart {
                workflow::restart(&ctx, &components)?;
                printer.data(&format!(
                    "Restarted {} with the renewed certificates.",
                    components.join(", ")
                ));
            } else {
                let (who, them) = match components.as_slice() {
                    [one] => (one.to_string(), "it"),
                    many => (many.join(", "), "them one at a time (etcd first)"),
                };
                let verb = if components.len() == 1 { "uses" } else { "use" };
                printer.data(&format!(
                    "The running {who} still {verb} the old certificates. To restart {them} and check they are healthy, run:\n\n  {}",
                    restart_command(base, &files, &components)
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        CertsCmd::Restart { components, files } => {
            let _lock = super::lock_root(&Root::new(base), printer)?;
            let ctx = context(
                base,
                files.config.as_ref(),
                Without::ClusterThenDefaults,
                files.cert_dir.clone(),
                false,
                printer,
            )?;
            let wanted: Vec<&str> = if components.is_empty() {
                restart::ORDER.to_vec()
            } else {
                let mut wanted = Vec::new();
                for c in &components {
                    let known = restart::ORDER
                        .iter()
                        .find(|k| **k == c.as_str())
                        .with_context(|| {
                            format!(
                                "unknown component {c:?}; the control-plane static pods are: {}",
                                restart::ORDER.join(", ")
                            )
                        })
                        .map_err(usage)?;
                    wanted.push(*known);
                }
                wanted
            };
            workflow::restart(&ctx, &wanted)?;
            Ok(ExitCode::SUCCESS)
        }
        CertsCmd::GenerateCsr {
            kubeconfig_dir,
            files,
        } => {
            let _lock = super::lock_root(&Root::new(base), printer)?;
            let ctx = context(
                base,
                files.config.as_ref(),
                Without::Defaults,
                files.cert_dir,
                true,
                printer,
            )?;
            for written in renew::generate_csrs(&ctx, &kubeconfig_dir)? {
                printer.status(
                    "certs",
                    &format!(
                        "Wrote a key and a CSR for {}: `{}`, `{}`",
                        written.name, written.key_or_kubeconfig, written.csr
                    ),
                );
            }
            printer.data(
                "Sign each CSR with its CA (etcd/* with etcd/ca, front-proxy-client with front-proxy-ca, the rest with ca) and save the certificate next to it with the extension .crt (for kubeconfigs: <name>.conf.crt). Then `kubestrap init` uses them, with ca.crt but no ca.key in the certificates folder.",
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A name on the command line that is not one of the valid ones: exit code 3, nothing changed.
fn usage(err: anyhow::Error) -> anyhow::Error {
    config::InvalidConfig(vec![format!("{err:#}")]).into()
}

/// The exact `certs restart` command for the components, with the flags this run had.
fn restart_command(base: &Path, files: &CertsArgs, components: &[&str]) -> String {
    let mut cmd = format!("kubestrap certs restart {}", components.join(" "));
    if base != Path::new("/") {
        cmd.push_str(&format!(" --root {}", base.display()));
    }
    if let Some(config) = &files.config {
        cmd.push_str(&format!(" --config {}", config.display()));
    }
    if let Some(dir) = &files.cert_dir {
        cmd.push_str(&format!(" --cert-dir {dir}"));
    }
    cmd
}

/// kubeadm's two tables (with a STATUS column marking what needs renewal), then the kubelet's
/// client certificate.
fn table(summary: &Summary) -> String {
    let status = |e: &Expiration| match e.state {
        State::Valid => "ok",
        State::ExpiresSoon => "RENEW SOON",
        State::Expired => "EXPIRED",
        State::Missing => "MISSING",
    };
    let expires = |e: &Expiration| {
        e.expiration_date
            .as_deref()
            .map(renewable::expires_text)
            .unwrap_or_default()
    };
    let residual = |e: &Expiration| {
        e.residual_seconds
            .map(renewable::short_duration)
            .unwrap_or_default()
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut out = format!(
        "{:<27}{:<25}{:<16}{:<24}{:<21}{}\n",
        "CERTIFICATE",
        "EXPIRES",
        "RESIDUAL TIME",
        "CERTIFICATE AUTHORITY",
        "EXTERNALLY MANAGED",
        "STATUS"
    );
    for e in &summary.certificates {
        if e.state == State::Missing {
            out.push_str(&format!("!MISSING! {}\n", e.name));
            continue;
        }
        out.push_str(&format!(
            "{:<27}{:<25}{:<16}{:<24}{:<21}{}\n",
            e.name,
            expires(e),
            residual(e),
            e.certificate_authority,
            yes_no(e.externally_managed),
            status(e)
        ));
    }
    out.push_str(&format!(
        "\n{:<24}{:<25}{:<16}{:<21}{}\n",
        "CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME", "EXTERNALLY MANAGED", "STATUS"
    ));
    for e in &summary.certificate_authorities {
        if e.state == State::Missing {
            out.push_str(&format!("!MISSING! {}\n", e.name));
            continue;
        }
        out.push_str(&format!(
            "{:<24}{:<25}{:<16}{:<21}{}\n",
            e.name,
            expires(e),
            residual(e),
            yes_no(e.externally_managed),
            status(e)
        ));
    }
    if let Some(k) = &summary.kubelet_client {
        let e = &k.expiration;
        out.push_str(&format!(
            "\n{:<28}{:<25}{:<16}{:<11}{}\n{:<28}{:<25}{:<16}{:<11}{}\n",
            "KUBELET CLIENT CERTIFICATE",
            "EXPIRES",
            "RESIDUAL TIME",
            "ROTATION",
            "STATUS",
            e.name,
            expires(e),
            residual(e),
            if k.rotation { "on" } else { "off" },
            status(e)
        ));
    }
    if summary.needs_renewal() {
        out.push_str(&format!(
            "\nRenewal needed: a certificate has expired or expires within {} days; run `kubestrap certs renew all --restart` on this node (CAs and the kubelet's certificate are not renewed by it).\n",
            renewable::RENEW_WITHIN.as_secs() / 86400
        ));
    }
    out
}

/// Runs a `kubeconfig` subcommand.
pub fn kubeconfig(cmd: KubeconfigCmd, base: &Path, printer: &Printer) -> Result<ExitCode> {
    let KubeconfigCmd::User {
        client_name,
        orgs,
        validity_period,
        token,
        config,
    } = cmd;
    let validity = config::duration::parse(&validity_period)
        .map_err(|e| config::InvalidConfig(vec![format!("--validity-period: {e:#}")]))?;
    if validity < std::time::Duration::from_secs(60) && token.is_none() {
        return Err(config::InvalidConfig(vec![format!(
            "--validity-period {validity_period}: a client certificate valid for less than a minute has expired before anyone can use it; give e.g. 24h or 8760h (a year)"
        )])
        .into());
    }
    let ctx = context(
        base,
        config.as_ref(),
        Without::Defaults,
        None,
        true,
        printer,
    )?;
    let text =
        kubeconfig_phase::user_kubeconfig(&ctx, &client_name, &orgs, validity, token.as_deref())?;
    printer.raw(&text);
    Ok(ExitCode::SUCCESS)
}
