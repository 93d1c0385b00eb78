//! The committed SDL matches the code.

use std::path::Path;

/// Regenerate with `UPDATE_SCHEMA=1 cargo test -p orderflow-query-api --test schema_file`.
#[test]
fn schema_file_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let sdl = orderflow_query_api::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "query-api/schema.graphql differs from the schema in code; regenerate it with \
         UPDATE_SCHEMA=1 cargo test -p orderflow-query-api --test schema_file"
    );
}
