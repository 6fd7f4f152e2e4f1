//! The published event catalog (`docs/webhook-event-types.json`) as the tests' check of every
//! webhook they receive: each payload must validate against its type's JSON Schema.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

/// The catalog exactly as the docs publish it.
pub const PUBLISHED: &str = include_str!("../../docs/webhook-event-types.json");

/// Each type's compiled schema, checked against the 2020-12 meta-schema first.
fn validators() -> &'static HashMap<String, jsonschema::Validator> {
    static VALIDATORS: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let catalog: Value = serde_json::from_str(PUBLISHED).expect("the catalog is JSON");
        catalog["event_types"]
            .as_array()
            .expect("a list of event types")
            .iter()
            .map(|entry| {
                let kind = entry["type"].as_str().expect("a type").to_string();
                let schema = &entry["schema"];
                if let Err(error) = jsonschema::draft202012::meta::validate(schema) {
                    panic!("{kind}'s schema is not valid JSON Schema 2020-12: {error}");
                }
                let validator = jsonschema::draft202012::new(schema)
                    .unwrap_or_else(|error| panic!("{kind}'s schema compiles: {error}"));
                (kind, validator)
            })
            .collect()
    })
}

/// Every way `payload` departs from its type's schema; an unknown type is one.
pub fn violations(payload: &Value) -> Vec<String> {
    let kind = payload["type"].as_str().unwrap_or_default();
    match validators().get(kind) {
        None => vec![format!("no schema for type {:?}", payload["type"])],
        Some(validator) => validator
            .iter_errors(payload)
            .map(|error| format!("{}: {error}", error.instance_path()))
            .collect(),
    }
}

/// Panics unless the raw body is a payload that validates against its schema.
pub fn assert_valid_payload(body: &[u8]) {
    let payload: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("a webhook body is JSON: {}", String::from_utf8_lossy(body)));
    let violations = violations(&payload);
    assert!(
        violations.is_empty(),
        "a webhook payload departs from its published schema: {violations:?}\n{payload}"
    );
}

/// The published example of `kind`.
pub fn example(kind: &str) -> Value {
    let catalog: Value = serde_json::from_str(PUBLISHED).expect("the catalog is JSON");
    catalog["event_types"]
        .as_array()
        .expect("a list of event types")
        .iter()
        .find(|entry| entry["type"] == kind)
        .unwrap_or_else(|| panic!("{kind} is in the catalog"))["example"]
        .clone()
}
