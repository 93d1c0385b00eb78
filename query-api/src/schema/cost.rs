//! What a field costs in the complexity budget (`QueryLimits::max_complexity`),
//! sized by the database work it causes rather than by the rows it returns:
//! an alias-heavy or nested query that would hold the read pool for seconds
//! is refused in validation, before any statement runs.
//!
//! - A field that may read every row of a read model (a count, a sort on
//!   a column without an index, an all-time product ranking) costs
//!   [`SCAN_COST`]: at the default budget a request holds a handful.
//! - A day range costs per day: `salesByDay` reads a few rows a day by
//!   primary key; `topProducts` over a range joins every order paid in it.
//! - A page costs its children once per row ([`page_cost`]).

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use chrono::NaiveDate;

use super::filter::{OrderOrderBy, OrderSortField};
use super::scalars::Date;

/// Default page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: i32 = 20;
/// The page size complexity assumes at most (larger pages are refused
/// anyway, with a clearer message than "too complex").
const COST_PAGE_CAP: usize = 100;
/// Products `topProducts` lists when `first` is not given.
pub const DEFAULT_TOP: i32 = 10;
/// A statement that may read a whole read model.
pub const SCAN_COST: usize = 1000;
/// One day of `topProducts(from:, to:)`: the orders paid that day and
/// their lines, joined and grouped. A full year costs about three scans.
const TOP_PRODUCTS_DAY_COST: usize = 8;
/// Longest `salesByDay` / `topProducts` range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;

/// The complexity of a connection field: its children once per row.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let n = first.or(last).unwrap_or(DEFAULT_PAGE).max(1);
    let n = usize::try_from(n).unwrap_or(1).min(COST_PAGE_CAP);
    n.saturating_mul(child_complexity).saturating_add(1)
}

/// An order list: its page, plus a scan when sorted by a column with no
/// index (only `placedAt` has one, alone and after status, customer and
/// channel), plus a scan when it is counted (`totalCount`).
///
/// The count is charged here, once per list, because a field's children
/// are charged once per row: a `totalCount` costing a scan itself would
/// cost a hundred for `orders(first: 100) { totalCount }`.
pub fn orders_cost(
    field: &Field,
    order_by: Option<OrderOrderBy>,
    first: Option<i32>,
    last: Option<i32>,
    child_complexity: usize,
) -> usize {
    let sort = match order_by.map(|o| o.field) {
        None | Some(OrderSortField::PlacedAt) => 0,
        Some(OrderSortField::UpdatedAt | OrderSortField::Total) => SCAN_COST,
    };
    let count = if counts(&field.selection_set.node) {
        SCAN_COST
    } else {
        0
    };
    page_cost(first, last, child_complexity)
        .saturating_add(sort)
        .saturating_add(count)
}

/// Whether a connection's selection asks for `totalCount`. A fragment
/// spread is assumed to (the complexity hook cannot look fragments up).
fn counts(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(f) => f.node.name.node == "totalCount",
        Selection::InlineFragment(f) => counts(&f.node.selection_set.node),
        Selection::FragmentSpread(_) => true,
    })
}

/// Days in `from..=to`, as the cost sees them: a reversed or too long
/// range is refused by the resolver, so it is costed as one day or the
/// longest range.
fn days(from: NaiveDate, to: NaiveDate) -> usize {
    let n = (to - from).num_days().saturating_add(1);
    usize::try_from(n.clamp(1, MAX_RANGE_DAYS)).unwrap_or(1)
}

/// `salesByDay`: its children once per day.
pub fn sales_by_day_cost(from: Date, to: Date, child_complexity: usize) -> usize {
    days(from.0, to.0)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

/// `topProducts`: the products listed, plus the ranking's work: per day
/// of a range, or a scan of the all-time sums.
pub fn top_products_cost(
    from: Option<Date>,
    to: Option<Date>,
    first: Option<i32>,
    child_complexity: usize,
) -> usize {
    let ranking = match (from, to) {
        (Some(from), Some(to)) => days(from.0, to.0).saturating_mul(TOP_PRODUCTS_DAY_COST),
        _ => SCAN_COST,
    };
    page_cost(Some(first.unwrap_or(DEFAULT_TOP)), None, child_complexity).saturating_add(ranking)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::filter::SortDirection;

    fn date(s: &str) -> Date {
        Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default())
    }

    #[test]
    fn ranges_cost_per_day() {
        let day = sales_by_day_cost(date("2025-01-01"), date("2025-01-01"), 7);
        let year = sales_by_day_cost(date("2025-01-01"), date("2025-12-31"), 7);
        assert_eq!(day, 8);
        assert_eq!(year, 365 * 7 + 1);
        // Reversed ranges are refused later; they cost a day here.
        assert_eq!(
            sales_by_day_cost(date("2025-02-01"), date("2025-01-01"), 7),
            8
        );
        let top_year =
            top_products_cost(Some(date("2024-01-01")), Some(date("2024-12-31")), None, 1);
        assert_eq!(top_year, 11 + 366 * TOP_PRODUCTS_DAY_COST);
        assert_eq!(top_products_cost(None, None, Some(5), 1), 6 + SCAN_COST);
    }

    /// The root field of `query`.
    fn field(query: &str) -> Field {
        let doc = async_graphql::parser::parse_query(query).ok();
        let op = doc.and_then(|d| d.operations.iter().next().map(|(_, op)| op.node.clone()));
        match op.and_then(|op| op.selection_set.node.items.into_iter().next()) {
            Some(item) => match item.node {
                Selection::Field(f) => f.node,
                _ => panic!("{query}: not a field"),
            },
            None => panic!("{query}: no field"),
        }
    }

    #[test]
    fn unindexed_sorts_and_counts_cost_a_scan() {
        let by = |field| {
            Some(OrderOrderBy {
                field,
                direction: SortDirection::Asc,
            })
        };
        let page = field("{ orders { nodes { id } } }");
        assert_eq!(orders_cost(&page, None, Some(10), None, 2), 21);
        assert_eq!(
            orders_cost(&page, by(OrderSortField::PlacedAt), Some(10), None, 2),
            21
        );
        assert_eq!(
            orders_cost(&page, by(OrderSortField::Total), Some(10), None, 2),
            21 + SCAN_COST
        );
        assert_eq!(
            orders_cost(&page, by(OrderSortField::UpdatedAt), None, Some(10), 2),
            21 + SCAN_COST
        );
        for counted in [
            "{ orders { totalCount } }",
            "{ orders { ... on OrderConnection { totalCount } } }",
            "{ orders { ...F } }",
        ] {
            assert_eq!(
                orders_cost(&field(counted), None, Some(10), None, 2),
                21 + SCAN_COST,
                "{counted}"
            );
        }
    }
}
