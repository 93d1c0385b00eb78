//! `orderflow schemas export|check`.

use std::path::Path;

use orderflow_schema_registry::CodeRegistry;

pub fn export(dir: &Path) -> anyhow::Result<()> {
    let written = orderflow_schema_registry::export(dir, &CodeRegistry::from_domain())?;
    if written.is_empty() {
        println!("{}: nothing new", dir.display());
    }
    for file in written {
        println!("wrote {}", dir.join(file).display());
    }
    check(dir)
}

pub fn check(dir: &Path) -> anyhow::Result<()> {
    let findings = orderflow_schema_registry::check(dir, &CodeRegistry::from_domain())?;
    if findings.is_empty() {
        println!("{}: registry matches the code", dir.display());
        return Ok(());
    }
    for f in &findings {
        eprintln!("{}/{f}", dir.display());
    }
    anyhow::bail!("{} problem(s) in the schema registry", findings.len())
}
