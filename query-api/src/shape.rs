//! The shape of a parsed query, measured before async-graphql validates it:
//! how many fields it selects once fragments are expanded (every alias
//! counts), how many of those are expensive (each a statement that may be
//! slow), how deep it nests, and which field names it uses.
//!
//! Measured here, first, because async-graphql's own checks and validation
//! expand fragments spread by fragments without memoising: a small
//! "fragment bomb" costs them exponential time, and some recurse without
//! end on a fragment cycle. This walk visits each fragment once.

use std::collections::{BTreeSet, HashMap};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// What [`measure`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// Field selections after expanding fragments (saturating).
    pub fields: usize,
    /// Of those, selections of an [`EXPENSIVE`] field.
    pub expensive: usize,
    /// Deepest nesting of fields, not counting introspection (`__schema`,
    /// `__type`), which tools send and which is bounded by the schema.
    pub depth: usize,
    /// Every field name used.
    pub names: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("fragment {0} spreads itself")]
    FragmentCycle(String),
}

/// Fields each of which runs a statement that may read much of a read
/// model, whatever its page size.
pub const EXPENSIVE: [&str; 3] = ["topProducts", "salesByDay", "totalCount"];

#[derive(Clone, Copy, Default)]
struct Size {
    fields: usize,
    expensive: usize,
    depth: usize,
}

#[derive(Clone, Copy)]
enum Memo {
    Visiting,
    Done(Size),
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    memo: HashMap<&'a str, Memo>,
    names: BTreeSet<String>,
}

impl<'a> Walk<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Size, ShapeError> {
        let mut out = Size::default();
        for item in &set.items {
            let size = match &item.node {
                Selection::Field(f) => {
                    let name = f.node.name.node.as_str();
                    self.names.insert(name.to_owned());
                    let inner = self.selection_set(&f.node.selection_set.node)?;
                    let introspection = name == "__schema" || name == "__type";
                    Size {
                        fields: inner.fields.saturating_add(1),
                        expensive: inner
                            .expensive
                            .saturating_add(usize::from(EXPENSIVE.contains(&name))),
                        depth: if introspection { 0 } else { inner.depth + 1 },
                    }
                }
                Selection::InlineFragment(f) => self.selection_set(&f.node.selection_set.node)?,
                Selection::FragmentSpread(s) => {
                    self.fragment(s.node.fragment_name.node.as_str())?
                }
            };
            out.fields = out.fields.saturating_add(size.fields);
            out.expensive = out.expensive.saturating_add(size.expensive);
            out.depth = out.depth.max(size.depth);
        }
        Ok(out)
    }

    fn fragment(&mut self, name: &'a str) -> Result<Size, ShapeError> {
        match self.memo.get(name) {
            Some(Memo::Done(size)) => return Ok(*size),
            Some(Memo::Visiting) => return Err(ShapeError::FragmentCycle(name.to_owned())),
            None => {}
        }
        // An unknown fragment is validation's to report.
        let Some(def) = self.doc.fragments.get(name) else {
            return Ok(Size::default());
        };
        self.memo.insert(name, Memo::Visiting);
        let size = self.selection_set(&def.node.selection_set.node)?;
        self.memo.insert(name, Memo::Done(size));
        Ok(size)
    }
}

/// Measures every operation of `doc` (the sizes add up; a client sending
/// several operations runs one, but validation looks at all of them).
pub fn measure(doc: &ExecutableDocument) -> Result<Shape, ShapeError> {
    let mut walk = Walk {
        doc,
        memo: HashMap::new(),
        names: BTreeSet::new(),
    };
    let mut shape = Shape::default();
    for (_, op) in doc.operations.iter() {
        let size = walk.selection_set(&op.node.selection_set.node)?;
        shape.fields = shape.fields.saturating_add(size.fields);
        shape.expensive = shape.expensive.saturating_add(size.expensive);
        shape.depth = shape.depth.max(size.depth);
    }
    // Unused fragments are validated too (and refused), so measure them.
    let names: Vec<&str> = doc.fragments.keys().map(|n| n.as_str()).collect();
    for name in names {
        let size = walk.fragment(name)?;
        shape.fields = shape.fields.max(size.fields);
        shape.expensive = shape.expensive.max(size.expensive);
    }
    shape.names = walk.names;
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn shape(q: &str) -> Result<Shape, ShapeError> {
        match parse_query(q) {
            Ok(doc) => measure(&doc),
            Err(e) => panic!("{q}: {e}"),
        }
    }

    #[test]
    fn counts_aliases_depth_and_names() {
        let s = shape("{ a: order(id: 1) { id } b: order(id: 2) { id items { sku } } }")
            .unwrap_or_default();
        assert_eq!(s.fields, 6);
        assert_eq!(s.depth, 3);
        assert!(s.names.contains("items") && s.names.contains("order"));
    }

    #[test]
    fn expands_fragments_once_each_and_refuses_cycles() {
        // 2^40 fields when expanded, measured in linear time.
        let mut q = String::from("{ ...F0 } ");
        for i in 0..40 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{n} ...F{n} }} ",
                n = i + 1
            ));
        }
        q.push_str("fragment F40 on Query { __typename }");
        let s = shape(&q).unwrap_or_default();
        assert_eq!(s.fields, 1usize << 40);
        assert_eq!(s.expensive, 0);
        assert_eq!(
            shape("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
            Err(ShapeError::FragmentCycle("A".into()))
        );
    }

    #[test]
    fn counts_expensive_fields_through_aliases_and_fragments() {
        let s = shape(
            "{ a: topProducts { sku } b: topProducts { sku } ...F orders { totalCount } }
             fragment F on Query { salesByDay(from: \"2025-01-01\", to: \"2025-01-02\") { day } }",
        )
        .unwrap_or_default();
        assert_eq!(s.expensive, 4);
    }

    #[test]
    fn introspection_does_not_count_for_depth() {
        let s = shape("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }")
            .unwrap_or_default();
        assert_eq!(s.depth, 0);
        assert_eq!(s.fields, 7);
    }
}
