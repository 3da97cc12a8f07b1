//! `kubestrap certs check-expiration|renew|restart|generate-csr|certificate-key` and
//! `kubestrap kubeconfig user`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use kubestrap_phases::pki;
use kubestrap_phases::workflows::renewal::{
    self, CertsOptions, Expiration, Outcome, RenewOptions, RestartOptions, State, Summary,
};
use kubestrap_phases::workflows::user_kubeconfig::{self, UserKubeconfigOptions};

use crate::cli::{CertsArgs, CertsCmd, KubeconfigCmd, OutputFormat};
use crate::exit;
use crate::output::Printer;

/// Where the certificates and the configuration of a certs command are.
fn certs_options(base: &Path, files: &CertsArgs) -> CertsOptions {
    CertsOptions {
        base: base.to_path_buf(),
        config: files.config.clone(),
        cert_dir: files.cert_dir.clone(),
        kubeconfig: files.kubeconfig.clone(),
        timeout: files.timeout,
    }
}

/// kubeadm's output API group and version for `check-expiration -o json|yaml`.
const EXPIRATION_API_VERSION: &str = "output.kubeadm.k8s.io/v1alpha3";

/// Runs a `certs` subcommand.
pub fn run(cmd: CertsCmd, base: &Path, printer: &Printer) -> Result<ExitCode> {
    match cmd {
        CertsCmd::CertificateKey => {
            printer.data(&pki::certificate_key()?);
            Ok(ExitCode::SUCCESS)
        }
        CertsCmd::CheckExpiration { output, files } => {
            let summary =
                renewal::check_expiration(&certs_options(base, &files), Box::new(printer.clone()))?;
            match output {
                OutputFormat::Text => printer.raw(&table(&summary)),
                format => printer.document(
                    format,
                    &serde_json::json!({
                        "apiVersion": EXPIRATION_API_VERSION,
                        "kind": "CertificateExpirationInfo",
                        "certificates": summary.certificates,
                        "certificateAuthorities": summary.certificate_authorities,
                        "kubeletClientCertificate": summary.kubelet_client,
                        "needsRenewal": summary.needs_renewal(),
                        "missing": summary.missing(),
                    }),
                )?,
            }
            // A monitoring check must not pass on a node that lacks its certificates.
            Ok(
                if summary.needs_renewal() || !summary.missing().is_empty() {
                    ExitCode::from(exit::NEEDS_RENEWAL)
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
        CertsCmd::Renew {
            names,
            restart,
            files,
        } => {
            let opts = RenewOptions {
                certs: certs_options(base, &files),
                names: names.clone(),
                command_line: super::command_line(),
            };
            let renewed = renewal::run(opts, Box::new(printer.clone()))?;
            for (item, outcome) in &renewed.outcomes {
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
            let components = &renewed.components;
            if names.iter().any(|n| n == "all") {
                printer.data("\nDone renewing certificates.");
            }
            if components.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            if restart {
                renewed.restart()?;
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
                    restart_command(base, &files, components)
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        CertsCmd::Restart { components, files } => {
            let opts = RestartOptions {
                certs: certs_options(base, &files),
                components,
                command_line: super::command_line(),
            };
            renewal::restart(opts, Box::new(printer.clone()))?;
            Ok(ExitCode::SUCCESS)
        }
        CertsCmd::GenerateCsr {
            kubeconfig_dir,
            files,
        } => {
            let written = renewal::generate_csrs(
                &certs_options(base, &files),
                &kubeconfig_dir,
                &super::command_line(),
                Box::new(printer.clone()),
            )?;
            for written in written {
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
            .map(renewal::expires_text)
            .unwrap_or_default()
    };
    let residual = |e: &Expiration| {
        e.residual_seconds
            .map(renewal::short_duration)
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
    {
        let k = &summary.kubelet_client;
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
            renewal::RENEW_WITHIN.as_secs() / 86400
        ));
    }
    let missing = summary.missing();
    if !missing.is_empty() {
        out.push_str(&format!(
            "\nMissing: {}. `kubestrap init phase certs all` and `kubestrap init phase kubeconfig all` write the cluster's (with the configuration init used); the kubelet's comes from its TLS bootstrap.\n",
            missing.join(", ")
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
    let opts = UserKubeconfigOptions {
        base: base.to_path_buf(),
        config,
        client_name,
        orgs,
        validity_period,
        token,
    };
    printer.raw(&user_kubeconfig::run(opts, Box::new(printer.clone()))?);
    Ok(ExitCode::SUCCESS)
}
