//! What the code says the registry must hold.

use orderflow_domain::fulfilment::{self, FULFILMENT_CATEGORY, FULFILMENT_EVENT_TYPES};
use orderflow_domain::{ORDER_CATEGORY, OrderEvent, PRODUCT_CATEGORY, UPCASTERS, inventory};
use schemars::Schema;
use serde_json::{Value, json};

use crate::examples::example_payloads;

/// The event types of one aggregate, with what the registry needs of them.
struct Aggregate {
    /// Stream category, also the NATS subject's category token.
    category: &'static str,
    event_types: &'static [&'static str],
    current_version: fn(&str) -> Option<u32>,
    schema: fn(&str, u32) -> Option<Schema>,
}

/// Every aggregate whose events are stored (the fulfilment process
/// manager's instances too: their streams are published like the others). Event type names are unique
/// across them (the registry's folders are named by type alone).
const AGGREGATES: &[Aggregate] = &[
    Aggregate {
        category: ORDER_CATEGORY,
        event_types: OrderEvent::EVENT_TYPES,
        current_version: orderflow_domain::current_schema_version,
        schema: orderflow_domain::payload_schema,
    },
    Aggregate {
        category: PRODUCT_CATEGORY,
        event_types: inventory::EVENT_TYPES,
        current_version: inventory::current_schema_version,
        schema: inventory::payload_schema,
    },
    Aggregate {
        category: FULFILMENT_CATEGORY,
        event_types: FULFILMENT_EVENT_TYPES,
        current_version: fulfilment::current_schema_version,
        schema: fulfilment::payload_schema,
    },
];

/// One event type at one version, as the code generates it.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeSchema {
    pub event_type: String,
    pub version: u32,
    /// The full schema document, with `$id` (which names the stream
    /// category), title, description, examples.
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
    /// The events of every aggregate of `orderflow-domain` (orders, stock,
    /// fulfilment instances).
    pub fn from_domain() -> CodeRegistry {
        let examples = example_payloads();
        let mut schemas = Vec::new();
        for aggregate in AGGREGATES {
            for event_type in aggregate.event_types {
                let Some(version) = (aggregate.current_version)(event_type) else {
                    continue;
                };
                for v in 1..=version {
                    let Some(schema) = (aggregate.schema)(event_type, v) else {
                        continue;
                    };
                    let mut schema = schema.to_value();
                    let sample: Vec<Value> = examples
                        .iter()
                        .filter(|(t, ver, _)| t == event_type && *ver == v)
                        .map(|(_, _, p)| p.clone())
                        .collect();
                    decorate(&mut schema, aggregate.category, event_type, v, sample);
                    schemas.push(CodeSchema {
                        event_type: (*event_type).to_owned(),
                        version: v,
                        schema,
                    });
                }
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
pub fn schema_id(category: &str, event_type: &str, version: u32) -> String {
    format!("urn:orderflow:schema:{category}:{event_type}:v{version}")
}

/// The category a schema document's `$id` names (see [`schema_id`]).
pub(crate) fn category_of(schema: &Value) -> Option<&str> {
    schema["$id"]
        .as_str()?
        .strip_prefix("urn:orderflow:schema:")?
        .split(':')
        .next()
}

fn decorate(
    schema: &mut Value,
    category: &str,
    event_type: &str,
    version: u32,
    examples: Vec<Value>,
) {
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
    ordered.insert(
        "$id".into(),
        json!(schema_id(category, event_type, version)),
    );
    ordered.insert("title".into(), json!(format!("{event_type} v{version}")));
    ordered.insert(
        "description".into(),
        json!(format!(
            "{description} Stored with event_type \"{event_type}\" and schema_version {version}; \
             published on NATS subject orderflow.events.{category}.{event_type}."
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
