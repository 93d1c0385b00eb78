//! What the code says the registry must hold.

use orderflow_domain::{OrderEvent, UPCASTERS, current_schema_version, payload_schema};
use serde_json::{Value, json};

use crate::examples::example_payloads;

/// One event type at one version, as the code generates it.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeSchema {
    pub event_type: String,
    pub version: u32,
    /// The full schema document, with `$id`, title, description, examples.
    pub schema: Value,
}

/// Every schema the code knows, and the upcasters it has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeRegistry {
    pub schemas: Vec<CodeSchema>,
    /// `(event type, from version)`: the code turns that version into the
    /// next one on read, so it need not be compatible with later ones.
    pub upcasters: Vec<(String, u32)>,
}

impl CodeRegistry {
    /// The order events of `orderflow-domain`.
    pub fn from_domain() -> CodeRegistry {
        let examples = example_payloads();
        let mut schemas = Vec::new();
        for event_type in OrderEvent::EVENT_TYPES {
            let Some(version) = current_schema_version(event_type) else {
                continue;
            };
            for v in 1..=version {
                let Some(schema) = payload_schema(event_type, v) else {
                    continue;
                };
                let mut schema = schema.to_value();
                let sample: Vec<Value> = examples
                    .iter()
                    .filter(|(t, ver, _)| t == event_type && *ver == v)
                    .map(|(_, _, p)| p.clone())
                    .collect();
                decorate(&mut schema, event_type, v, sample);
                schemas.push(CodeSchema {
                    event_type: (*event_type).to_owned(),
                    version: v,
                    schema,
                });
            }
        }
        let upcasters = UPCASTERS
            .iter()
            .map(|u| (u.event_type.to_owned(), u.from_version))
            .collect();
        CodeRegistry { schemas, upcasters }
    }

    pub fn get(&self, event_type: &str, version: u32) -> Option<&CodeSchema> {
        self.schemas
            .iter()
            .find(|s| s.event_type == event_type && s.version == version)
    }

    pub fn has_upcaster(&self, event_type: &str, from: u32) -> bool {
        self.upcasters
            .iter()
            .any(|(t, v)| t == event_type && *v == from)
    }
}

/// The stable identifier of a schema version.
pub fn schema_id(event_type: &str, version: u32) -> String {
    format!("urn:orderflow:schema:order:{event_type}:v{version}")
}

fn decorate(schema: &mut Value, event_type: &str, version: u32, examples: Vec<Value>) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let description = obj
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Payload of the {event_type} event."));
    // Identity first, so a reader of the file sees what it is at a glance.
    let mut ordered = serde_json::Map::new();
    ordered.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    ordered.insert("$id".into(), json!(schema_id(event_type, version)));
    ordered.insert("title".into(), json!(format!("{event_type} v{version}")));
    ordered.insert(
        "description".into(),
        json!(format!(
            "{description} Stored with event_type \"{event_type}\" and schema_version {version}; \
             published on NATS subject orderflow.events.order.{event_type}."
        )),
    );
    for (k, v) in std::mem::take(obj) {
        ordered.entry(k).or_insert(v);
    }
    *obj = ordered;
    if !examples.is_empty() {
        obj.insert("examples".into(), Value::Array(examples));
    }
}
