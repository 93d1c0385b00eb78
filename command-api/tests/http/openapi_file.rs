//! The committed `command-api/openapi.json` matches the code.

use std::path::Path;

/// Regenerate with `UPDATE_OPENAPI=1 cargo test -p orderflow-command-api --test http openapi_file`.
#[test]
fn openapi_file_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let doc = orderflow_command_api::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &doc).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == doc,
        "command-api/openapi.json differs from the document in code; regenerate it with \
         UPDATE_OPENAPI=1 cargo test -p orderflow-command-api --test http openapi_file"
    );
}
