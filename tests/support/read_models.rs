//! Read-model tables as comparable text, and rebuilds to compare with.

use std::collections::BTreeMap;

use orderflow_projections::{PROJECTIONS, rebuild_with};
use sqlx::PgPool;

use super::Env;

/// Every read-model table, row for row, as sorted JSON text.
pub async fn dump(read: &PgPool) -> BTreeMap<String, Vec<String>> {
    let tables = PROJECTIONS.iter().flat_map(|d| d.tables.iter().copied());
    orderflow_testkit::dump_tables(read, tables).await.unwrap()
}

/// Rebuilds every projection from the store, then dumps the tables.
pub async fn rebuilt(env: &Env) -> BTreeMap<String, Vec<String>> {
    rebuild_with(env.store(), &env.read, "all", &env.config, &mut |_| {})
        .await
        .unwrap();
    dump(&env.read).await
}

pub fn assert_same(a: &BTreeMap<String, Vec<String>>, b: &BTreeMap<String, Vec<String>>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (table, rows) in a {
        let other = &b[table];
        assert_eq!(rows.len(), other.len(), "row count of {table}");
        for (x, y) in rows.iter().zip(other) {
            assert_eq!(x, y, "table {table}");
        }
    }
}
