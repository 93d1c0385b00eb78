//! Every constraint the server enforces, written into the OpenAPI document
//! from the domain's own limits. utoipa's attributes take literals only, so
//! stating them there would copy the numbers; here they are quoted from
//! `orderflow_domain::limits` and cannot drift.
//!
//! Patterns are ECMA-262 (JSON Schema's dialect) and mean the same in
//! Python's `re`, which schema-driven fuzzers use: whitespace and control
//! characters are spelled out instead of `\s`, whose meaning differs.

use orderflow_domain::limits::{
    MAX_ADDRESS_FIELD_LEN, MAX_AMOUNT_MINOR, MAX_CARRIER_LEN, MAX_ID_LEN, MAX_ITEM_NAME_LEN,
    MAX_LINE_ITEMS, MAX_QUANTITY, MAX_REASON_LEN, MAX_STOCK, MAX_TRACKING_NUMBER_LEN, MIN_QUANTITY,
};
use serde_json::{Map, Value, json};

use crate::extract::MAX_IDEMPOTENCY_KEY_LEN;
use crate::paging::{DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE};

/// Characters a single-line text may hold: no C0/C1 control, no DEL.
const LINE_CHAR: &str = r"[^\u0000-\u001F\u007F-\u009F]";
/// Characters a multi-line text (a reason) may hold: as [`LINE_CHAR`], plus
/// tab, line feed and carriage return.
const LINES_CHAR: &str = r"[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]";
/// A character that makes a text not blank: neither a control nor Unicode
/// white space (what Rust's `str::trim` removes).
const VISIBLE_CHAR: &str =
    r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// The text patterns of the document, for tests and tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractPatterns {
    /// Single-line text: names, ids, address fields, carrier, tracking.
    pub line: String,
    /// Text that may span lines: reasons.
    pub lines: String,
}

/// The patterns the document puts on free text.
pub fn contract_patterns() -> ContractPatterns {
    ContractPatterns {
        line: line_pattern(),
        lines: lines_pattern(),
    }
}

/// One line of text with at least one visible character.
fn line_pattern() -> String {
    format!("^{LINE_CHAR}*{VISIBLE_CHAR}{LINE_CHAR}*$")
}

/// Text that may span lines, with at least one visible character.
fn lines_pattern() -> String {
    format!("^{LINES_CHAR}*{VISIBLE_CHAR}{LINES_CHAR}*$")
}

/// Skus: safe in URLs and stream ids.
fn sku_pattern() -> String {
    format!("^[A-Za-z0-9._-]{{1,{MAX_ID_LEN}}}$")
}

/// `If-Match`: an exact stream version, quoted (the ETag) or bare. Up to 19
/// digits, so it always fits the server's `u64`.
pub const IF_MATCH_PATTERN: &str = r#"^("[0-9]{1,19}"|[0-9]{1,19})$"#;

/// `Idempotency-Key`: visible ASCII, inner spaces allowed (the server trims
/// the ends, so a key cannot start or end with one).
pub const IDEMPOTENCY_KEY_PATTERN: &str = r"^[!-~]([ -~]*[!-~])?$";

fn line(max: usize) -> Value {
    json!({ "minLength": 1, "maxLength": max, "pattern": line_pattern() })
}

fn lines(max: usize) -> Value {
    json!({ "minLength": 1, "maxLength": max, "pattern": lines_pattern() })
}

fn quantity() -> Value {
    json!({ "minimum": MIN_QUANTITY, "maximum": MAX_QUANTITY })
}

/// Adds the constraints to the derived document.
pub fn tighten(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    let currency = json!({ "pattern": "^[A-Z]{3}$" });
    let sku = json!({ "minLength": 1, "maxLength": MAX_ID_LEN, "pattern": sku_pattern() });
    let address_field = line(MAX_ADDRESS_FIELD_LEN);

    constrain(
        schemas,
        "MoneyDto",
        &[
            (
                "amount_minor",
                json!({ "minimum": 0, "maximum": MAX_AMOUNT_MINOR }),
            ),
            ("currency", currency.clone()),
        ],
    );
    constrain(
        schemas,
        "AddItemRequest",
        &[
            ("sku", sku.clone()),
            ("name", line(MAX_ITEM_NAME_LEN)),
            ("quantity", quantity()),
        ],
    );
    constrain(
        schemas,
        "CreateOrderRequest",
        &[
            ("customer_id", line(MAX_ID_LEN)),
            ("currency", currency),
            ("items", json!({ "maxItems": MAX_LINE_ITEMS })),
        ],
    );
    constrain(
        schemas,
        "AddressDto",
        &[
            ("name", address_field.clone()),
            ("line1", address_field.clone()),
            ("line2", address_field.clone()),
            ("city", address_field.clone()),
            ("postal_code", address_field),
            ("country", json!({ "pattern": "^[A-Z]{2}$" })),
        ],
    );
    constrain(
        schemas,
        "ChangeQuantityRequest",
        &[("quantity", quantity())],
    );
    constrain(
        schemas,
        "ReasonRequest",
        &[("reason", lines(MAX_REASON_LEN))],
    );
    constrain(
        schemas,
        "PaymentRequest",
        &[("payment_id", line(MAX_ID_LEN))],
    );
    constrain(
        schemas,
        "ShipRequest",
        &[
            ("carrier", line(MAX_CARRIER_LEN)),
            ("tracking_number", line(MAX_TRACKING_NUMBER_LEN)),
        ],
    );
    // A refund of nothing is refused on its own (`refund.invalid_amount`).
    let mut refund_amount = schemas["MoneyDto"].clone();
    refund_amount["properties"]["amount_minor"]["minimum"] = json!(1);
    refund_amount["description"] = json!("The amount to refund: at least one minor unit.");
    schemas["RefundRequest"]["properties"]["amount"] = refund_amount;
    constrain(
        schemas,
        "RefundRequest",
        &[
            ("refund_id", line(MAX_ID_LEN)),
            ("reason", lines(MAX_REASON_LEN)),
        ],
    );

    constrain(
        schemas,
        "ReceiptRequest",
        &[(
            "quantity",
            json!({ "minimum": MIN_QUANTITY, "maximum": MAX_STOCK }),
        )],
    );
    constrain(
        schemas,
        "AdjustmentRequest",
        &[
            ("on_hand", json!({ "minimum": 0, "maximum": MAX_STOCK })),
            ("reason", lines(MAX_REASON_LEN)),
        ],
    );
    crate::webhooks::tighten(schemas);

    if let Some(paths) = doc["paths"].as_object_mut() {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in operation.values_mut() {
                if let Some(params) = op["parameters"].as_array_mut() {
                    params.iter_mut().for_each(constrain_parameter);
                }
            }
        }
    }
}

/// Merges `constraints` into the named properties of a component schema.
fn constrain(schemas: &mut Value, schema: &str, constraints: &[(&str, Value)]) {
    for (property, extra) in constraints {
        let target = &mut schemas[schema]["properties"][*property];
        if let (Some(target), Some(extra)) = (target.as_object_mut(), extra.as_object()) {
            target.extend(extra.clone());
        }
    }
}

fn constrain_parameter(param: &mut Value) {
    let name = param["name"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let location = param["in"].as_str().unwrap_or_default().to_owned();
    let schema: Map<String, Value> = match (location.as_str(), name.as_str()) {
        ("path", "id") => json_map(json!({ "type": "string", "format": "uuid" })),
        ("path", "sku") => json_map(
            json!({ "type": "string", "minLength": 1, "maxLength": MAX_ID_LEN, "pattern": sku_pattern() }),
        ),
        ("header", "if-match") => json_map(json!({
            "type": "string",
            "pattern": IF_MATCH_PATTERN,
        })),
        ("header", "idempotency-key") => json_map(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDEMPOTENCY_KEY_LEN,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        })),
        ("query", "after") => json_map(json!({
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "maximum": i64::MAX,
        })),
        ("query", "limit") => json_map(json!({
            "type": "integer",
            "format": "int32",
            "minimum": 1,
            "maximum": MAX_EVENTS_PAGE,
        })),
        _ => return,
    };
    param["schema"] = Value::Object(schema);
    if name == "limit" {
        param["description"] = json!(format!(
            "Most events in the page (default {DEFAULT_EVENTS_PAGE}, at most {MAX_EVENTS_PAGE})"
        ));
    }
    if name == "if-match" && param.get("description").is_none() {
        param["description"] = json!(
            "Apply only if the order is at this version: its ETag, e.g. \"3\" (a bare 3 also works)"
        );
    }
}

fn json_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
