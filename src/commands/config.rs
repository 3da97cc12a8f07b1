//! `kubestrap config validate`, `config print init-defaults` and `config images list|pull`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use kubestrap_phases::config::{self, ApiVersion};

use std::path::Path;

use kubestrap_phases::config::{Documents, ImagesConfig};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::LinuxHost;
use kubestrap_phases::version::images;
use kubestrap_phases::workflows::{self, Reporter as _};

use crate::cli::{ConfigArgs, ConfigCmd, ImagesArgs, ImagesCmd, OutputFormat, PrintCmd};
use crate::output::Printer;

/// kubeadm's `--allow-experimental-api`: kubestrap knows no experimental API version.
const NO_EXPERIMENTAL_API: &str = "--allow-experimental-api has no effect: kubestrap reads only kubeadm.k8s.io/v1beta3 and v1beta4, which are not experimental";

/// kubeadm's `--component-configs`, refused with where the component configs are.
fn refuse_component_configs(kinds: &[String]) -> Result<()> {
    if kinds.is_empty() {
        return Ok(());
    }
    Err(config::InvalidConfig(vec![format!(
        "--component-configs {}: kubestrap prints no component-config defaults; `kubestrap init --dry-run -v` shows the KubeletConfiguration (/var/lib/kubelet/config.yaml) and KubeProxyConfiguration (ConfigMap kube-system/kube-proxy) init would write, and a KubeletConfiguration or KubeProxyConfiguration document in the --config file changes them",
        kinds.join(",")
    )])
    .into())
}

/// Runs a `config` subcommand.
pub fn run(args: ConfigArgs, base: &Path, printer: &Printer) -> Result<ExitCode> {
    if let Some(file) = &args.kubeconfig {
        return Err(config::InvalidConfig(vec![format!(
            "--kubeconfig {file}: kubestrap's config commands read files and never the cluster, so no kubeconfig is used; leave the flag out"
        )])
        .into());
    }
    match args.cmd {
        ConfigCmd::Validate {
            config: path,
            allow_experimental_api,
        } => {
            if allow_experimental_api {
                printer.warn("config", NO_EXPERIMENTAL_API);
            }
            let (problems, warnings) = config::validate_file(&path, &workflows::phase_names)?;
            for warning in &warnings {
                printer.warn("config", warning);
            }
            if problems.is_empty() {
                printer.data(&format!(
                    "ok: `{}` is a valid configuration",
                    path.display()
                ));
                return Ok(ExitCode::SUCCESS);
            }
            Err(config::InvalidConfig(problems).into())
        }
        ConfigCmd::Print(PrintCmd::InitDefaults {
            api_version,
            component_configs,
        }) => {
            refuse_component_configs(&component_configs)?;
            let text = config::print_init_defaults(api_version_arg(&api_version)?)?;
            printer.data(text.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Print(PrintCmd::JoinDefaults {
            api_version,
            component_configs,
        }) => {
            refuse_component_configs(&component_configs)?;
            let text = config::print_join_defaults(api_version_arg(&api_version)?)?;
            printer.data(text.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Print(PrintCmd::ResetDefaults) => {
            printer.data(config::print_reset_defaults()?.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Migrate {
            old_config,
            new_config,
            force,
            allow_experimental_api,
        } => {
            if allow_experimental_api {
                printer.warn("config", NO_EXPERIMENTAL_API);
            }
            let migrated = config::migrate_file(&old_config)?;
            match new_config {
                Some(path) => {
                    // A configuration file of the user's, not the host's state: no run lock.
                    let written =
                        config::write_migrated(&Root::new(base), &path, &migrated, force)?;
                    printer.status("config", &format!("wrote `{written}`"));
                }
                None => printer.raw(&migrated),
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Images(ImagesCmd::List { which, output }) => {
            let cfg = images_config(&which, base)?;
            let list = image_list(&which, &cfg);
            match output {
                OutputFormat::Text => {
                    printer.raw(&list.iter().map(|i| format!("{i}\n")).collect::<String>())
                }
                format => printer.document(
                    format,
                    &serde_json::json!({
                        "kind": "Images",
                        "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
                        "images": list,
                    }),
                )?,
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Images(ImagesCmd::Pull { which, cri_socket }) => {
            let cfg = images_config(&which, base)?;
            let list = image_list(&which, &cfg);
            workflows::images::pull(
                base,
                cri_socket.or(cfg.cri_socket.clone()),
                &list,
                &cfg.pull_policy,
                Box::new(printer.clone()),
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A control-plane node's images, or with `--worker` a joining worker's.
fn image_list(which: &ImagesArgs, cfg: &ImagesConfig) -> Vec<String> {
    if which.worker {
        images::worker(&cfg.cluster, cfg.version)
    } else {
        images::list(&cfg.cluster, cfg.version)
    }
}

/// `kubeadm.k8s.io/v1beta4`, or `v1beta4` alone.
fn api_version_arg(text: &str) -> Result<ApiVersion> {
    match ApiVersion::parse(text)
        .or_else(|| ApiVersion::parse(&format!("{}/{text}", config::GROUP)))
    {
        Some(v) => Ok(v),
        None => bail!(
            "unknown API version {text:?}; use kubeadm.k8s.io/v1beta4 or kubeadm.k8s.io/v1beta3"
        ),
    }
}

/// The configuration whose images to list or pull: the file's, or the defaults, with the flags.
fn images_config(which: &ImagesArgs, base: &Path) -> Result<ImagesConfig> {
    let mixed: Vec<&str> = [
        (which.kubernetes_version.is_some(), "kubernetes-version"),
        (which.image_repository.is_some(), "image-repository"),
    ]
    .into_iter()
    .filter_map(|(set, flag)| set.then_some(flag))
    .collect();
    super::refuse_mixed_with_config(which.config.is_some(), &mixed, "the config file")?;
    let docs = match &which.config {
        Some(path) => config::load_file(path)?,
        None => Documents::default(),
    };
    config::resolve_images(
        docs,
        which.kubernetes_version.clone(),
        which.image_repository.clone(),
        &Root::new(base),
        &LinuxHost,
    )
}
