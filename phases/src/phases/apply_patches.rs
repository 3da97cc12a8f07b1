//! Applying the run's patches (`--patches`, `patches.directory`) to what a phase is about to
//! write, with kubeadm's `[patches]` lines.

use anyhow::Result;
use serde_json::Value;

use crate::render::patches::Target;
use crate::runner::context::Context;

fn say(ctx: &Context, target: Target) -> impl FnMut(crate::render::patches::PatchType) + '_ {
    move |kind| {
        ctx.out.status(
            "patches",
            &format!(
                "Applied patch of type \"{}\" to target \"{}\"",
                kind.media_type(),
                target.name()
            ),
        )
    }
}

/// The YAML document patched for `target` (unchanged without patches for it).
pub fn yaml(ctx: &Context, target: Target, text: &str) -> Result<String> {
    match &ctx.cfg.patches {
        Some(set) => set.apply_yaml(target, text, &mut say(ctx, target)),
        None => Ok(text.to_string()),
    }
}

/// An object patched in place for `target`.
pub fn value(ctx: &Context, target: Target, object: &mut Value) -> Result<()> {
    match &ctx.cfg.patches {
        Some(set) => set.apply_value(target, object, &mut say(ctx, target)),
        None => Ok(()),
    }
}
