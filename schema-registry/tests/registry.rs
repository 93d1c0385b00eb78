//! Each way `schemas check` can fail, on a registry built in a temporary
//! folder; and the committed `schemas/` folder is current.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use orderflow_schema_registry::{CodeRegistry, CodeSchema, check, export};
use serde_json::{Value, json};

fn exported(code: &CodeRegistry) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), code).unwrap();
    dir
}

fn messages(dir: &Path, code: &CodeRegistry) -> Vec<String> {
    check(dir, code)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn schema(props: Value, required: &[&str]) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object", "properties": props, "required": required,
        "examples": [ { "order_id": "o-1" } ]
    })
}

/// A code registry with `Thing` v1 and v2.
fn two_versions(v2: Value, upcaster: bool) -> CodeRegistry {
    let v1 = schema(json!({ "order_id": { "type": "string" } }), &["order_id"]);
    CodeRegistry {
        schemas: vec![
            CodeSchema {
                event_type: "Thing".into(),
                version: 1,
                schema: v1,
            },
            CodeSchema {
                event_type: "Thing".into(),
                version: 2,
                schema: v2,
            },
        ],
        upcasters: if upcaster {
            vec![("Thing".into(), 1)]
        } else {
            vec![]
        },
    }
}

/// Every stored event type, by the stream category that holds it, with
/// its newest schema version; taken from the domain, not from the
/// registry's own list, so a type the registry leaves out fails below.
fn domain_event_types() -> Vec<(&'static str, &'static str, u32)> {
    use orderflow_domain::{fulfilment, inventory};
    let mut out = Vec::new();
    for t in orderflow_domain::OrderEvent::EVENT_TYPES {
        let v = orderflow_domain::current_schema_version(t).unwrap();
        out.push(("order", *t, v));
    }
    for t in inventory::EVENT_TYPES {
        out.push(("product", *t, inventory::current_schema_version(t).unwrap()));
    }
    for t in fulfilment::FULFILMENT_EVENT_TYPES {
        let v = fulfilment::current_schema_version(t).unwrap();
        out.push(("fulfilment", *t, v));
    }
    out
}

/// `(category, event type, newest version)` of a stored event type.
fn stream_of(event_type: &str) -> (&'static str, &'static str, u32) {
    domain_event_types()
        .into_iter()
        .find(|(_, t, _)| *t == event_type)
        .unwrap_or_else(|| panic!("{event_type} is no event type of the domain"))
}

#[test]
fn every_event_type_of_every_stream_is_in_the_committed_registry() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let code = CodeRegistry::from_domain();
    let types = domain_event_types();
    for category in ["order", "product", "fulfilment"] {
        assert!(types.iter().any(|(c, _, _)| *c == category), "{category}");
    }
    for (category, event_type, newest) in types {
        for v in 1..=newest {
            assert!(
                code.get(event_type, v).is_some(),
                "the registry's code has no {event_type} v{v}"
            );
            let path = dir.join(format!("{event_type}/v{v}.json"));
            let text = fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{}: {e}; run `cargo run -- schemas export`", path.display())
            });
            let schema: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                schema["$id"],
                format!("urn:orderflow:schema:{category}:{event_type}:v{v}")
            );
        }
    }
    // And nothing else: every committed folder is a domain event type.
    for entry in fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name().into_string().unwrap();
            stream_of(&name);
        }
    }
}

#[test]
fn the_committed_registry_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let findings = messages(&dir, &CodeRegistry::from_domain());
    assert!(
        findings.is_empty(),
        "run `cargo run -- schemas export`:\n{}",
        findings.join("\n")
    );
}

#[test]
fn an_export_passes_and_a_second_export_writes_nothing() {
    let code = CodeRegistry::from_domain();
    let dir = exported(&code);
    assert!(messages(dir.path(), &code).is_empty());
    assert!(export(dir.path(), &code).unwrap().is_empty());
    assert!(dir.path().join("OrderCreated/v1.json").exists());
    assert!(dir.path().join("asyncapi.yaml").exists());
}

#[test]
fn a_version_missing_from_the_registry_is_reported() {
    let code = CodeRegistry::from_domain();
    let dir = exported(&code);
    fs::remove_file(dir.path().join("ItemAdded/v1.json")).unwrap();
    let m = messages(dir.path(), &code);
    assert!(
        m.iter()
            .any(|m| m.starts_with("ItemAdded/v1.json: missing")),
        "{m:?}"
    );
}

#[test]
fn a_changed_committed_file_is_reported() {
    let code = CodeRegistry::from_domain();
    let dir = exported(&code);
    let path = dir.path().join("OrderShipped/v1.json");
    let mut s: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    s["properties"]["carrier"]["maxLength"] = json!(3);
    fs::write(&path, serde_json::to_string_pretty(&s).unwrap()).unwrap();
    let m = messages(dir.path(), &code);
    assert!(
        m.iter()
            .any(|m| m.starts_with("OrderShipped/v1.json: differs from what the code generates")),
        "{m:?}"
    );
}

#[test]
fn a_version_the_code_does_not_know_is_reported() {
    let code = CodeRegistry::from_domain();
    let dir = exported(&code);
    let v1 = fs::read_to_string(dir.path().join("OrderConfirmed/v1.json")).unwrap();
    fs::write(dir.path().join("OrderConfirmed/v9.json"), v1).unwrap();
    let m = messages(dir.path(), &code);
    assert!(
        m.iter()
            .any(|m| m.starts_with("OrderConfirmed/v9.json: the code does not know")),
        "{m:?}"
    );
}

#[test]
fn an_incompatible_version_needs_an_upcaster() {
    let v2 = schema(
        json!({ "order_id": { "type": "integer" }, "channel": { "enum": ["web", "api"] } }),
        &["order_id", "channel"],
    );
    let without = two_versions(v2.clone(), false);
    let dir = exported(&without);
    // The example of v2 is made to fit v2 so only compatibility is at stake.
    let m = messages(dir.path(), &without)
        .into_iter()
        .filter(|m| !m.contains("example"))
        .collect::<Vec<_>>();
    assert!(
        m.iter().any(
            |m| m.contains("Thing/v2.json: not backward compatible with v1")
                && m.contains("/order_id: type string")
        ),
        "{m:?}"
    );
    assert!(
        m.iter().any(|m| m.contains("/channel: became required")),
        "{m:?}"
    );

    let with = two_versions(v2, true);
    let m = messages(dir.path(), &with);
    assert!(
        !m.iter().any(|m| m.contains("not backward compatible")),
        "an upcaster covers it: {m:?}"
    );
}

#[test]
fn a_compatible_version_needs_no_upcaster() {
    let mut v2 = schema(
        json!({ "order_id": { "type": "string" }, "channel": { "enum": ["web", "unknown"], "default": "unknown" } }),
        &["order_id", "channel"],
    );
    v2["examples"] = json!([{ "order_id": "o-1", "channel": "web" }]);
    let code = two_versions(v2, false);
    let dir = exported(&code);
    assert!(messages(dir.path(), &code).is_empty());
}

#[test]
fn a_stale_asyncapi_document_is_reported() {
    let code = CodeRegistry::from_domain();
    let dir = exported(&code);
    fs::write(dir.path().join("asyncapi.yaml"), "asyncapi: 3.0.0\n").unwrap();
    let m = messages(dir.path(), &code);
    assert_eq!(
        m,
        vec!["asyncapi.yaml: stale: it does not match the schemas; run `orderflow schemas export`"]
    );
}

#[test]
fn examples_that_do_not_validate_are_reported() {
    let v2 = schema(json!({ "order_id": { "type": "integer" } }), &["order_id"]);
    let code = two_versions(v2, true);
    let dir = exported(&code);
    let m = messages(dir.path(), &code);
    assert!(
        m.iter()
            .any(|m| m.starts_with("Thing/v2.json: example 0 does not validate")),
        "{m:?}"
    );
}

#[test]
fn every_domain_schema_carries_valid_examples_of_its_own_version() {
    for s in CodeRegistry::from_domain().schemas {
        let examples = s.schema["examples"]
            .as_array()
            .unwrap_or_else(|| panic!("{} has no examples", s.event_type));
        let validator = jsonschema::validator_for(&s.schema).unwrap();
        for e in examples {
            assert!(
                validator.is_valid(e),
                "{} v{}: {e}",
                s.event_type,
                s.version
            );
        }
        let (category, _, _) = stream_of(&s.event_type);
        assert_eq!(
            s.schema["$id"],
            format!(
                "urn:orderflow:schema:{category}:{}:v{}",
                s.event_type, s.version
            )
        );
        assert!(
            s.schema["description"]
                .as_str()
                .unwrap()
                .contains(&format!("orderflow.events.{category}.{}", s.event_type)),
            "{}",
            s.schema["description"]
        );
        assert!(s.schema["title"].is_string() && s.schema["description"].is_string());
    }
}

#[test]
fn order_created_v2_is_accepted_only_because_of_its_upcaster() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let code = CodeRegistry::from_domain();
    assert!(code.has_upcaster("OrderCreated", 1), "{:?}", code.upcasters);
    assert!(code.get("OrderCreated", 1).is_some() && code.get("OrderCreated", 2).is_some());
    // The committed v1 file still validates its own example, and v2 its own.
    for v in [1, 2] {
        let text = fs::read_to_string(dir.join(format!("OrderCreated/v{v}.json"))).unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for e in schema["examples"].as_array().unwrap() {
            assert!(validator.is_valid(e), "v{v}: {e}");
        }
    }
    // The same code without the domain's upcasters: v2 requires `channel`,
    // which v1 payloads lack, so check refuses it.
    let without = CodeRegistry {
        upcasters: Vec::new(),
        ..code
    };
    let m = messages(&dir, &without);
    assert!(
        m.iter().any(|m| m.starts_with(
            "OrderCreated/v2.json: not backward compatible with v1 and no upcaster from v1"
        ) && m.contains("/channel: became required")),
        "{m:?}"
    );
    assert!(
        m.iter().all(|m| m.starts_with("OrderCreated/v2.json")),
        "only OrderCreated v2 is at stake: {m:?}"
    );
}
