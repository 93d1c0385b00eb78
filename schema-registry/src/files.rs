//! The registry on disk: `<dir>/<EventType>/v<N>.json` and `<dir>/asyncapi.yaml`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0} is not named <EventType>/v<N>.json")]
    BadName(PathBuf),
    #[error("{0}")]
    Yaml(String),
}

/// What a registry folder holds.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub dir: PathBuf,
    /// `(event type, version)` → schema document.
    pub schemas: BTreeMap<(String, u32), Value>,
    /// The AsyncAPI document's text, if present.
    pub asyncapi: Option<String>,
}

pub const ASYNCAPI_FILE: &str = "asyncapi.yaml";

impl Registry {
    pub fn load(dir: &Path) -> Result<Registry, RegistryError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RegistryError::Io { path, source }
        };
        let mut registry = Registry {
            dir: dir.to_owned(),
            ..Registry::default()
        };
        if !dir.exists() {
            return Ok(registry);
        }
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let event_type = entry.file_name().to_string_lossy().into_owned();
            for file in fs::read_dir(&path).map_err(io(&path))? {
                let file = file.map_err(io(&path))?.path();
                if file.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let version =
                    version_of(&file).ok_or_else(|| RegistryError::BadName(file.clone()))?;
                let text = fs::read_to_string(&file).map_err(io(&file))?;
                let schema = serde_json::from_str(&text).map_err(|source| RegistryError::Json {
                    path: file.clone(),
                    source,
                })?;
                registry
                    .schemas
                    .insert((event_type.clone(), version), schema);
            }
        }
        let asyncapi = dir.join(ASYNCAPI_FILE);
        if asyncapi.exists() {
            registry.asyncapi = Some(fs::read_to_string(&asyncapi).map_err(io(&asyncapi))?);
        }
        Ok(registry)
    }

    pub fn path_of(&self, event_type: &str, version: u32) -> PathBuf {
        schema_path(&self.dir, event_type, version)
    }

    /// Versions committed for one type, ascending.
    pub fn versions(&self, event_type: &str) -> Vec<u32> {
        self.schemas
            .keys()
            .filter(|(t, _)| t == event_type)
            .map(|(_, v)| *v)
            .collect()
    }
}

pub fn schema_path(dir: &Path, event_type: &str, version: u32) -> PathBuf {
    dir.join(event_type).join(format!("v{version}.json"))
}

fn version_of(file: &Path) -> Option<u32> {
    file.file_stem()?
        .to_str()?
        .strip_prefix('v')?
        .parse()
        .ok()
        .filter(|v| *v > 0)
}

/// Pretty JSON with a final newline, as committed.
pub fn to_file_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

pub fn write(path: &Path, text: &str) -> Result<(), RegistryError> {
    let io = |source| RegistryError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    fs::write(path, text).map_err(io)
}
