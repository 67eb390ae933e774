//! Query parameters and paging of list routes: `limit`, `skip`, `next`/`previous` cursors,
//! `sort`, `filter`, and the page envelope.
//!
//! Without `sort` and `filter` a page is cut straight out of the id-ordered collection with
//! binary search (O(page size + log n)); a cursor is the `_id` of the last (next) or first
//! (previous) item of the page, so it keeps working when that item is deleted meanwhile.
//! With `sort` or `filter` the list is filtered and sorted per request (best effort).

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::Value;

use super::model::is_object_id;

pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 100;

/// Why a list request's parameters were rejected (answered 400, code 1000).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error("query parameter 'limit' must be a whole number from 1 to {MAX_LIMIT}, got '{0}'")]
    Limit(String),
    #[error("query parameter 'skip' must be a whole number of 0 or more, got '{0}'")]
    Skip(String),
    #[error(
        "query parameter '{param}' must be a cursor of 24 hex digits taken from a previous page, got '{value}'"
    )]
    CursorFormat { param: &'static str, value: String },
    #[error("give either 'next' or 'previous', not both")]
    BothCursors,
    #[error(
        "cursor '{0}' is not part of this sorted or filtered list; start again without a cursor"
    )]
    UnknownCursor(String),
    #[error(
        "query parameter 'sort' must look like 'field:asc' or 'field:desc' (comma-separated), got '{0}'"
    )]
    Sort(String),
}

/// Query parameters as sent (percent-decoded; for a repeated name the last value counts).
#[derive(Debug, Default, Clone)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Next(String),
    Previous(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery {
    pub limit: usize,
    pub skip: usize,
    pub cursor: Option<Cursor>,
    /// `(field, ascending)` in priority order.
    pub sort: Vec<(String, bool)>,
    /// Lower-cased substring searched in the item name.
    pub filter: Option<String>,
}

impl Default for PageQuery {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            skip: 0,
            cursor: None,
            sort: Vec::new(),
            filter: None,
        }
    }
}

impl PageQuery {
    pub fn from_params(q: &QueryParams) -> Result<Self, PageError> {
        let limit = match q.get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(PageError::Limit(v.to_string())),
            },
        };
        let skip = match q.get("skip") {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| PageError::Skip(v.to_string()))?,
        };
        let cursor_param = |param: &'static str| -> Result<Option<String>, PageError> {
            match q.get(param).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) if is_object_id(v) => Ok(Some(v.to_string())),
                Some(v) => Err(PageError::CursorFormat {
                    param,
                    value: v.to_string(),
                }),
            }
        };
        let cursor = match (cursor_param("next")?, cursor_param("previous")?) {
            (Some(_), Some(_)) => return Err(PageError::BothCursors),
            (Some(n), None) => Some(Cursor::Next(n)),
            (None, Some(p)) => Some(Cursor::Previous(p)),
            (None, None) => None,
        };
        let sort = match q.get("sort").map(str::trim).filter(|s| !s.is_empty()) {
            None => Vec::new(),
            Some(s) => parse_sort(s)?,
        };
        let filter = q
            .get("filter")
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_lowercase);
        Ok(Self {
            limit,
            skip,
            cursor,
            sort,
            filter,
        })
    }
}

fn parse_sort(s: &str) -> Result<Vec<(String, bool)>, PageError> {
    s.split(',')
        .map(|part| {
            let part = part.trim();
            let (field, dir) = part.split_once(':').unwrap_or((part, "asc"));
            let ascending = match dir.trim().to_ascii_lowercase().as_str() {
                "asc" | "1" | "ascending" => true,
                "desc" | "-1" | "descending" => false,
                _ => return Err(PageError::Sort(s.to_string())),
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(PageError::Sort(s.to_string()));
            }
            Ok((field.to_string(), ascending))
        })
        .collect()
}

/// One page cut out of a list.
#[derive(Debug)]
pub struct Page<'a, T> {
    pub items: Vec<&'a T>,
    pub total: usize,
    pub next_cursor: Option<&'a str>,
    pub previous_cursor: Option<&'a str>,
}

/// How paging reads an item: its id, the name `filter` searches, and (only for `sort`) its
/// answered JSON form.
pub trait Pageable {
    fn page_id(&self) -> &str;
    fn page_name(&self) -> Option<&str>;
    fn sort_json(&self) -> Value;
}

/// Cuts the page `q` asks for out of `items`, which must be ordered by id.
pub fn select<'a, T: Pageable>(items: &'a [T], q: &PageQuery) -> Result<Page<'a, T>, PageError> {
    if q.sort.is_empty() && q.filter.is_none() {
        return Ok(select_by_id(items, q));
    }
    let mut view: Vec<&T> = match &q.filter {
        None => items.iter().collect(),
        Some(needle) => items
            .iter()
            .filter(|it| {
                it.page_name()
                    .is_some_and(|n| n.to_lowercase().contains(needle.as_str()))
            })
            .collect(),
    };
    if !q.sort.is_empty() {
        // Decorate once: serialising per comparison would cost O(n log n) serialisations.
        let mut keyed: Vec<(Vec<Option<Value>>, &T)> = view
            .into_iter()
            .map(|it| {
                let json = it.sort_json();
                let keys = q.sort.iter().map(|(f, _)| json.get(f).cloned()).collect();
                (keys, it)
            })
            .collect();
        // Stable: equal keys keep id (creation) order.
        keyed.sort_by(|(a, _), (b, _)| {
            for (i, (_, ascending)) in q.sort.iter().enumerate() {
                let ord = compare_values(a[i].as_ref(), b[i].as_ref());
                let ord = if *ascending { ord } else { ord.reverse() };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
        view = keyed.into_iter().map(|(_, it)| it).collect();
    }
    let total = view.len();
    let position = |id: &str| view.iter().position(|it| it.page_id() == id);
    let (start, end) = match &q.cursor {
        None => window_forward(0, q, total),
        Some(Cursor::Next(c)) => {
            let at = position(c).ok_or_else(|| PageError::UnknownCursor(c.clone()))?;
            window_forward(at + 1, q, total)
        }
        Some(Cursor::Previous(c)) => {
            let at = position(c).ok_or_else(|| PageError::UnknownCursor(c.clone()))?;
            window_backward(at, q)
        }
    };
    let page: Vec<&T> = view[start..end].to_vec();
    Ok(finish(page, start, end, total))
}

fn select_by_id<'a, T: Pageable>(items: &'a [T], q: &PageQuery) -> Page<'a, T> {
    let total = items.len();
    let (start, end) = match &q.cursor {
        None => window_forward(0, q, total),
        Some(Cursor::Next(c)) => window_forward(
            items.partition_point(|it| it.page_id() <= c.as_str()),
            q,
            total,
        ),
        Some(Cursor::Previous(c)) => {
            window_backward(items.partition_point(|it| it.page_id() < c.as_str()), q)
        }
    };
    finish(items[start..end].iter().collect(), start, end, total)
}

/// `[from + skip, from + skip + limit)`, clamped to the list.
fn window_forward(from: usize, q: &PageQuery, total: usize) -> (usize, usize) {
    let start = from.saturating_add(q.skip).min(total);
    (start, start.saturating_add(q.limit).min(total))
}

/// The `limit` items before `before - skip`.
fn window_backward(before: usize, q: &PageQuery) -> (usize, usize) {
    let end = before.saturating_sub(q.skip);
    (end.saturating_sub(q.limit), end)
}

fn finish<'a, T: Pageable>(
    items: Vec<&'a T>,
    start: usize,
    end: usize,
    total: usize,
) -> Page<'a, T> {
    let next_cursor = if end < total {
        items.last().map(|it| it.page_id())
    } else {
        None
    };
    let previous_cursor = if start > 0 {
        items.first().map(|it| it.page_id())
    } else {
        None
    };
    Page {
        items,
        total,
        next_cursor,
        previous_cursor,
    }
}

/// A total order on optional JSON values for best-effort sorting: missing/null last in
/// ascending order, then booleans, numbers, strings (case-insensitive), anything else.
fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            Some(Value::Bool(_)) => 0,
            Some(Value::Number(_)) => 1,
            Some(Value::String(_)) => 2,
            Some(Value::Array(_) | Value::Object(_)) => 3,
            None | Some(Value::Null) => 4,
        }
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x
            .to_lowercase()
            .cmp(&y.to_lowercase())
            .then_with(|| x.cmp(y)),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// The page envelope every list route answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a, I> {
    pub items: Vec<I>,
    pub total: usize,
    pub next_cursor: Option<&'a str>,
    pub previous_cursor: Option<&'a str>,
}

impl<'a, T> Page<'a, T> {
    /// The envelope with each item shown through `view`.
    pub fn envelope<I>(&self, view: impl FnMut(&'a T) -> I) -> Envelope<'a, I> {
        Envelope {
            items: self.items.iter().copied().map(view).collect(),
            total: self.total,
            next_cursor: self.next_cursor,
            previous_cursor: self.previous_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize)]
    struct It {
        #[serde(rename = "_id")]
        id: String,
        name: String,
        rank: i64,
    }

    impl Pageable for It {
        fn page_id(&self) -> &str {
            &self.id
        }
        fn page_name(&self) -> Option<&str> {
            Some(&self.name)
        }
        fn sort_json(&self) -> Value {
            serde_json::to_value(self).unwrap()
        }
    }

    fn items(n: usize) -> Vec<It> {
        (0..n)
            .map(|i| It {
                id: format!("{i:024x}"),
                name: if i % 2 == 0 {
                    format!("Even {i}")
                } else {
                    format!("odd {i}")
                },
                rank: (i as i64 * 7) % 5,
            })
            .collect()
    }

    fn query(s: &str) -> Result<PageQuery, PageError> {
        PageQuery::from_params(&QueryParams::parse(Some(s)))
    }

    fn ids<T: Pageable>(p: &Page<'_, T>) -> Vec<String> {
        p.items.iter().map(|i| i.page_id().to_string()).collect()
    }

    #[test]
    fn limit_is_checked() {
        assert_eq!(query("").unwrap().limit, 25);
        assert_eq!(query("limit=100").unwrap().limit, 100);
        for bad in ["limit=101", "limit=0", "limit=ten", "limit=-1"] {
            assert!(matches!(query(bad), Err(PageError::Limit(_))), "{bad}");
        }
        assert!(matches!(query("skip=x"), Err(PageError::Skip(_))));
        assert!(matches!(
            query("next=zz"),
            Err(PageError::CursorFormat { .. })
        ));
        assert!(matches!(query("sort=name:up"), Err(PageError::Sort(_))));
        assert_eq!(
            query("sort=name:desc,createdAt").unwrap().sort,
            vec![("name".to_string(), false), ("createdAt".to_string(), true)]
        );
    }

    #[test]
    fn next_cursors_walk_every_item_once() {
        let all = items(57);
        let mut q = query("limit=10").unwrap();
        let mut seen = Vec::new();
        loop {
            let page = select(&all, &q).unwrap();
            assert_eq!(page.total, 57);
            seen.extend(ids(&page));
            match page.next_cursor {
                Some(c) => q.cursor = Some(Cursor::Next(c.to_string())),
                None => break,
            }
        }
        let expected: Vec<String> = all.iter().map(|i| i.id.clone()).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn previous_cursor_goes_back_and_first_page_has_none() {
        let all = items(30);
        let first = select(&all, &query("limit=10").unwrap()).unwrap();
        assert_eq!(first.previous_cursor, None);
        let second = select(
            &all,
            &PageQuery {
                cursor: Some(Cursor::Next(first.next_cursor.unwrap().to_string())),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        let back = select(
            &all,
            &PageQuery {
                cursor: Some(Cursor::Previous(
                    second.previous_cursor.unwrap().to_string(),
                )),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ids(&back), ids(&first));
        assert_eq!(back.previous_cursor, None);
    }

    #[test]
    fn cursor_of_a_deleted_item_still_continues() {
        let mut all = items(20);
        let first = select(&all, &query("limit=5").unwrap()).unwrap();
        let cursor = first.next_cursor.unwrap().to_string();
        all.retain(|i| i.id != cursor);
        let next = select(&all, &query(&format!("limit=5&next={cursor}")).unwrap()).unwrap();
        assert_eq!(next.items[0].id, format!("{:024x}", 5));
    }

    #[test]
    fn skip_filter_and_sort() {
        let all = items(20);
        let p = select(&all, &query("skip=18&limit=5").unwrap()).unwrap();
        assert_eq!(ids(&p).len(), 2);
        assert_eq!(p.next_cursor, None);
        let odd = select(&all, &query("filter=ODD&limit=100").unwrap()).unwrap();
        assert_eq!(odd.total, 10);
        assert!(odd.items.iter().all(|i| i.name.starts_with("odd")));
        let sorted = select(&all, &query("sort=rank:desc&limit=100").unwrap()).unwrap();
        let ranks: Vec<i64> = sorted.items.iter().map(|i| i.rank).collect();
        assert!(ranks.windows(2).all(|w| w[0] >= w[1]), "{ranks:?}");
        // Sorted paging with cursors still visits every item once.
        let mut q = query("sort=rank:asc&limit=3").unwrap();
        let mut seen = Vec::new();
        loop {
            let page = select(&all, &q).unwrap();
            seen.extend(ids(&page));
            match page.next_cursor {
                Some(c) => q.cursor = Some(Cursor::Next(c.to_string())),
                None => break,
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 20);
    }
}
