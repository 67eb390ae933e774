//! Resource routes with the Super API-Key: single items, pages and a page walker.

use super::client::{Auth, Call, Http, RequestStats, Route, StatsSnapshot};
use super::error::ApiError;
use super::model::Page;
use crate::superkey::KeyHandle;
use futures::{Stream, StreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Page size used for every walk (the API's maximum).
pub const PAGE_SIZE: &str = "100";

/// The resource client. Cheap to clone; [`Api::scoped`] gives a copy with its own counters.
#[derive(Clone, Debug)]
pub struct Api {
    http: Http,
    keys: KeyHandle,
    stats: Arc<RequestStats>,
}

impl Api {
    pub fn new(http: Http, keys: KeyHandle) -> Self {
        Api {
            http,
            keys,
            stats: Arc::default(),
        }
    }

    /// Same connection pool, limiter and keeper, fresh counters (one per job run).
    pub fn scoped(&self) -> Api {
        Api {
            http: self.http.clone(),
            keys: self.keys.clone(),
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    pub fn keys(&self) -> &KeyHandle {
        &self.keys
    }

    /// GET a single JSON document.
    pub async fn get<T: DeserializeOwned>(
        &self,
        route: &Route,
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let body = self
            .http
            .send(Call {
                method: Method::GET,
                route,
                query,
                body: None,
                auth: Auth::Key(&self.keys),
                policy: self.http.default_policy(),
                stats: Some(&self.stats),
            })
            .await?;
        decode("GET", route, &body)
    }

    /// One page of a list route: `limit=100`, plus `next=<cursor>` after the first page.
    pub async fn page<T: DeserializeOwned>(
        &self,
        route: &Route,
        query: &[(&str, &str)],
        cursor: Option<&str>,
    ) -> Result<Page<T>, ApiError> {
        let mut q: Vec<(&str, &str)> = Vec::with_capacity(query.len() + 2);
        q.extend_from_slice(query);
        q.push(("limit", PAGE_SIZE));
        if let Some(c) = cursor {
            q.push(("next", c));
        }
        self.get(route, &q).await
    }

    /// Every item of a list route, page after page, as a stream (pages are fetched lazily,
    /// so memory holds one page at a time).
    pub fn walk<T: DeserializeOwned + Send + 'static>(
        &self,
        route: Route,
        query: Vec<(String, String)>,
    ) -> impl Stream<Item = Result<T, ApiError>> + Send + 'static {
        let api = self.clone();
        let state = WalkState::First;
        futures::stream::unfold(
            (api, route, query, state),
            |(api, route, query, state)| async move {
                let cursor = match &state {
                    WalkState::First => None,
                    WalkState::Next(c) => Some(c.clone()),
                    WalkState::Done => return None,
                };
                let q: Vec<(&str, &str)> = query
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let page: Result<Page<T>, ApiError> = api.page(&route, &q, cursor.as_deref()).await;
                let page_and_next = page.and_then(|page| {
                    let next = next_cursor(&route, &page, cursor.as_deref())?;
                    Ok((page, next))
                });
                match page_and_next {
                    Err(e) => Some((
                        futures::stream::iter(vec![Err(e)]),
                        (api, route, query, WalkState::Done),
                    )),
                    Ok((page, next)) => {
                        let next = next.map_or(WalkState::Done, WalkState::Next);
                        let items: Vec<Result<T, ApiError>> =
                            page.items.into_iter().map(Ok).collect();
                        Some((futures::stream::iter(items), (api, route, query, next)))
                    }
                }
            },
        )
        .flatten()
    }

    /// Every item of a list route, collected (for per-project lists, which are small).
    pub async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        route: Route,
        query: Vec<(String, String)>,
    ) -> Result<Vec<T>, ApiError> {
        use futures::TryStreamExt;
        self.walk(route, query).try_collect().await
    }
}

/// The cursor of the page after `page`, or `None` when the walk is done (no cursor, or an
/// empty page). A cursor that repeats the one just used is an error: following it would loop.
pub(crate) fn next_cursor<T>(
    route: &Route,
    page: &Page<T>,
    current: Option<&str>,
) -> Result<Option<String>, ApiError> {
    match &page.next_cursor {
        Some(next) if !page.items.is_empty() => {
            if current == Some(next.as_str()) {
                return Err(ApiError::Decode {
                    method: "GET",
                    path: route.path.clone(),
                    message: format!("the page cursor did not advance (`{next}`)"),
                });
            }
            Ok(Some(next.clone()))
        }
        _ => Ok(None),
    }
}

enum WalkState {
    First,
    Next(String),
    Done,
}

pub(crate) fn decode<T: DeserializeOwned>(
    method: &'static str,
    route: &Route,
    body: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Decode {
        method,
        path: route.path.clone(),
        message: format!("{e} (the answer is not the JSON this route should return)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cognigy::model::Flow;

    fn page(items: usize, next: Option<&str>) -> Page<Flow> {
        Page {
            items: (0..items)
                .map(|i| Flow {
                    id: format!("f{i}"),
                    ..Default::default()
                })
                .collect(),
            total: None,
            next_cursor: next.map(str::to_owned),
            previous_cursor: None,
        }
    }

    #[test]
    fn the_walk_follows_the_cursor_and_stops_on_an_empty_page_or_a_repeated_cursor() {
        let route = Route::fixed("/new/v2.0/flows");
        assert_eq!(
            next_cursor(&route, &page(2, Some("c2")), Some("c1")).unwrap(),
            Some("c2".to_string())
        );
        assert_eq!(next_cursor(&route, &page(2, None), None).unwrap(), None);
        assert_eq!(
            next_cursor(&route, &page(0, Some("c2")), None).unwrap(),
            None
        );
        let err = next_cursor(&route, &page(1, Some("c1")), Some("c1")).unwrap_err();
        assert!(err.to_string().contains("did not advance"), "{err}");
    }
}
