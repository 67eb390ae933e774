//! What changed since the previous complete run of the same job.
//!
//! The previous run's `inventory.jsonl` is read line by line into a map
//! `(asset_type, asset_id) -> (name, last_changed, project)`: the only part of an inventory held
//! in memory. The current inventory is never held: each row is looked up (and removed) as it is
//! written, giving `created` and `modified` at once; whatever is left at the end was `deleted`.

use super::inventory::{AssetRow, AssetType};
use crate::report::ReportRoot;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Created,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 3] = [
        ChangeKind::Created,
        ChangeKind::Modified,
        ChangeKind::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One line of `changes.jsonl`. `last_changed` is the current value (the previous one for a
/// deleted asset); `previous_*` and `changed` are set for modified assets only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub change: ChangeKind,
    pub asset_type: String,
    pub asset_id: String,
    pub name: Option<String>,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub last_changed: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_last_changed: Option<String>,
}

/// What an earlier inventory line contributes.
#[derive(Debug, Deserialize)]
struct BaselineLine {
    asset_type: String,
    asset_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    last_changed: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    project_name: Option<String>,
}

#[derive(Debug, Clone)]
struct Previous {
    name: Option<String>,
    last_changed: Option<String>,
    project_id: Option<String>,
    project_name: Option<String>,
}

/// The previous complete run's inventory.
#[derive(Debug)]
pub struct Baseline {
    pub run_id: String,
    entries: HashMap<(String, String), Previous>,
    /// Asset types that run could not list (missing routes): not compared.
    not_inventoried: BTreeSet<String>,
}

/// The outcome of looking for a baseline.
#[derive(Debug)]
pub enum BaselineLoad {
    /// No complete run of this job yet.
    None,
    Loaded(Baseline),
    /// The previous run exists but its inventory cannot be used; the reason names file and line.
    Unusable {
        run_id: String,
        reason: String,
    },
}

impl BaselineLoad {
    /// Reads the newest complete run of `job` (blocking: file I/O).
    pub fn load(reports: &ReportRoot, job: &str) -> BaselineLoad {
        let Some((run_id, dir)) = reports.latest(job) else {
            return BaselineLoad::None;
        };
        match read(&dir) {
            Ok((entries, not_inventoried)) => BaselineLoad::Loaded(Baseline {
                run_id,
                entries,
                not_inventoried,
            }),
            Err(reason) => BaselineLoad::Unusable { run_id, reason },
        }
    }
}

type Entries = HashMap<(String, String), Previous>;

fn read(dir: &Path) -> Result<(Entries, BTreeSet<String>), String> {
    let path = dir.join(super::INVENTORY_FILE);
    let file =
        std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut entries = HashMap::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.map_err(|e| format!("cannot read {} line {}: {e}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: BaselineLine = serde_json::from_str(&line).map_err(|e| {
            format!(
                "{} line {} is not an inventory row: {e}",
                path.display(),
                n + 1
            )
        })?;
        entries.insert(
            (row.asset_type, row.asset_id),
            Previous {
                name: row.name,
                last_changed: row.last_changed,
                project_id: row.project_id,
                project_name: row.project_name,
            },
        );
    }
    // Which types that run could not list; an unreadable summary only loses this refinement.
    let not_inventoried = std::fs::read(dir.join(crate::jobs::output::SUMMARY_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("asset_types_not_inventoried")?.as_array().map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default();
    Ok((entries, not_inventoried))
}

impl Change {
    /// A change of `kind` to the asset `row` (keyed by type and id), without previous values.
    fn of(kind: ChangeKind, (asset_type, asset_id): (String, String), row: &AssetRow) -> Change {
        Change {
            change: kind,
            asset_type,
            asset_id,
            name: row.name.clone(),
            project_id: row.project_id.clone(),
            project_name: row.project_name.clone(),
            last_changed: row.last_changed.clone(),
            changed: Vec::new(),
            previous_name: None,
            previous_last_changed: None,
        }
    }
}

/// Compares the streamed current inventory with the baseline.
#[derive(Debug)]
pub struct ChangeTracker {
    baseline: Baseline,
}

impl ChangeTracker {
    pub fn new(baseline: Baseline) -> Self {
        ChangeTracker { baseline }
    }

    /// The change `row` makes, if any (and forgets its baseline entry).
    pub fn observe(&mut self, row: &AssetRow) -> Option<Change> {
        let key = (row.asset_type.as_str().to_string(), row.asset_id.clone());
        let Some(prev) = self.baseline.entries.remove(&key) else {
            if self
                .baseline
                .not_inventoried
                .contains(row.asset_type.as_str())
            {
                return None;
            }
            return Some(Change::of(ChangeKind::Created, key, row));
        };
        let mut changed = Vec::new();
        if prev.name != row.name {
            changed.push("name".to_string());
        }
        if prev.last_changed != row.last_changed {
            changed.push("last_changed".to_string());
        }
        if changed.is_empty() {
            return None;
        }
        Some(Change {
            changed,
            previous_name: prev.name,
            previous_last_changed: prev.last_changed,
            ..Change::of(ChangeKind::Modified, key, row)
        })
    }

    /// Everything the current run did not see, except types it could not list: deleted, in
    /// (project, type, id) order.
    pub fn deleted(self, not_inventoried: &BTreeSet<AssetType>) -> Vec<Change> {
        let skip: BTreeSet<&str> = not_inventoried.iter().map(|t| t.as_str()).collect();
        let mut out: Vec<Change> = self
            .baseline
            .entries
            .into_iter()
            .filter(|((t, _), _)| !skip.contains(t.as_str()))
            .map(|((asset_type, asset_id), prev)| Change {
                change: ChangeKind::Deleted,
                asset_type,
                asset_id,
                name: prev.name,
                project_id: prev.project_id,
                project_name: prev.project_name,
                last_changed: prev.last_changed,
                changed: Vec::new(),
                previous_name: None,
                previous_last_changed: None,
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.project_id, &a.asset_type, &a.asset_id).cmp(&(
                &b.project_id,
                &b.asset_type,
                &b.asset_id,
            ))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn row(t: AssetType, id: &str, name: &str, changed: &str) -> AssetRow {
        AssetRow {
            asset_type: t,
            asset_id: id.into(),
            name: Some(name.into()),
            project_id: Some("p".into()),
            project_name: Some("P".into()),
            created_at: None,
            last_changed: Some(changed.into()),
            details: Map::new(),
        }
    }

    fn baseline_from(rows: &[AssetRow], not_inventoried: &[&str]) -> Baseline {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for r in rows {
            text.push_str(&serde_json::to_string(r).unwrap());
            text.push('\n');
        }
        std::fs::write(dir.path().join(super::super::INVENTORY_FILE), text).unwrap();
        std::fs::write(
            dir.path().join("summary.json"),
            serde_json::json!({"asset_types_not_inventoried": not_inventoried}).to_string(),
        )
        .unwrap();
        let (entries, not_inventoried) = read(dir.path()).unwrap();
        Baseline {
            run_id: "r1".into(),
            entries,
            not_inventoried,
        }
    }

    #[test]
    fn created_modified_and_deleted_are_told_apart() {
        let before = [
            row(AssetType::Flow, "f1", "Main", "2025-01-01T00:00:00Z"),
            row(AssetType::Flow, "f2", "Old", "2025-01-01T00:00:00Z"),
            row(AssetType::Flow, "f3", "Same", "2025-01-01T00:00:00Z"),
            row(AssetType::AiAgent, "a1", "Sophie", "2025-01-01T00:00:00Z"),
        ];
        let mut t = ChangeTracker::new(baseline_from(&before, &[]));
        let renamed = row(AssetType::Flow, "f1", "Main v2", "2025-01-01T00:00:00Z");
        let m = t.observe(&renamed).unwrap();
        assert_eq!(
            (m.change, m.changed.clone()),
            (ChangeKind::Modified, vec!["name".to_string()])
        );
        assert_eq!(m.previous_name.as_deref(), Some("Main"));
        assert!(t.observe(&before[2]).is_none());
        let new = row(AssetType::Flow, "f9", "New", "2025-02-01T00:00:00Z");
        assert_eq!(t.observe(&new).unwrap().change, ChangeKind::Created);
        // AI agents were not listed this time: their absence is no deletion.
        let deleted = t.deleted(&BTreeSet::from([AssetType::AiAgent]));
        let ids: Vec<&str> = deleted.iter().map(|c| c.asset_id.as_str()).collect();
        assert_eq!(ids, ["f2"]);
    }

    #[test]
    fn types_the_baseline_could_not_list_are_not_created() {
        let mut t = ChangeTracker::new(baseline_from(&[], &["ai_agent"]));
        assert!(
            t.observe(&row(AssetType::AiAgent, "a1", "Sophie", "x"))
                .is_none()
        );
        assert!(
            t.observe(&row(AssetType::Flow, "f1", "Main", "x"))
                .is_some()
        );
    }

    #[test]
    fn a_broken_inventory_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(super::super::INVENTORY_FILE),
            "{\"asset_type\":\"flow\",\"asset_id\":\"f1\"}\nnot json\n",
        )
        .unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
