//! BACKWARD compatibility between two versions of one payload schema: can a
//! reader built for the newer version read every payload the older version
//! allows? Checked structurally on the JSON Schemas, following `$ref`s into
//! each document's `$defs`. The rules (also in `schemas/README.md`):
//!
//! 1. A property the new version requires must have been required before,
//!    unless the new version gives it a `default`.
//! 2. An existing property keeps its type; a type may only widen (add
//!    `null`, or `integer` → `number`).
//! 3. Enumerations only grow: every old value stays allowed.
//! 4. Constraints only loosen: `maxLength`/`maxItems`/`maximum` not lower,
//!    `minLength`/`minItems`/`minimum` not higher, `pattern` and `format`
//!    unchanged (or removed).
//! 5. A property may be dropped only if the new version still accepts
//!    unknown properties (`additionalProperties` is not `false`), and the
//!    new version may not start refusing unknown properties.
//! 6. Each alternative (`anyOf`/`oneOf`) of the old version must be
//!    readable by some alternative of the new one.

use serde_json::{Map, Value};

/// One reason the newer version cannot read the older one's payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Where in the payload, e.g. `/shipping_address/country`.
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.reason)
    }
}

/// Empty when every payload valid under `old` is readable under `new`.
pub fn backward_compatible(old: &Value, new: &Value) -> Vec<Incompatibility> {
    let mut out = Vec::new();
    let mut walker = Walker {
        old_root: old,
        new_root: new,
        out: &mut out,
        depth: 0,
    };
    walker.compare(old, new, "");
    out
}

struct Walker<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    out: &'a mut Vec<Incompatibility>,
    /// Guards against recursive `$defs`.
    depth: usize,
}

fn resolve<'v>(root: &'v Value, schema: &'v Value) -> &'v Value {
    let mut current = schema;
    for _ in 0..16 {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return current;
        };
        match root.pointer(pointer) {
            Some(target) => current = target,
            None => return current,
        }
    }
    current
}

fn types(schema: &Value) -> Option<Vec<String>> {
    match schema.get("type")? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// The constant values a schema allows, if it is an enumeration.
fn enum_values(schema: &Value) -> Option<Vec<Value>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.clone());
    }
    if let Some(c) = schema.get("const") {
        return Some(vec![c.clone()]);
    }
    let alternatives = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))?
        .as_array()?;
    let mut values = Vec::new();
    for a in alternatives {
        values.extend(enum_values(a)?);
    }
    Some(values)
}

fn alternatives(schema: &Value) -> Option<&Vec<Value>> {
    schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))?
        .as_array()
}

impl Walker<'_> {
    fn flag(&mut self, path: &str, reason: impl Into<String>) {
        self.out.push(Incompatibility {
            path: path.to_owned(),
            reason: reason.into(),
        });
    }

    fn compare(&mut self, old: &Value, new: &Value, path: &str) {
        if self.depth > 64 {
            return;
        }
        self.depth += 1;
        let old = resolve(self.old_root, old);
        let new = resolve(self.new_root, new);
        self.compare_resolved(old, new, path);
        self.depth -= 1;
    }

    fn compare_resolved(&mut self, old: &Value, new: &Value, path: &str) {
        if new == &Value::Bool(true) || new.as_object().is_some_and(Map::is_empty) {
            return; // The new version accepts anything here.
        }
        if let (Some(old_values), Some(new_values)) = (enum_values(old), enum_values(new)) {
            for v in old_values {
                if !new_values.contains(&v) {
                    self.flag(path, format!("enum value {v} was removed"));
                }
            }
            return;
        }
        if let Some(old_alts) = alternatives(old) {
            for alt in old_alts {
                self.compare_with_some(alt, new, path);
            }
            return;
        }
        if alternatives(new).is_some() {
            self.compare_with_some(old, new, path);
            return;
        }
        self.compare_types(old, new, path);
        self.compare_constraints(old, new, path);
        self.compare_objects(old, new, path);
        if let (Some(old_items), Some(new_items)) = (old.get("items"), new.get("items")) {
            self.compare(old_items, new_items, &format!("{path}/[]"));
        }
    }

    /// `old` must be readable by at least one alternative of `new`.
    fn compare_with_some(&mut self, old: &Value, new: &Value, path: &str) {
        let candidates: Vec<&Value> = match alternatives(new) {
            Some(alts) => alts.iter().collect(),
            None => vec![new],
        };
        let mut best: Option<Vec<Incompatibility>> = None;
        for candidate in candidates {
            let mut found = Vec::new();
            let mut w = Walker {
                old_root: self.old_root,
                new_root: self.new_root,
                out: &mut found,
                depth: self.depth,
            };
            w.compare(old, candidate, path);
            if found.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                best = Some(found);
            }
        }
        self.out.extend(best.unwrap_or_default());
    }

    fn compare_types(&mut self, old: &Value, new: &Value, path: &str) {
        let (Some(old_types), Some(new_types)) = (types(old), types(new)) else {
            return;
        };
        for t in &old_types {
            let widened = t == "integer" && new_types.iter().any(|n| n == "number");
            if !new_types.contains(t) && !widened {
                self.flag(
                    path,
                    format!("type {t} is no longer accepted (now {new_types:?})"),
                );
            }
        }
    }

    fn compare_constraints(&mut self, old: &Value, new: &Value, path: &str) {
        let num = |s: &Value, k: &str| s.get(k).and_then(Value::as_f64);
        for key in [
            "maxLength",
            "maxItems",
            "maximum",
            "exclusiveMaximum",
            "maxProperties",
        ] {
            if let Some(n) = num(new, key)
                && num(old, key).is_none_or(|o| n < o)
            {
                self.flag(path, format!("{key} tightened to {n}"));
            }
        }
        for key in [
            "minLength",
            "minItems",
            "minimum",
            "exclusiveMinimum",
            "minProperties",
        ] {
            if let Some(n) = num(new, key)
                && num(old, key).is_none_or(|o| n > o)
            {
                self.flag(path, format!("{key} tightened to {n}"));
            }
        }
        for key in ["pattern", "format"] {
            if let Some(n) = new.get(key)
                && old.get(key) != Some(n)
            {
                self.flag(path, format!("{key} changed to {n}"));
            }
        }
    }

    fn compare_objects(&mut self, old: &Value, new: &Value, path: &str) {
        let empty = Map::new();
        let old_props = old
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let new_props = new
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required = |s: &Value| -> Vec<String> {
            s.get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (old_required, new_required) = (required(old), required(new));
        for name in &new_required {
            let has_default = new_props
                .get(name)
                .map(|p| resolve(self.new_root, p))
                .is_some_and(|p| p.get("default").is_some());
            if !old_required.contains(name) && !has_default {
                self.flag(
                    &format!("{path}/{name}"),
                    "became required without a default (older payloads may lack it)",
                );
            }
        }
        let closed = |s: &Value| s.get("additionalProperties") == Some(&Value::Bool(false));
        if closed(new) && !closed(old) {
            self.flag(path, "now refuses unknown properties");
        }
        for (name, old_prop) in old_props {
            match new_props.get(name) {
                Some(new_prop) => self.compare(old_prop, new_prop, &format!("{path}/{name}")),
                None if closed(new) => self.flag(
                    &format!("{path}/{name}"),
                    "was removed and unknown properties are refused",
                ),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::backward_compatible;

    fn reasons(old: serde_json::Value, new: serde_json::Value) -> Vec<String> {
        backward_compatible(&old, &new)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn optional_or_defaulted_additions_are_compatible() {
        let old = json!({ "type": "object", "properties": { "a": { "type": "string" } }, "required": ["a"] });
        let new = json!({ "type": "object",
            "properties": { "a": { "type": "string" }, "b": { "type": "string" },
                            "c": { "type": "string", "default": "web" } },
            "required": ["a", "c"] });
        assert!(reasons(old, new).is_empty());
    }

    #[test]
    fn new_required_fields_type_changes_and_shrinking_enums_are_not() {
        let old = json!({ "type": "object",
            "properties": { "a": { "type": "string" }, "s": { "enum": ["x", "y"] } },
            "required": ["a"] });
        let new = json!({ "type": "object",
            "properties": { "a": { "type": "integer" }, "s": { "enum": ["x"] }, "n": { "type": "string" } },
            "required": ["a", "n"] });
        let r = reasons(old, new);
        assert!(r.iter().any(|m| m.starts_with("/a: type string")), "{r:?}");
        assert!(
            r.iter().any(|m| m.starts_with("/s: enum value \"y\"")),
            "{r:?}"
        );
        assert!(
            r.iter().any(|m| m.starts_with("/n: became required")),
            "{r:?}"
        );
    }

    #[test]
    fn refs_are_followed_and_nullable_widening_is_fine() {
        let old = json!({ "type": "object", "properties": { "m": { "$ref": "#/$defs/M" } },
            "$defs": { "M": { "type": "object", "properties": { "x": { "type": "integer", "maxLength": 5 } } } } });
        let new = json!({ "type": "object", "properties": { "m": { "$ref": "#/$defs/M" } },
            "$defs": { "M": { "type": "object", "properties": { "x": { "type": ["number", "null"] } } } } });
        assert!(reasons(old.clone(), new).is_empty());
        let narrowed = json!({ "type": "object", "properties": { "m": { "$ref": "#/$defs/M" } },
            "$defs": { "M": { "type": "object", "properties": { "x": { "type": "integer", "maxLength": 3 } } } } });
        let r = reasons(old, narrowed);
        assert_eq!(r, vec!["/m/x: maxLength tightened to 3"]);
    }

    #[test]
    fn each_old_alternative_needs_a_new_home() {
        let old = json!({ "anyOf": [{ "type": "string" }, { "type": "null" }] });
        let new = json!({ "type": "string" });
        assert_eq!(reasons(old, new).len(), 1);
    }
}
