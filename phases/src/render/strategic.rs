//! Kubernetes' strategic merge patch on JSON values: maps merge key by key (`null` deletes), and
//! lists the API marks with a merge key (containers by `name`, ports by `containerPort`, …) merge
//! element by element instead of being replaced. `$patch: replace|delete|merge` and
//! `$deleteFromPrimitiveList/<field>` are understood; `$setElementOrder/<field>` and
//! `$retainKeys` only order or prune what the merge already decided, so they are passed over.

use anyhow::{Result, bail};
use serde_json::{Map, Value};

/// How a list at a path merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMerge {
    /// Elements are objects matched by this field.
    Key(&'static str),
    /// Elements are scalars; the patch's are added when missing (`finalizers`).
    Primitive,
}

/// The merge keys of a `v1.Pod`, by path of field names from the object (list indices left out).
pub fn pod_lists(path: &str) -> Option<ListMerge> {
    if let Some(spec) = path.strip_prefix("spec.") {
        return pod_spec_lists(spec);
    }
    object_meta_lists(path)
}

/// The merge keys of an `apps/v1` Deployment (its pod template included).
pub fn deployment_lists(path: &str) -> Option<ListMerge> {
    if let Some(template) = path.strip_prefix("spec.template.") {
        return pod_lists(template);
    }
    object_meta_lists(path)
}

/// Lists without merge keys anywhere (`KubeletConfiguration` is not a Kubernetes object with
/// patch strategies): every list is replaced, as kubeadm's strategic merge does for it.
pub fn no_lists(_: &str) -> Option<ListMerge> {
    None
}

fn object_meta_lists(path: &str) -> Option<ListMerge> {
    match path {
        "metadata.finalizers" => Some(ListMerge::Primitive),
        "metadata.ownerReferences" => Some(ListMerge::Key("uid")),
        _ => None,
    }
}

fn pod_spec_lists(path: &str) -> Option<ListMerge> {
    let key = match path {
        "containers" | "initContainers" | "ephemeralContainers" => "name",
        "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims" => "name",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => {
            let field = ["containers.", "initContainers.", "ephemeralContainers."]
                .iter()
                .find_map(|c| path.strip_prefix(c))?;
            match field {
                "env" => "name",
                "ports" => "containerPort",
                "volumeMounts" => "mountPath",
                "volumeDevices" => "devicePath",
                "resizePolicy" => "resourceName",
                _ => return None,
            }
        }
    };
    Some(ListMerge::Key(key))
}

/// Applies `patch` to `doc` in place; `lists` tells how the list at a path merges.
pub fn apply(doc: &mut Value, patch: &Value, lists: fn(&str) -> Option<ListMerge>) -> Result<()> {
    if !patch.is_object() {
        bail!("a strategic merge patch must be an object (a mapping), not {patch}");
    }
    merge_value(doc, patch, "", lists)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn merge_value(
    doc: &mut Value,
    patch: &Value,
    path: &str,
    lists: fn(&str) -> Option<ListMerge>,
) -> Result<()> {
    let Value::Object(patch_map) = patch else {
        *doc = patch.clone();
        return Ok(());
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch_map.clone();
            replaced.remove("$patch");
            *doc = Value::Object(replaced);
            return Ok(());
        }
        Some("delete") => {
            *doc = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => bail!(
            "`$patch: {other}` at `{}` is not a strategic merge directive (replace, delete or merge)",
            display(path)
        ),
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Value::Object(doc_map) = doc else {
        unreachable!("made an object above")
    };
    for (key, value) in patch_map {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let Value::Array(remove) = value else {
                bail!("`{key}` at `{}` must be a list", display(path));
            };
            if let Some(Value::Array(items)) = doc_map.get_mut(field) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if key.starts_with('$') {
            bail!(
                "`{key}` at `{}` is not a strategic merge directive kubestrap knows",
                display(path)
            );
        }
        let here = join(path, key);
        if value.is_null() {
            doc_map.remove(key);
            continue;
        }
        match (doc_map.get_mut(key), value) {
            (Some(Value::Array(items)), Value::Array(patch_items)) => {
                merge_list(items, patch_items, &here, lists)?;
            }
            (Some(existing), Value::Object(_)) => merge_value(existing, value, &here, lists)?,
            (None, Value::Object(_)) => {
                let mut fresh = Value::Object(Map::new());
                merge_value(&mut fresh, value, &here, lists)?;
                doc_map.insert(key.clone(), fresh);
            }
            (None, Value::Array(patch_items)) => {
                let mut items = Vec::new();
                merge_list(&mut items, patch_items, &here, lists)?;
                doc_map.insert(key.clone(), Value::Array(items));
            }
            (_, _) => {
                doc_map.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(())
}

fn merge_list(
    items: &mut Vec<Value>,
    patch_items: &[Value],
    path: &str,
    lists: fn(&str) -> Option<ListMerge>,
) -> Result<()> {
    match lists(path) {
        None => {
            // A list without a merge key is replaced; a `$patch: replace` marker is dropped.
            *items = patch_items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect();
        }
        Some(ListMerge::Primitive) => {
            for item in patch_items {
                if !items.contains(item) {
                    items.push(item.clone());
                }
            }
        }
        Some(ListMerge::Key(key)) => {
            if patch_items
                .iter()
                .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
            {
                *items = patch_items
                    .iter()
                    .filter(|i| i.get("$patch").is_none())
                    .cloned()
                    .collect();
                return Ok(());
            }
            for (n, item) in patch_items.iter().enumerate() {
                let Some(id) = item.get(key).filter(|v| !v.is_null()) else {
                    bail!(
                        "element {n} of the list `{}` has no `{key}`: this list merges by `{key}`, so every element of the patch must name one",
                        display(path)
                    );
                };
                let found = items.iter().position(|i| i.get(key) == Some(id));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (found, delete) {
                    (Some(at), true) => {
                        items.remove(at);
                    }
                    (None, true) => {}
                    (Some(at), false) => merge_value(&mut items[at], item, path, lists)?,
                    (None, false) => {
                        let mut fresh = Value::Object(Map::new());
                        merge_value(&mut fresh, item, path, lists)?;
                        items.push(fresh);
                    }
                }
            }
        }
    }
    Ok(())
}

fn display(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "p", "annotations": {"a": "1"}},
            "spec": {
                "containers": [{
                    "name": "c",
                    "command": ["x", "--a=1"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "volumeMounts": [{"mountPath": "/m", "name": "v"}],
                }],
                "volumes": [{"name": "v", "hostPath": {"path": "/h"}}],
            }
        })
    }

    #[test]
    fn keyed_lists_merge_element_by_element() {
        let mut doc = pod();
        let patch = json!({"spec": {
            "containers": [{
                "name": "c",
                "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                "volumeMounts": [{"mountPath": "/n", "name": "w"}],
                "ports": [{"containerPort": 80, "hostPort": 8080}],
            }],
            "volumes": [{"name": "w", "emptyDir": {}}],
        }});
        apply(&mut doc, &patch, pod_lists).unwrap();
        let c = &doc["spec"]["containers"][0];
        assert_eq!(
            c["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(c["command"], json!(["x", "--a=1"]));
        assert_eq!(c["volumeMounts"].as_array().unwrap().len(), 2);
        assert_eq!(
            c["ports"],
            json!([{"containerPort": 80, "name": "http", "hostPort": 8080}])
        );
        assert_eq!(doc["spec"]["volumes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn unkeyed_lists_are_replaced_and_null_deletes() {
        let mut doc = pod();
        let patch = json!({
            "metadata": {"annotations": {"a": null, "b": "2"}},
            "spec": {"containers": [{"name": "c", "command": ["y"]}]},
        });
        apply(&mut doc, &patch, pod_lists).unwrap();
        assert_eq!(doc["metadata"]["annotations"], json!({"b": "2"}));
        assert_eq!(doc["spec"]["containers"][0]["command"], json!(["y"]));
    }

    #[test]
    fn directives_delete_and_replace() {
        let mut doc = pod();
        let patch = json!({"spec": {"containers": [{
            "name": "c",
            "env": [{"name": "A", "$patch": "delete"}],
            "ports": [{"$patch": "replace"}, {"containerPort": 443}],
        }]}});
        apply(&mut doc, &patch, pod_lists).unwrap();
        let c = &doc["spec"]["containers"][0];
        assert_eq!(c["env"], json!([{"name": "B", "value": "2"}]));
        assert_eq!(c["ports"], json!([{"containerPort": 443}]));
    }

    #[test]
    fn an_element_without_its_merge_key_is_refused() {
        let mut doc = pod();
        let patch = json!({"spec": {"containers": [{"image": "x"}]}});
        let err = apply(&mut doc, &patch, pod_lists).unwrap_err().to_string();
        assert!(
            err.contains("spec.containers") && err.contains("`name`"),
            "{err}"
        );
    }

    #[test]
    fn deployments_merge_their_pod_template() {
        let mut doc = json!({"spec": {"template": pod()}});
        let patch =
            json!({"spec": {"template": {"spec": {"volumes": [{"name": "x", "emptyDir": {}}]}}}});
        apply(&mut doc, &patch, deployment_lists).unwrap();
        assert_eq!(
            doc["spec"]["template"]["spec"]["volumes"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
