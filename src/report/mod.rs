//! Atomic report run directories.
//!
//! The reports of one job run live in `<dir>/<job>/<run-id>/`. A run is written into a temporary
//! sibling directory `<dir>/<job>/.tmp-<run-id>-<random>`; [`RunWriter::commit`] fsyncs every
//! file and the directory, renames it into place and then points `<dir>/<job>/latest` at it. A
//! reader therefore sees a run complete or not at all, also after a crash: `prepare` removes the
//! temporary directories a crash leaves behind.
//!
//! The API is synchronous (it is all filesystem work). Async callers run it through
//! `tokio::task::spawn_blocking`, or do their writing in a blocking task.

mod writers;

pub use writers::{CsvWriter, JsonLinesWriter, neutralize_formula, write_json_pretty};

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng;
use serde::Serialize;

/// Name of the file in `<dir>/<job>/` that holds the id of the newest complete run.
pub const LATEST_FILE: &str = "latest";
/// Prefix of in-progress run directories (and of the temporary `latest` file).
const TMP_PREFIX: &str = ".tmp-";
const LATEST_TMP_PREFIX: &str = ".latest.tmp-";
const PROBE_PREFIX: &str = ".probe-";
/// `20261204T120000Z`
const RUN_ID_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const RUN_ID_BASE_LEN: usize = 16;

/// A failed report operation: names the path, the operation and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot {op} {path}: {source}. {hint}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("cannot write JSON to {file}: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write CSV to {file}: {source}")]
    Csv {
        file: String,
        #[source]
        source: csv::Error,
    },
    #[error("cannot write CSV to {file}: a record has {found} fields, the header has {expected}")]
    CsvColumns {
        file: String,
        expected: usize,
        found: usize,
    },
    #[error(
        "run directory {path} already exists; another writer uses the same report directory (run one cognigy-warden per report directory)"
    )]
    RunExists { path: PathBuf },
}

const HINT_DIR: &str = "Check that the report directory exists or can be created, is writable by this process (on Kubernetes: a writable volume mounted there) and that the disk is not full";
const HINT_WRITE: &str = "Check free disk space and permissions of the report directory";

fn io_err(
    op: &'static str,
    path: &Path,
    hint: &'static str,
) -> impl FnOnce(io::Error) -> ReportError {
    let path = path.to_path_buf();
    move |source| ReportError::Io {
        op,
        path,
        source,
        hint,
    }
}

/// The report directory `<dir>` with one subdirectory per job.
///
/// Cheap to clone; clones share the lock that keeps run ids unique within this process.
#[derive(Debug, Clone)]
pub struct ReportRoot {
    inner: Arc<RootInner>,
}

#[derive(Debug)]
struct RootInner {
    dir: PathBuf,
    keep_runs: usize,
    /// Serialises run-id allocation and the final rename, so two runs of one job that start in
    /// the same second get distinct ids.
    allocate: Mutex<()>,
}

impl ReportRoot {
    /// `keep_runs` complete runs are kept per job (at least one: the run `latest` names).
    pub fn new(dir: PathBuf, keep_runs: usize) -> Self {
        ReportRoot {
            inner: Arc::new(RootInner {
                dir,
                keep_runs: keep_runs.max(1),
                allocate: Mutex::new(()),
            }),
        }
    }

    /// The report directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How many complete runs are kept per job.
    pub fn keep_runs(&self) -> usize {
        self.inner.keep_runs
    }

    /// Start-up check: creates `<dir>` if needed and proves it writable (create, fsync and remove
    /// a probe file). Also removes temporary run directories left behind by a crash; call it
    /// before any run starts.
    pub fn prepare(&self) -> Result<(), ReportError> {
        let dir = self.dir();
        fs::create_dir_all(dir).map_err(io_err("create report directory", dir, HINT_DIR))?;
        let probe = dir.join(format!("{PROBE_PREFIX}{}", random_suffix()));
        let write_probe = || -> io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)?;
            file.write_all(b"cognigy-warden write probe\n")?;
            file.sync_all()
        };
        let written = write_probe();
        // Remove the probe even when the write or fsync failed after creating it.
        let removed = fs::remove_file(&probe);
        written.map_err(io_err(
            "write a probe file in report directory",
            &probe,
            HINT_DIR,
        ))?;
        removed.map_err(io_err("remove probe file", &probe, HINT_DIR))?;
        self.remove_stale_temporaries()
    }

    fn remove_stale_temporaries(&self) -> Result<(), ReportError> {
        let dir = self.dir();
        let jobs = fs::read_dir(dir).map_err(io_err("list report directory", dir, HINT_DIR))?;
        for job_dir in jobs {
            let job_dir = job_dir.map_err(io_err("list report directory", dir, HINT_DIR))?;
            let job_path = job_dir.path();
            if !job_dir.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let entries = fs::read_dir(&job_path).map_err(io_err(
                "list job directory",
                &job_path,
                HINT_DIR,
            ))?;
            for entry in entries {
                let entry = entry.map_err(io_err("list job directory", &job_path, HINT_DIR))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let path = entry.path();
                if name.starts_with(TMP_PREFIX) {
                    tracing::info!(path = %path.display(), "removing unfinished report run left by an earlier process");
                    remove_path(&path).map_err(io_err(
                        "remove unfinished report run",
                        &path,
                        HINT_DIR,
                    ))?;
                } else if name.starts_with(LATEST_TMP_PREFIX) || name.starts_with(PROBE_PREFIX) {
                    remove_path(&path).map_err(io_err("remove temporary file", &path, HINT_DIR))?;
                }
            }
        }
        Ok(())
    }

    fn job_dir(&self, job: &str) -> PathBuf {
        self.dir().join(job)
    }

    /// Starts a run of `job`: allocates a run id from the UTC start time (`20261204T120000Z`,
    /// `20261204T120000Z-2` if that is taken) and creates its temporary directory.
    pub fn begin_run(&self, job: &str, started: DateTime<Utc>) -> Result<RunWriter, ReportError> {
        validate_job_name(job)?;
        let job_dir = self.job_dir(job);
        fs::create_dir_all(&job_dir).map_err(io_err(
            "create job report directory",
            &job_dir,
            HINT_DIR,
        ))?;
        let base = started.format(RUN_ID_FORMAT).to_string();

        let _guard = self
            .inner
            .allocate
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let in_progress = in_progress_run_ids(&job_dir)?;
        let mut n = 1u32;
        let run_id = loop {
            let candidate = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let taken = job_dir.join(&candidate).exists() || in_progress.contains(&candidate);
            if !taken {
                break candidate;
            }
            n += 1;
        };
        let tmp = job_dir.join(format!("{TMP_PREFIX}{run_id}-{}", random_suffix()));
        fs::create_dir(&tmp).map_err(io_err("create temporary run directory", &tmp, HINT_DIR))?;
        Ok(RunWriter {
            root: self.clone(),
            job: job.to_string(),
            run_id,
            tmp,
            finished: false,
        })
    }

    /// The newest complete run of `job` as named by `<dir>/<job>/latest`: its id and directory.
    pub fn latest(&self, job: &str) -> Option<(String, PathBuf)> {
        validate_job_name(job).ok()?;
        let job_dir = self.job_dir(job);
        let id = fs::read_to_string(job_dir.join(LATEST_FILE)).ok()?;
        let id = id.trim();
        parse_run_id(id)?;
        let path = job_dir.join(id);
        path.is_dir().then(|| (id.to_string(), path))
    }

    /// Ids of the complete runs of `job`, oldest first. Unreadable directories count as empty.
    pub fn complete_runs(&self, job: &str) -> Vec<String> {
        if validate_job_name(job).is_err() {
            return Vec::new();
        }
        let Ok(entries) = fs::read_dir(self.job_dir(job)) else {
            return Vec::new();
        };
        let mut runs: Vec<(RunKey, String)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                Some((parse_run_id(&name)?, name))
            })
            .collect();
        runs.sort();
        runs.into_iter().map(|(_, name)| name).collect()
    }

    /// Keeps the newest `keep_runs` complete runs of `job` and never the one `latest` names.
    fn apply_retention(&self, job: &str) {
        let runs = self.complete_runs(job);
        let latest = self.latest(job).map(|(id, _)| id);
        let excess = runs.len().saturating_sub(self.keep_runs());
        for id in runs.into_iter().take(excess) {
            if latest.as_deref() == Some(id.as_str()) {
                continue;
            }
            let path = self.job_dir(job).join(&id);
            // A run that cannot be removed now is retried after the next run; the committed run
            // itself is fine, so this is a warning and not an error of the run.
            if let Err(e) = fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove old report run");
            } else {
                tracing::debug!(path = %path.display(), "removed old report run");
            }
        }
    }
}

/// Writes one run into its temporary directory until [`RunWriter::commit`] or
/// [`RunWriter::abort`]. Dropping it without either removes the temporary directory.
#[derive(Debug)]
pub struct RunWriter {
    root: ReportRoot,
    job: String,
    run_id: String,
    tmp: PathBuf,
    finished: bool,
}

impl RunWriter {
    /// The run id, e.g. `20261204T120000Z`.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The job this run belongs to.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The temporary directory the run's files are written to.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Where the run will be after [`RunWriter::commit`].
    pub fn final_path(&self) -> PathBuf {
        self.root.job_dir(&self.job).join(&self.run_id)
    }

    /// Creates `file_name` (a plain name, no directories) in the run. Flush (or finish the
    /// writer wrapping it) before `commit`: `commit` syncs what reached the file.
    pub fn create(&self, file_name: &str) -> Result<BufWriter<File>, ReportError> {
        validate_file_name(file_name)?;
        let path = self.tmp.join(file_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("create report file", &path, HINT_WRITE))?;
        Ok(BufWriter::new(file))
    }

    /// Creates `file_name` as a JSON Lines writer.
    pub fn jsonl(&self, file_name: &str) -> Result<JsonLinesWriter<BufWriter<File>>, ReportError> {
        Ok(JsonLinesWriter::new(self.create(file_name)?, file_name))
    }

    /// Creates `file_name` as a CSV writer and writes `header`.
    pub fn csv(
        &self,
        file_name: &str,
        header: &[&str],
    ) -> Result<CsvWriter<BufWriter<File>>, ReportError> {
        CsvWriter::new(self.create(file_name)?, file_name, header)
    }

    /// Writes `value` as pretty JSON (with a trailing newline) to `file_name`.
    pub fn write_json(&self, file_name: &str, value: &impl Serialize) -> Result<(), ReportError> {
        let mut out = self.create(file_name)?;
        write_json_pretty(&mut out, file_name, value)?;
        out.flush().map_err(io_err(
            "write report file",
            &self.tmp.join(file_name),
            HINT_WRITE,
        ))
    }

    /// Makes the run visible: fsyncs every file and the temporary directory, renames it to
    /// `<dir>/<job>/<run-id>`, fsyncs the job directory, replaces `latest` atomically and applies
    /// retention. Returns the final path.
    pub fn commit(mut self) -> Result<PathBuf, ReportError> {
        sync_tree(&self.tmp)?;
        let job_dir = self.root.job_dir(&self.job);
        let final_path = self.final_path();
        {
            let _guard = self
                .root
                .inner
                .allocate
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // rename(2) silently replaces an empty directory; never replace anything.
            if final_path.exists() {
                return Err(ReportError::RunExists { path: final_path });
            }
            fs::rename(&self.tmp, &final_path).map_err(io_err(
                "move finished run into place at",
                &final_path,
                HINT_WRITE,
            ))?;
        }
        // From here on the run is in place; nothing is left to clean up on drop.
        self.finished = true;
        sync_dir(&job_dir)?;
        write_latest(&job_dir, &self.run_id)?;
        self.root.apply_retention(&self.job);
        Ok(final_path)
    }

    /// Discards the run: removes the temporary directory. `latest` is unchanged.
    pub fn abort(mut self) {
        self.discard();
    }

    fn discard(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Err(e) = fs::remove_dir_all(&self.tmp)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.tmp.display(), error = %e, "cannot remove unfinished report run; it is removed at the next start");
        }
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        self.discard();
    }
}

/// Replaces `<job_dir>/latest` atomically: temporary file, fsync, rename, fsync directory.
fn write_latest(job_dir: &Path, run_id: &str) -> Result<(), ReportError> {
    let tmp = job_dir.join(format!("{LATEST_TMP_PREFIX}{}", random_suffix()));
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(run_id.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("write", &tmp, HINT_WRITE)(e));
    }
    let latest = job_dir.join(LATEST_FILE);
    if let Err(e) = fs::rename(&tmp, &latest) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("replace", &latest, HINT_WRITE)(e));
    }
    sync_dir(job_dir)
}

/// fsyncs every file and directory below `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> Result<(), ReportError> {
    let entries = fs::read_dir(dir).map_err(io_err("list run directory", dir, HINT_WRITE))?;
    for entry in entries {
        let entry = entry.map_err(io_err("list run directory", dir, HINT_WRITE))?;
        let path = entry.path();
        let file_type =
            entry
                .file_type()
                .map_err(io_err("inspect report file", &path, HINT_WRITE))?;
        if file_type.is_dir() {
            sync_tree(&path)?;
        } else if file_type.is_file() {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err("fsync report file", &path, HINT_WRITE))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), ReportError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir, HINT_WRITE))
}

fn remove_path(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn random_suffix() -> String {
    format!("{:016x}", rand::thread_rng().r#gen::<u64>())
}

/// Run ids with a temporary directory in `job_dir` (runs being written right now).
fn in_progress_run_ids(job_dir: &Path) -> Result<Vec<String>, ReportError> {
    let entries = fs::read_dir(job_dir).map_err(io_err("list job directory", job_dir, HINT_DIR))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| {
            // `.tmp-<run-id>-<16 hex digits>`
            let rest = name.strip_prefix(TMP_PREFIX)?;
            let (id, _random) = rest.rsplit_once('-')?;
            parse_run_id(id).map(|_| id.to_string())
        })
        .collect())
}

/// Sort key of a run id: its start time, then its uniqueness suffix (`-2` sorts before `-10`).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RunKey(NaiveDateTime, u32);

fn parse_run_id(id: &str) -> Option<RunKey> {
    let base = id.get(..RUN_ID_BASE_LEN)?;
    let started = NaiveDateTime::parse_from_str(base, RUN_ID_FORMAT).ok()?;
    let rest = &id[RUN_ID_BASE_LEN..];
    let n = if rest.is_empty() {
        1
    } else {
        let digits = rest.strip_prefix('-')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()?
    };
    Some(RunKey(started, n))
}

fn validate_job_name(job: &str) -> Result<(), ReportError> {
    let invalid = |reason| {
        Err(ReportError::InvalidName {
            what: "job name",
            name: job.to_string(),
            reason,
        })
    };
    if job.is_empty() || job.len() > 100 {
        return invalid("must be 1 to 100 characters");
    }
    if job.starts_with('.') {
        return invalid("must not start with '.'");
    }
    if !job
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return invalid("may only contain ASCII letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

fn validate_file_name(name: &str) -> Result<(), ReportError> {
    let invalid = |reason| {
        Err(ReportError::InvalidName {
            what: "report file name",
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name == "." || name == ".." {
        return invalid("must be a file name");
    }
    if name.contains(['/', '\\', '\0']) {
        return invalid("must not contain path separators");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_then_suffix() {
        let mut ids = [
            "20261204T120000Z-10",
            "20261204T120001Z",
            "20261204T120000Z-2",
            "20261204T120000Z",
        ];
        ids.sort_by_key(|id| parse_run_id(id).expect("valid run id"));
        assert_eq!(
            ids,
            [
                "20261204T120000Z",
                "20261204T120000Z-2",
                "20261204T120000Z-10",
                "20261204T120001Z"
            ]
        );
    }

    #[test]
    fn non_run_names_are_not_run_ids() {
        for name in [
            "latest",
            ".tmp-20261204T120000Z-abc",
            "20261204T120000Z-",
            "20261204T120000Z-x",
            "2026",
        ] {
            assert!(parse_run_id(name).is_none(), "{name} parsed as a run id");
        }
    }

    #[test]
    fn job_and_file_names_are_checked() {
        assert!(validate_job_name("flow-inventory").is_ok());
        for bad in ["", "..", ".hidden", "a/b", "a b"] {
            assert!(validate_job_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_file_name("flows.csv").is_ok());
        for bad in ["", "..", "a/b", "../x"] {
            assert!(validate_file_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
