//! A Node through the API: read, and changed by a merge patch computed from what was read,
//! read again when someone else changed it in between.

use anyhow::{Result, bail};
use serde_json::Value;

use crate::api::objects::Node;
use crate::api::{Api, MERGE_PATCH, ObjectRef};

/// Node `name`'s reference.
pub fn node_ref(name: &str) -> Result<ObjectRef> {
    ObjectRef::new("v1", "Node", None, name)
}

/// Reads a node, patches it with what `change` computes, and retries on a conflicting update.
/// Returns whether anything changed.
pub fn change_node(
    api: &Api<'_>,
    name: &str,
    change: impl Fn(&Node) -> Option<Value>,
) -> Result<bool> {
    change_node_from(api, read_node(api, name)?, change)
}

/// [`change_node`] starting from a node just read (by [`wait_for_node`]), saving a request.
pub fn change_node_from(
    api: &Api<'_>,
    mut node: Node,
    change: impl Fn(&Node) -> Option<Value>,
) -> Result<bool> {
    let name = node.metadata.name.clone();
    let target = node_ref(&name)?;
    for _ in 0..5 {
        let Some(patch) = change(&node) else {
            return Ok(false);
        };
        match api.patch(&target, MERGE_PATCH, &patch) {
            Ok(_) => return Ok(true),
            // Someone else updated the node between our GET and PATCH: read again.
            Err(e) if e.to_string().contains(": 409 ") => node = read_node(api, &name)?,
            Err(e) => return Err(e),
        }
    }
    bail!("node `{name}` kept changing while kubestrap updated it; try again")
}

fn read_node(api: &Api<'_>, name: &str) -> Result<Node> {
    match api.get::<Node>(&node_ref(name)?)? {
        Some(node) => Ok(node),
        None => bail!("node `{name}` does not exist at {}", api.endpoint()),
    }
}
