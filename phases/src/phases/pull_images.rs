//! `config images pull`: the images of a control-plane node pulled through the CRI, one at a
//! time, each shown while it downloads.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::cri;
use crate::host::interrupt::Interrupt;
use crate::runner::report::Reporter;

/// How long one image pull may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the runtime may take to say whether it holds an image.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// Pulls every image through the runtime at `socket`. With `policy` `IfNotPresent` an image the
/// runtime holds is not pulled again; `Always` pulls each; `Never` pulls none and fails on a
/// missing one. Every image is tried; the failures are listed at the end.
pub fn pull(socket: &Path, images: &[String], policy: &str, out: &dyn Reporter) -> Result<()> {
    if !["IfNotPresent", "Always", "Never"].contains(&policy) {
        bail!(
            "unsupported image pull policy {policy:?}: set nodeRegistration.imagePullPolicy to IfNotPresent, Always or Never"
        );
    }
    let mut failed = Vec::new();
    for image in images {
        Interrupt::process().check()?;
        if policy != "Always" {
            match cri::image_present(socket, image, STATUS_TIMEOUT) {
                Ok(true) => {
                    out.status("config/images", &format!("Image {image} is present"));
                    continue;
                }
                Ok(false) if policy == "Never" => {
                    failed.push(format!("{image}: missing, and imagePullPolicy is Never"));
                    continue;
                }
                Ok(false) => {}
                Err(e @ cri::CallError::Connect(_)) => bail!(
                    "cannot reach the container runtime at `{}`: {e}\n\nhint: start it, or name its socket with --cri-socket",
                    socket.display()
                ),
                Err(e) => {
                    failed.push(format!(
                        "{image}: the runtime could not say whether it has it: {e}"
                    ));
                    continue;
                }
            }
        }
        let progress = out.progress("config/images", &format!("Pulling {image}"));
        let result = cri::pull_image(socket, image, PULL_TIMEOUT);
        progress.finish("");
        match result {
            Ok(_) => out.status("config/images", &format!("Pulled {image}")),
            Err(e) => {
                out.warn("config/images", &format!("failed to pull {image}: {e}"));
                failed.push(format!("{image}: {e}"));
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "failed to pull {} of {} images:\n  {}\n\nhint: check that this host reaches the registry (and the runtime's proxy settings), or choose one it reaches with --image-repository",
            failed.len(),
            images.len(),
            failed.join("\n  ")
        );
    }
    Ok(())
}
