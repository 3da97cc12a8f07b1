//! `kubestrap token create|list|delete|generate`.

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use kubestrap_phases::api::http::{Credentials, HttpTransport};
use kubestrap_phases::api::{Client, Retry};
use kubestrap_phases::config::net;
use kubestrap_phases::config::token_format::{self, Token};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::phases::bootstrap as show_join;
use kubestrap_phases::phases::bootstrap::token::{self as bt, Spec};
use kubestrap_phases::phases::certs::download as download_certs;
use kubestrap_phases::phases::certs::upload as upload_certs;
use kubestrap_phases::pki;
use serde_json::json;

use crate::cli::{OutputFormat, TokenCmd};
use crate::output::Printer;

/// A client for the cluster of a kubeconfig under the root.
pub fn client(base: &Path, kubeconfig: &str) -> Result<(Root, Client)> {
    let root = Root::new(base);
    let transport = HttpTransport::from_kubeconfig(&root, kubeconfig)?;
    Ok((root, Client::new(Box::new(transport), Retry::default())))
}

/// Runs a `token` subcommand.
pub fn run(cmd: TokenCmd, base: &Path, printer: &Printer) -> Result<ExitCode> {
    match cmd {
        TokenCmd::Generate => printer.data(&Token::generate()?.to_string()),
        TokenCmd::Create {
            token,
            ttl,
            description,
            usages,
            groups,
            print_join_command,
            certificate_key,
            output,
            cluster,
        } => {
            // Every input is checked before the cluster is asked (exit code 3, nothing changed).
            let token = match token {
                Some(t) => Token::parse(&t).map_err(invalid)?,
                None => Token::generate()?,
            };
            let ttl_d = kubestrap_phases::config::duration::parse(&ttl)
                .map_err(|e| invalid(e.context("--ttl")))?;
            token_format::validate(&usages, &groups).map_err(invalid)?;
            let spec = Spec {
                token: token.clone(),
                description,
                expires: bt::expiry(SystemTime::now(), ttl_d)
                    .map_err(|e| invalid(e.context("--ttl")))?,
                usages,
                groups,
            };
            let key = certificate_key
                .as_deref()
                .map(|k| {
                    pki::CertificateKey::parse(k)
                        .map_err(|e| invalid(e.context("--certificate-key")))
                })
                .transpose()?;
            let kubeconfig = cluster.kubeconfig();
            let (root, client) = client(base, &kubeconfig)?;
            if let Some(key) = &key {
                check_certificate_key(&client.with(printer), key, printer)?;
            }
            bt::create(&client.with(printer), &spec)?;
            let creds = Credentials::load(&root, &kubeconfig)?;
            let hashes = pki::ca_cert_hashes(&creds.ca_pem)?;
            let endpoint = net::url_host_port(&creds.server);
            let join = show_join::one_line(&show_join::join_command(
                &endpoint,
                &token.to_string(),
                &hashes,
                certificate_key.as_deref().map(Some),
            ));
            match output {
                OutputFormat::Text if print_join_command => printer.data(&join),
                OutputFormat::Text => printer.data(&token.to_string()),
                format => printer.document(
                    format,
                    &json!({
                        "token": token.to_string(),
                        "expires": spec.expires,
                        "usages": spec.usages,
                        "groups": spec.groups,
                        "joinEndpoint": endpoint,
                        "caCertHashes": hashes,
                        "joinCommand": join,
                    }),
                )?,
            }
        }
        TokenCmd::List { output, cluster } => {
            let (_, client) = client(base, &cluster.kubeconfig())?;
            let tokens = bt::list(&client.with(printer), SystemTime::now())?;
            match output {
                OutputFormat::Text => {
                    printer.data(&format!(
                        "{:<24}{:<10}{:<22}{:<28}{:<58}{}",
                        "TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"
                    ));
                    for t in tokens {
                        printer.data(&format!(
                            "{:<24}{:<10}{:<22}{:<28}{:<58}{}",
                            t.token,
                            t.ttl,
                            t.expires.as_deref().unwrap_or("<never>"),
                            t.usages.join(","),
                            if t.description.is_empty() {
                                "<none>"
                            } else {
                                &t.description
                            },
                            t.extra_groups.join(",")
                        ));
                    }
                }
                format => printer.document(
                    format,
                    &serde_json::to_value(&tokens).context("failed to encode the tokens")?,
                )?,
            }
        }
        TokenCmd::Delete { tokens, cluster } => {
            if let Some(bad) = tokens
                .iter()
                .find(|t| !token_format::is_id(t) && !token_format::is_token(t))
            {
                return Err(invalid(anyhow::anyhow!(
                    "{bad:?} is neither a bootstrap token ID ([a-z0-9]{{6}}) nor a token ([a-z0-9]{{6}}.[a-z0-9]{{16}})\n\nhint: `kubestrap token list` shows the tokens"
                )));
            }
            let (_, client) = client(base, &cluster.kubeconfig())?;
            let api = client.with(printer);
            for t in tokens {
                let id = bt::delete(&api, &t)?;
                printer.data(&format!("bootstrap token \"{id}\" deleted"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A key that cannot open the uploaded certificates would only fail on the joining node: refuse
/// it here. Without the Secret (expired), warn: the key may be uploaded again with it.
fn check_certificate_key(
    api: &kubestrap_phases::api::Api<'_>,
    key: &pki::CertificateKey,
    printer: &Printer,
) -> Result<()> {
    match download_certs::key_opens(api, key)? {
        Some(true) => Ok(()),
        Some(false) => Err(invalid(anyhow::anyhow!(
            "the certificate key does not open the kubeadm-certs Secret: a control-plane join with it would fail\n\nhint: pass the key `{0}` printed, or upload the certificates again under your key: `{0} --certificate-key <key>`",
            upload_certs::REUPLOAD
        ))),
        None => {
            kubestrap_phases::runner::report::Reporter::warn(
                printer,
                "token",
                &format!(
                    "the kubeadm-certs Secret is not in the cluster (it is deleted two hours after an upload): run `{} --certificate-key <key>` on a control-plane node before joining with this command",
                    upload_certs::REUPLOAD
                ),
            );
            Ok(())
        }
    }
}

/// Bad input to a token command: the exit code of an invalid configuration.
fn invalid(e: anyhow::Error) -> anyhow::Error {
    kubestrap_phases::config::InvalidConfig(vec![format!("{e:#}")]).into()
}
