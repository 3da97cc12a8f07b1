//! `config images pull`: a configuration's images pulled through the container runtime.

use std::path::Path;

use anyhow::Result;

use crate::config;
use crate::fs::root::Root;
use crate::phases::pull_images;
use crate::runner::report::Reporter;

/// Pulls `images` through the runtime at `cri_socket` (detected under `base` when `None`),
/// following the image pull `policy`.
pub fn pull(
    base: &Path,
    cri_socket: Option<String>,
    images: &[String],
    policy: &str,
    out: Box<dyn Reporter>,
) -> Result<()> {
    let root = Root::new(base);
    let socket = match cri_socket {
        Some(s) => s,
        None => config::detect_cri_socket(&root)?,
    };
    let path = root.physical(socket.strip_prefix("unix://").unwrap_or(&socket))?;
    pull_images::pull(Path::new(&path), images, policy, out.as_ref())
}
