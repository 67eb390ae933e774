//! The `flows-inventory` job: every Flow of every project, as JSON Lines, CSV and a summary.
//!
//! Projects are walked page by page, read ahead by up to two pages so that the next project page
//! is on its way while the flows of the current one are fetched (otherwise every project page
//! would stall the flow requests for a round trip). Each project's flows are fetched by a
//! future, and up to `window` such futures run at once through an *ordered* buffer, so rows come
//! out in API order (projects, then each project's flows) while requests overlap. Rows go
//! through a bounded channel to a blocking writer thread: memory holds a few projects, not the
//! organisation (plus one small count per project for the summary).

use super::output::{RunOutput, RunSummary};
use crate::cognigy::model::{Flow, Project};
use crate::cognigy::routes;
use crate::cognigy::{Api, ApiError, Route};
use crate::report::{ReportError, ReportRoot, RunWriter};
use chrono::{DateTime, Utc};
use futures::future::Either;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::BTreeMap;
use tokio::sync::mpsc;

pub const JSONL_FILE: &str = "flows.jsonl";
pub const CSV_FILE: &str = "flows.csv";

/// Projects fetched ahead of their flows: two pages of the walk.
const PROJECT_READ_AHEAD: usize = 200;

/// Column order of `flows.jsonl` and `flows.csv`.
pub const COLUMNS: [&str; 11] = [
    "project_id",
    "project_name",
    "flow_id",
    "reference_id",
    "name",
    "description",
    "is_training_out_of_date",
    "created_at",
    "last_changed",
    "created_by",
    "last_changed_by",
];

/// One row of the inventory. Times are RFC 3339 UTC; missing values stay empty.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowRow {
    pub project_id: String,
    pub project_name: Option<String>,
    pub flow_id: String,
    pub reference_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_training_out_of_date: Option<bool>,
    pub created_at: Option<String>,
    pub last_changed: Option<String>,
    pub created_by: Option<String>,
    pub last_changed_by: Option<String>,
}

impl FlowRow {
    fn new(project: &Project, flow: Flow) -> FlowRow {
        FlowRow {
            project_id: project.id.clone(),
            project_name: project.name.clone(),
            flow_id: flow.id,
            reference_id: flow.reference_id,
            name: flow.name,
            description: flow.description,
            is_training_out_of_date: flow.is_training_out_of_date,
            created_at: flow.created_at.and_then(unix_to_rfc3339),
            last_changed: flow.last_changed.and_then(unix_to_rfc3339),
            created_by: flow.created_by,
            last_changed_by: flow.last_changed_by,
        }
    }
}

/// Unix seconds as RFC 3339 UTC (`2026-12-04T12:00:00Z`).
pub fn unix_to_rfc3339(secs: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The flows of one project, in API order.
struct ProjectFlows {
    project: Project,
    rows: Vec<FlowRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowsError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("the report writer stopped unexpectedly: {0}")]
    Writer(String),
}

/// Per-project flow count for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectCount {
    pub project_id: String,
    pub project_name: Option<String>,
    pub flows: u64,
}

/// Runs the inventory into a new run directory of `job` and commits it.
pub async fn run(
    api: &Api,
    reports: &ReportRoot,
    job: &str,
    started: DateTime<Utc>,
    window: usize,
) -> Result<RunOutput, FlowsError> {
    let api = api.scoped();
    let root = reports.clone();
    let job_name = job.to_string();
    let writer = tokio::task::spawn_blocking(move || root.begin_run(&job_name, started))
        .await
        .map_err(|e| FlowsError::Writer(e.to_string()))??;
    let run_id = writer.run_id().to_string();
    let (tx, rx) = mpsc::channel::<Batch>(4);
    let writer_task = tokio::task::spawn_blocking(move || write_rows(writer, rx));

    let (project_tx, project_rx) = mpsc::channel(PROJECT_READ_AHEAD);
    let read_ahead = {
        let projects = api.walk::<Project>(Route::fixed(routes::PROJECTS), Vec::new());
        async move {
            let mut projects = std::pin::pin!(projects);
            while let Some(item) = projects.next().await {
                let failed = item.is_err();
                if project_tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        }
    };
    let walk = async {
        let projects = futures::stream::unfold(project_rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let batches = projects
            .map_ok(|project| {
                let api = api.clone();
                async move {
                    let flows: Vec<Flow> = api
                        .list(Route::fixed(routes::FLOWS), routes::in_project(&project.id))
                        .await?;
                    let rows = flows
                        .into_iter()
                        .map(|f| FlowRow::new(&project, f))
                        .collect();
                    Ok::<_, ApiError>(ProjectFlows { project, rows })
                }
            })
            .try_buffered(window.max(1));
        let mut batches = std::pin::pin!(batches);
        while let Some(batch) = batches.try_next().await? {
            if tx.send(Batch::Project(batch)).await.is_err() {
                break;
            }
        }
        Ok::<_, ApiError>(())
    };
    // When the walk ends (done, failed or writer gone) the read-ahead is dropped with it.
    let walked =
        match futures::future::select(std::pin::pin!(walk), std::pin::pin!(read_ahead)).await {
            Either::Left((walked, _)) => walked,
            Either::Right(((), walk)) => walk.await,
        };
    // Sending `Finish` (or not) decides between commit and discard in the writer thread: the
    // writer answers `Ok` only after it received `Finish`.
    if walked.is_ok() {
        // A failed send means the writer already ended with an error, returned below.
        let _ = tx.send(Batch::Finish).await;
    }
    drop(tx);
    let written = writer_task
        .await
        .map_err(|e| FlowsError::Writer(e.to_string()))?;
    walked?;
    let Written {
        writer,
        projects,
        total,
    } = written?;
    let stats = api.stats();
    let finished = Utc::now();
    let mut counts = BTreeMap::new();
    counts.insert("projects".to_string(), projects.len() as u64);
    counts.insert("flows".to_string(), total);
    let summary = RunSummary::new(job, "flows-inventory", &run_id, started, finished, stats)
        .with_counts(counts.clone());
    let commit = tokio::task::spawn_blocking(move || {
        // Serialised straight from the counts (no JSON value copy of the per-project list).
        let summary = FlowsSummary {
            run: summary,
            per_project: &projects,
        };
        writer.write_json(super::output::SUMMARY_FILE, &summary)?;
        writer.commit()
    });
    let path = commit
        .await
        .map_err(|e| FlowsError::Writer(e.to_string()))??;
    Ok(RunOutput {
        run_id,
        path,
        counts,
        warnings: Vec::new(),
        stats,
    })
}

/// `summary.json` of an inventory: the common fields plus `per_project`.
#[derive(Serialize)]
struct FlowsSummary<'a> {
    #[serde(flatten)]
    run: RunSummary,
    per_project: &'a [ProjectCount],
}

enum Batch {
    Project(ProjectFlows),
    Finish,
}

struct Written {
    writer: RunWriter,
    projects: Vec<ProjectCount>,
    total: u64,
}

/// The blocking side: writes batches as they come; returns the writer for the commit only if
/// `Finish` arrived (otherwise the writer is dropped and the temporary directory removed).
fn write_rows(writer: RunWriter, mut rx: mpsc::Receiver<Batch>) -> Result<Written, FlowsError> {
    let mut jsonl = writer.jsonl(JSONL_FILE)?;
    let mut csv = writer.csv(CSV_FILE, &COLUMNS)?;
    let mut projects = Vec::new();
    let mut total = 0u64;
    while let Some(batch) = rx.blocking_recv() {
        match batch {
            Batch::Project(p) => {
                for row in &p.rows {
                    jsonl.write(row)?;
                    csv.serialize(row)?;
                }
                total += p.rows.len() as u64;
                projects.push(ProjectCount {
                    project_id: p.project.id,
                    project_name: p.project.name,
                    flows: p.rows.len() as u64,
                });
            }
            Batch::Finish => {
                jsonl.finish()?;
                csv.finish()?;
                return Ok(Written {
                    writer,
                    projects,
                    total,
                });
            }
        }
    }
    Err(FlowsError::Writer("run stopped before it finished".into()))
}
