//! `kubestrap token create|list|delete|generate`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use kubestrap_phases::config::token_format::Token;
use kubestrap_phases::workflows::token::{self, CreateOptions};
use serde_json::json;

use crate::cli::{OutputFormat, TokenArgs, TokenCmd};
use crate::output::Printer;

/// Runs a `token` subcommand.
pub fn run(args: TokenArgs, base: &Path, printer: &Printer) -> Result<ExitCode> {
    let dry_run = args.dry_run;
    match args.cmd {
        // Generating writes nothing anywhere: a dry run is the same.
        TokenCmd::Generate => printer.data(&Token::generate()?.to_string()),
        TokenCmd::Create {
            token,
            ttl,
            description,
            usages,
            groups,
            print_join_command,
            certificate_key,
            config,
            output,
            cluster,
        } => {
            let opts = CreateOptions {
                token,
                ttl,
                description,
                usages,
                groups,
                certificate_key,
                config,
                dry_run,
            };
            let created = token::create(base, &cluster.cluster(), opts, Box::new(printer.clone()))?;
            match output {
                OutputFormat::Text if print_join_command => printer.data(&created.join_command),
                OutputFormat::Text => printer.data(&created.token),
                format => printer.document(
                    format,
                    &json!({
                        "token": created.token,
                        "expires": created.expires,
                        "usages": created.usages,
                        "groups": created.groups,
                        "joinEndpoint": created.join_endpoint,
                        "caCertHashes": created.ca_cert_hashes,
                        "joinCommand": created.join_command,
                    }),
                )?,
            }
        }
        TokenCmd::List { output, cluster } => {
            let tokens = token::list(base, &cluster.cluster(), Box::new(printer.clone()))?;
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
            token::delete(
                base,
                &cluster.cluster(),
                &tokens,
                dry_run,
                Box::new(printer.clone()),
                &mut |id| printer.data(&format!("bootstrap token \"{id}\" deleted")),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
