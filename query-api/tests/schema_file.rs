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

/// The root fields of `type <name>` in `sdl`, each with its description.
fn root_fields(sdl: &str, name: &str) -> Vec<(String, String)> {
    let block = sdl
        .split(&format!("type {name} {{"))
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .unwrap_or_else(|| panic!("no type {name} in the SDL"));
    let mut fields = Vec::new();
    let mut description = String::new();
    let mut in_description = false;
    // Field level only: arguments (and their descriptions) are indented
    // once more, and a multi-line argument list ends with `)` alone.
    let field_level = |l: &&str| !l.starts_with("\t\t") && !l.trim().starts_with(')');
    for line in block
        .lines()
        .filter(field_level)
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if line == "\"\"\"" {
            in_description = !in_description;
        } else if in_description {
            description.push_str(line);
            description.push(' ');
        } else {
            let field = line.split(['(', ':']).next().unwrap_or(line).to_owned();
            fields.push((field, std::mem::take(&mut description)));
        }
    }
    fields
}

/// The SDL says which roles read each root field, as the access table
/// does, and the table has a rule for every root field.
#[test]
fn every_root_field_documents_the_roles_of_its_rule() {
    let sdl = orderflow_query_api::sdl();
    let mut seen = Vec::new();
    for (root, prefix) in [("QueryRoot", "Query"), ("SubscriptionRoot", "Subscription")] {
        let fields = root_fields(&sdl, root);
        assert!(!fields.is_empty(), "{root}");
        for (field, description) in fields {
            let key = format!("{prefix}.{field}");
            let rule = orderflow_query_api::rule_for(&key);
            assert_eq!(
                rule.field, key,
                "{key} has no rule in query-api/src/access.rs"
            );
            let names: Vec<&str> = rule.any_row.iter().map(|r| r.as_str()).collect();
            let expected = if rule.own_rows {
                format!("Roles: {}; customer (", names.join(", "))
            } else {
                format!("Roles: {}.", names.join(", "))
            };
            assert!(
                description.contains(&expected),
                "{key}: its description should say `{expected}…`: {description}"
            );
            seen.push(key);
        }
    }
    // No rule for a field the schema does not have.
    for rule in orderflow_query_api::RULES {
        assert!(
            seen.contains(&rule.field.to_owned()),
            "{} is not served",
            rule.field
        );
    }
}

/// The README's GraphQL roles table is the access table, row for row.
#[test]
fn the_readme_graphql_roles_table_is_the_code_table() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let table = readme
        .split("<!-- graphql roles table: checked against query-api/src/access.rs -->")
        .nth(1)
        .expect("the GraphQL roles table marker");
    let mut found: Vec<String> = table
        .lines()
        .skip(3)
        .take_while(|l| l.starts_with('|'))
        .map(str::to_owned)
        .collect();
    let mut expected: Vec<String> = orderflow_query_api::RULES
        .iter()
        .map(|rule| {
            let roles: Vec<String> = rule
                .roles()
                .iter()
                .map(|r| match r {
                    orderflow_auth::Role::Customer => "customer (own)".to_owned(),
                    other => other.as_str().to_owned(),
                })
                .collect();
            format!("| `{}` | {} |", rule.field, roles.join(", "))
        })
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
}
