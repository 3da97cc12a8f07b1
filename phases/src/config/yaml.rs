//! YAML read the way kubeadm reads it (go-yaml v2 under sigs.k8s.io/yaml), within bounds.
//!
//! - Aliases: a document whose aliases expand it past [`MAX_EXPANDED`] is refused before it is
//!   built ("billion laughs": a few KiB that expand to gigabytes), counted as it is walked so
//!   the count stops at the limit.
//! - Merge keys (`<<: *base`) are merged, the keys written beside them winning, as go-yaml does.
//! - `!!binary` scalars are base64-decoded into the text they hold, as go-yaml does.
//! - [`position`] finds a field in any style, block or flow (`{a: {b: 1}}`), from the parser's
//!   own marks.

use std::cell::Cell;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

/// How large a document may grow once its aliases are expanded: twice the largest file read
/// (1 MiB; each node counts two, plus the bytes of its text), so a file without aliases never
/// reaches it.
pub const MAX_EXPANDED: u64 = 2 << 20;

/// Why a document is refused before it is built.
const EXCESSIVE: &str = "document contains excessive aliasing";

/// The local tag `!!binary` is read as, so that the parser keeps it (`!!binary` and `!binary `
/// have the same length: columns stay right).
const BINARY_TAG: &str = "binary";

/// One YAML document as a value: checked against [`MAX_EXPANDED`], merge keys merged and
/// `!!binary` decoded.
pub fn to_value(text: &str) -> Result<Value, serde_yaml::Error> {
    check_expansion(text)?;
    let rewritten = keep_binary_tags(text);
    let mut value: Value = serde_yaml::from_str(&rewritten)?;
    // Each pass merges one level of merges that themselves carry `<<`.
    for _ in 0..64 {
        value.apply_merge()?;
        if !has_merge_key(&value) {
            break;
        }
    }
    decode_binary(&mut value)?;
    Ok(value)
}

/// Fails, at the node where the limit is crossed, when the documents of `text` with every alias
/// expanded hold more than [`MAX_EXPANDED`].
pub fn check_expansion(text: &str) -> Result<(), serde_yaml::Error> {
    for document in serde_yaml::Deserializer::from_str(text) {
        let budget = Cell::new(MAX_EXPANDED);
        Count(&budget).deserialize(document).map_err(|e| {
            // The parser's own bound on alias jumps says it in words of its own.
            if e.to_string().contains("repetition limit exceeded") {
                <serde_yaml::Error as de::Error>::custom(excessive())
            } else {
                e
            }
        })?;
    }
    Ok(())
}

fn excessive() -> String {
    format!(
        "{EXCESSIVE}: its aliases expand it past {MAX_EXPANDED} bytes (a configuration is a few KiB): write the values out instead"
    )
}

/// Walks a document without keeping it, spending the budget on every node.
#[derive(Clone, Copy)]
struct Count<'a>(&'a Cell<u64>);

impl Count<'_> {
    fn spend<E: de::Error>(self, bytes: usize) -> Result<(), E> {
        let cost = 2 + bytes as u64;
        match self.0.get().checked_sub(cost) {
            Some(left) => {
                self.0.set(left);
                Ok(())
            }
            None => Err(E::custom(excessive())),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend(0)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend(0)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend(0)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend(0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.spend(v.len())
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.spend(v.len())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend(0)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend(0)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use serde::de::VariantAccess as _;
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}

/// `!!binary` written where a node's tag goes, turned into the local tag `!binary`.
fn keep_binary_tags(text: &str) -> std::borrow::Cow<'_, str> {
    const TAG: &str = "!!binary";
    if !text.contains(TAG) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(TAG) {
        let before = rest[..i].chars().last().or(out.chars().last());
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let after = tail[TAG.len()..].chars().next();
        let starts_node = before.is_none_or(|c| c.is_whitespace() || "[{,".contains(c));
        let ends_tag = after.is_none_or(|c| c.is_whitespace() || ",]}".contains(c));
        if starts_node && ends_tag {
            out.push_str("!binary ");
        } else {
            out.push_str(TAG);
        }
        rest = &tail[TAG.len()..];
    }
    out.push_str(rest);
    out.into()
}

fn has_merge_key(value: &Value) -> bool {
    match value {
        Value::Mapping(m) => m.contains_key("<<") || m.values().any(has_merge_key),
        Value::Sequence(s) => s.iter().any(has_merge_key),
        Value::Tagged(t) => has_merge_key(&t.value),
        _ => false,
    }
}

/// Replaces each `!binary` value by the text its base64 holds.
fn decode_binary(value: &mut Value) -> Result<(), serde_yaml::Error> {
    match value {
        Value::Mapping(m) => m.values_mut().try_for_each(decode_binary),
        Value::Sequence(s) => s.iter_mut().try_for_each(decode_binary),
        Value::Tagged(t) if t.tag == BINARY_TAG => {
            let refuse = |why: &str| <serde_yaml::Error as de::Error>::custom(why);
            let Value::String(encoded) = &t.value else {
                return Err(refuse("a !!binary value must be base64 text"));
            };
            let compact: String = encoded.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| refuse(&format!("a !!binary value is not base64: {e}")))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                refuse("a !!binary value does not decode to UTF-8 text, which every field of a configuration is")
            })?;
            *value = Value::String(text);
            Ok(())
        }
        Value::Tagged(t) => decode_binary(&mut t.value),
        _ => Ok(()),
    }
}

/// 1-based (line, column) of the field at `segments` (`["apiServer", "certSANs", "0"]`) in one
/// document, in block or flow style: a key's place, or a list item's. For a document that
/// [`to_value`] accepted (its aliases are within bounds).
pub fn position(text: &str, segments: &[String]) -> Option<(usize, usize)> {
    if segments.is_empty() {
        return None;
    }
    let document = serde_yaml::Deserializer::from_str(text).next()?;
    match (Find { path: segments }).deserialize(document) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The error [`Find`] stops with where the field is: the parser marks it with its place.
const FOUND: &str = "found here";

/// Walks down a document along a path.
struct Find<'p> {
    path: &'p [String],
}

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.here()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.here()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.here()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.here()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.here()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return self.here();
        };
        let Ok(index) = first.parse::<usize>() else {
            return Ok(());
        };
        for _ in 0..index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Find { path: rest })?;
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return self.here();
        };
        while let Some(matched) = map.next_key_seed(Key {
            name: first,
            last: rest.is_empty(),
        })? {
            if matched {
                return map.next_value_seed(Find { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

impl Find<'_> {
    /// The end of the path (or a scalar where the path goes on): stop, marked by the parser.
    fn here<E: de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

/// A mapping key: whether it is the one looked for; the last one stops at its own place.
struct Key<'p> {
    name: &'p str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        if v == self.name && self.last {
            return Err(E::custom(FOUND));
        }
        Ok(v == self.name)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        super::super::locate::segments(path)
    }

    #[test]
    fn billion_laughs_is_refused_before_it_is_built() {
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            text.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 9].join(",")
            ));
        }
        let err = to_value(&text).unwrap_err().to_string();
        assert!(err.starts_with(EXCESSIVE), "{err}");
        // Wide rather than deep: one large anchor, many aliases (the parser's own bound on
        // alias jumps does not stop this one).
        let big = format!(
            "a: &a [{}]\nb: [{}]\n",
            vec!["x"; 20_000].join(","),
            vec!["*a"; 200].join(",")
        );
        let err = to_value(&big).unwrap_err();
        assert!(err.to_string().contains(EXCESSIVE), "{err}");
        assert!(err.location().is_some(), "{err}");
        // A few aliases, as a configuration uses them, are fine.
        let ok = "sans: &s [a.example, b.example]\nmore: *s\nagain: *s\n";
        assert_eq!(to_value(ok).unwrap()["again"][1], "b.example");
    }

    #[test]
    fn merge_keys_and_binary_values_read_as_go_yaml_reads_them() {
        let text = "base: &b {x: 1, y: 2}\nchain: &c {<<: *b, z: 3}\nuse:\n  <<: [*c]\n  x: 9\ntoken: !!binary YWJjZGVmLjAxMjM0NTY3ODlhYmNkZWY=\nblock: !!binary |\n  YWJj\n  ZGVm\nliteral: \"!!binary x\"\n";
        let v = to_value(text).unwrap();
        assert_eq!(v["use"]["x"], 9);
        assert_eq!(v["use"]["y"], 2);
        assert_eq!(v["use"]["z"], 3);
        assert!(v["use"].get("<<").is_none());
        assert_eq!(v["token"], "abcdef.0123456789abcdef");
        assert_eq!(v["block"], "abcdef");
        assert_eq!(v["literal"], "!!binary x");
        assert!(to_value("a: !!binary ###\n").is_err());
    }

    #[test]
    fn positions_are_found_in_flow_and_block_style() {
        let flow = "apiVersion: v1\nkind: X\napiServer: {certSANs: [a, b], extraArgs: {x: y}}\n";
        assert_eq!(position(flow, &segs("apiServer.certSANs")), Some((3, 13)));
        assert_eq!(
            position(flow, &segs("apiServer.certSANs[1]")),
            Some((3, 27))
        );
        assert_eq!(
            position(flow, &segs("apiServer.extraArgs.x")),
            Some((3, 43))
        );
        assert_eq!(position(flow, &segs("apiServer.nothing")), None);
        let block = "a:\n  - x: 1\n    y: 2\n";
        assert_eq!(position(block, &segs("a[0].y")), Some((3, 5)));
    }
}
