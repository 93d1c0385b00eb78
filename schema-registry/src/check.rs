//! `schemas check` and `schemas export`.

use std::path::Path;

use crate::code::CodeRegistry;
use crate::compat::backward_compatible;
use crate::files::{self, ASYNCAPI_FILE, Registry, RegistryError};

/// One way the registry and the code disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file concerned, relative to the registry folder.
    pub file: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

fn rel(event_type: &str, version: u32) -> String {
    format!("{event_type}/v{version}.json")
}

/// Everything wrong with the registry in `dir`; empty means it is current.
pub fn check(dir: &Path, code: &CodeRegistry) -> Result<Vec<Finding>, RegistryError> {
    let registry = Registry::load(dir)?;
    let mut findings = Vec::new();
    let mut push = |file: String, message: String| findings.push(Finding { file, message });

    for s in &code.schemas {
        match registry.schemas.get(&(s.event_type.clone(), s.version)) {
            None => push(
                rel(&s.event_type, s.version),
                "missing: the code has this event version; run `orderflow schemas export`".into(),
            ),
            Some(committed) if committed != &s.schema => push(
                rel(&s.event_type, s.version),
                "differs from what the code generates; a committed version never changes — \
                 give the changed payload a new schema version (and an upcaster if it is not backward compatible)"
                    .into(),
            ),
            Some(_) => {}
        }
    }
    for (event_type, version) in registry.schemas.keys() {
        if code.get(event_type, *version).is_none() {
            push(
                rel(event_type, *version),
                "the code does not know this version: keep its type (or an upcaster) in the code, or it cannot be read".into(),
            );
        }
    }
    for ((event_type, version), schema) in &registry.schemas {
        if let Err(e) = validate_examples(schema) {
            push(rel(event_type, *version), e);
        }
    }
    let mut types: Vec<&String> = registry.schemas.keys().map(|(t, _)| t).collect();
    types.dedup();
    for event_type in types {
        let versions = registry.versions(event_type);
        for (i, newer) in versions.iter().enumerate() {
            for older in &versions[..i] {
                // Chained upcasters turn `older` into `newer` before any reader sees it.
                if (*older..*newer).all(|v| code.has_upcaster(event_type, v)) {
                    continue;
                }
                let (Some(old), Some(new)) = (
                    registry.schemas.get(&(event_type.clone(), *older)),
                    registry.schemas.get(&(event_type.clone(), *newer)),
                ) else {
                    continue;
                };
                for problem in backward_compatible(old, new) {
                    push(
                        rel(event_type, *newer),
                        format!(
                            "not backward compatible with v{older} and no upcaster from v{older}: {problem}"
                        ),
                    );
                }
            }
        }
    }
    let expected = crate::asyncapi_document(&registry)?;
    if registry.asyncapi.as_deref() != Some(expected.as_str()) {
        push(
            ASYNCAPI_FILE.into(),
            "stale: it does not match the schemas; run `orderflow schemas export`".into(),
        );
    }
    Ok(findings)
}

fn validate_examples(schema: &serde_json::Value) -> Result<(), String> {
    let validator =
        jsonschema::validator_for(schema).map_err(|e| format!("not a valid JSON Schema: {e}"))?;
    let examples = schema.get("examples").and_then(|e| e.as_array());
    for (i, example) in examples.into_iter().flatten().enumerate() {
        if let Some(error) = validator.iter_errors(example).next() {
            return Err(format!("example {i} does not validate: {error}"));
        }
    }
    Ok(())
}

/// Writes the versions the code has and the registry lacks, and the
/// AsyncAPI document. Never rewrites a committed version: that is reported
/// by [`check`]. Returns the files written.
pub fn export(dir: &Path, code: &CodeRegistry) -> Result<Vec<String>, RegistryError> {
    let mut registry = Registry::load(dir)?;
    let mut written = Vec::new();
    for s in &code.schemas {
        let key = (s.event_type.clone(), s.version);
        if registry.schemas.contains_key(&key) {
            continue;
        }
        files::write(
            &registry.path_of(&s.event_type, s.version),
            &files::to_file_text(&s.schema),
        )?;
        registry.schemas.insert(key, s.schema.clone());
        written.push(rel(&s.event_type, s.version));
    }
    let asyncapi = crate::asyncapi_document(&registry)?;
    if registry.asyncapi.as_deref() != Some(asyncapi.as_str()) {
        files::write(&dir.join(ASYNCAPI_FILE), &asyncapi)?;
        written.push(ASYNCAPI_FILE.into());
    }
    Ok(written)
}
