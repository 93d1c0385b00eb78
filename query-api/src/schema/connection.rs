//! Relay connections of orders, paged by keyset cursors.

use async_graphql::{Context, Object, SimpleObject};

use super::cost::DEFAULT_PAGE;
use super::filter::OrderOrderBy;
use super::order::Order;
use crate::access::Scope;
use crate::cursor::{self, CursorError};
use crate::db::{Keyset, OrderFilter, PageQuery, SortKey};
use crate::error::bad_input;
use crate::services::services;

/// `first`, `after`, `last`, `before` as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

fn decode(
    key: SortKey,
    arg: &str,
    cursor: &Option<String>,
) -> async_graphql::Result<Option<Keyset>> {
    cursor
        .as_deref()
        .map(|c| {
            cursor::decode(key, c).map_err(|e| match e {
                CursorError::Malformed => bad_input(format!("`{arg}` is not a valid cursor")),
                CursorError::OtherSort => bad_input(format!("`{arg}`: {e}")),
            })
        })
        .transpose()
}

/// One page of `filter` sorted by `order_by`, of the orders `scope` sees:
/// the scope's customer is a condition of the statement, so the page, its
/// cursors and `totalCount` hold only those.
pub async fn orders_connection(
    ctx: &Context<'_>,
    scope: &Scope,
    mut filter: OrderFilter,
    order_by: Option<OrderOrderBy>,
    page: PageArgs,
) -> async_graphql::Result<OrderConnection> {
    if let Some(me) = scope.customer() {
        filter.customer_ids.push(me.to_owned());
    }
    let services = services(ctx)?;
    let max = i32::try_from(services.max_page_size).unwrap_or(i32::MAX);
    let order_by = order_by.unwrap_or_default();
    let key = order_by.key();
    let (size, from_end) = match (page.first, page.last) {
        (Some(_), Some(_)) => return Err(bad_input("give `first` or `last`, not both")),
        (Some(n), None) => (n, false),
        (None, Some(n)) => (n, true),
        (None, None) => (DEFAULT_PAGE.min(max), false),
    };
    if !(0..=max).contains(&size) {
        let arg = if from_end { "last" } else { "first" };
        return Err(bad_input(format!("`{arg}` must be between 0 and {max}")));
    }
    let after = decode(key, "after", &page.after)?;
    let before = decode(key, "before", &page.before)?;
    let rows = if size == 0 {
        Vec::new()
    } else {
        let q = PageQuery {
            filter: filter.clone(),
            key,
            descending: order_by.descending(),
            after,
            before,
            // One more than asked tells whether there is another page.
            limit: i64::from(size) + 1,
            from_end,
        };
        services.db.orders_page(&q).await?
    };
    let size = usize::try_from(size).unwrap_or(0);
    let more = rows.len() > size;
    let rows: Vec<_> = if from_end {
        // The extra row is the first one.
        let skip = rows.len().saturating_sub(size);
        rows.into_iter().skip(skip).collect()
    } else {
        rows.into_iter().take(size).collect()
    };
    let edges: Vec<OrderEdge> = rows
        .into_iter()
        .map(|row| OrderEdge {
            cursor: cursor::encode(
                key,
                Keyset {
                    value: key.value_of(&row),
                    id: row.order_id,
                },
            ),
            node: Order(row),
        })
        .collect();
    let page_info = PageInfo {
        // Orders are never deleted, so a cursor to start after (or before)
        // means there is at least the order it names on that side.
        has_previous_page: if from_end { more } else { after.is_some() },
        has_next_page: if from_end { before.is_some() } else { more },
        start_cursor: edges.first().map(|e| e.cursor.clone()),
        end_cursor: edges.last().map(|e| e.cursor.clone()),
    };
    Ok(OrderConnection {
        edges,
        page_info,
        filter,
    })
}

/// A page of orders.
#[derive(Debug)]
pub struct OrderConnection {
    edges: Vec<OrderEdge>,
    page_info: PageInfo,
    filter: OrderFilter,
}

#[Object]
impl OrderConnection {
    async fn edges(&self) -> &[OrderEdge] {
        &self.edges
    }

    /// The orders of `edges`, without cursors.
    async fn nodes(&self) -> Vec<&Order> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// Orders matching the filter, on every page (one more statement).
    // It may count a whole read model: the list is charged a scan for it
    // (`cost::orders_cost`).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let n = services(ctx)?.db.orders_count(&self.filter).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

#[derive(Debug)]
pub struct OrderEdge {
    cursor: String,
    node: Order,
}

#[Object]
impl OrderEdge {
    /// Opaque; pass as `after` or `before`.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    async fn node(&self) -> &Order {
        &self.node
    }
}

#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}
