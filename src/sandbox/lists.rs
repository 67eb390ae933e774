//! Type-erased access to the per-project lists, so routes and mutations can work on "the list
//! named `flows`" without a match arm per item type.

use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{AssetKind, Collection, Item, ProjectAssets, Template, is_object_id};
use super::mutate::MutationError;
use super::paging::{PageError, PageQuery, Pageable, select};

impl<T: Item> Pageable for T {
    fn page_id(&self) -> &str {
        self.id()
    }
    fn page_name(&self) -> Option<&str> {
        self.name()
    }
    fn sort_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One per-project list, whatever its item type.
pub(crate) trait AssetList: Send + Sync {
    /// The page `q` asks for, serialised as the page envelope.
    fn page_json(&self, q: &PageQuery) -> Result<Vec<u8>, PageError>;
    fn contains(&self, id: &str) -> bool;
    /// Creates an item from `template` with `body`'s fields merged over it.
    fn create(
        &mut self,
        template: &Template,
        body: Map<String, Value>,
    ) -> Result<Value, MutationError>;
    /// Merges `body`'s fields into the item.
    fn patch(&mut self, id: &str, body: Map<String, Value>) -> Result<Value, MutationError>;
    fn delete(&mut self, id: &str) -> Option<Value>;
}

impl<T: Item> AssetList for Collection<T> {
    fn page_json(&self, q: &PageQuery) -> Result<Vec<u8>, PageError> {
        let page = select(self.as_slice(), q)?;
        Ok(to_json(&page.envelope(|item| item)))
    }

    fn contains(&self, id: &str) -> bool {
        Collection::contains(self, id)
    }

    fn create(
        &mut self,
        template: &Template,
        body: Map<String, Value>,
    ) -> Result<Value, MutationError> {
        let item: T = merged(T::template(template), body)?;
        if !is_object_id(item.id()) {
            return Err(MutationError::InvalidId(item.id().to_string()));
        }
        let json = to_value(&item);
        self.insert(item).map_err(|item| MutationError::Duplicate {
            kind: T::KIND,
            id: item.id().to_string(),
        })?;
        Ok(json)
    }

    fn patch(&mut self, id: &str, body: Map<String, Value>) -> Result<Value, MutationError> {
        let current = self.get_mut(id).ok_or_else(|| MutationError::NotFound {
            kind: T::KIND,
            id: id.to_string(),
        })?;
        *current = patched(current, body)?;
        Ok(to_value(&*current))
    }

    fn delete(&mut self, id: &str) -> Option<Value> {
        self.remove(id).map(|item| to_value(&item))
    }
}

/// `template` with `body`'s top-level fields replacing its own.
pub(crate) fn merged<T: Item>(template: T, body: Map<String, Value>) -> Result<T, MutationError> {
    let mut json = to_value(&template);
    if let Value::Object(fields) = &mut json {
        fields.extend(body);
    }
    serde_json::from_value(json).map_err(|e| MutationError::Field {
        kind: T::KIND,
        message: e.to_string(),
    })
}

/// `item` with `body`'s top-level fields merged in; `_id` cannot change.
pub(crate) fn patched<T: Item>(item: &T, body: Map<String, Value>) -> Result<T, MutationError> {
    if let Some(new_id) = body.get("_id")
        && new_id.as_str() != Some(item.id())
    {
        return Err(MutationError::IdChange);
    }
    merged(item.clone(), body)
}

pub(crate) fn to_value<T: Serialize>(item: &T) -> Value {
    // Items are plain data with string keys: serialising them cannot fail.
    serde_json::to_value(item).unwrap_or(Value::Null)
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Same as above: plain data with string keys always serialises.
    serde_json::to_vec(value).unwrap_or_default()
}

impl ProjectAssets {
    pub(crate) fn list(&self, kind: AssetKind) -> &dyn AssetList {
        match kind {
            AssetKind::Flows => &self.flows,
            AssetKind::Endpoints => &self.endpoints,
            AssetKind::Lexicons => &self.lexicons,
            AssetKind::Snapshots => &self.snapshots,
            AssetKind::Extensions => &self.extensions,
            AssetKind::Locales => &self.locales,
            AssetKind::Playbooks => &self.playbooks,
            AssetKind::KnowledgeStores => &self.knowledge_stores,
            AssetKind::AiAgents => &self.ai_agents,
            AssetKind::AuditEvents => &self.audit_events,
        }
    }

    pub(crate) fn list_mut(&mut self, kind: AssetKind) -> &mut dyn AssetList {
        match kind {
            AssetKind::Flows => &mut self.flows,
            AssetKind::Endpoints => &mut self.endpoints,
            AssetKind::Lexicons => &mut self.lexicons,
            AssetKind::Snapshots => &mut self.snapshots,
            AssetKind::Extensions => &mut self.extensions,
            AssetKind::Locales => &mut self.locales,
            AssetKind::Playbooks => &mut self.playbooks,
            AssetKind::KnowledgeStores => &mut self.knowledge_stores,
            AssetKind::AiAgents => &mut self.ai_agents,
            AssetKind::AuditEvents => &mut self.audit_events,
        }
    }
}
