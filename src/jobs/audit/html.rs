//! `report.html`: one self-contained page (inline CSS, no scripts, fonts, images or links) that
//! opens from disk and prints well. Every value from Cognigy is HTML-escaped.
//!
//! Findings and changes are streamed back from `findings.jsonl` and `changes.jsonl` of the run
//! being written, one pass per file, and each group shows at most [`MAX_ROWS`] rows (the files
//! hold them all), so the page's memory and size stay bounded.

use super::changes::{Change, ChangeKind};
use super::inventory::AssetType;
use super::rules::{Rule, RuleSet, StoredFinding, duration_label};
use super::{CHANGES_FILE, FINDINGS_FILE, ProjectSummary};
use crate::config::Severity;
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::path::Path;

/// Rows shown per group of findings and per kind of change.
pub const MAX_ROWS: usize = 200;

/// What the page shows besides the streamed files.
pub struct Page<'a> {
    pub job: &'a str,
    pub run_id: &'a str,
    pub started: &'a str,
    pub finished: &'a str,
    pub organisation: Option<&'a str>,
    pub baseline: Option<&'a str>,
    pub window: std::time::Duration,
    pub counts: &'a BTreeMap<String, u64>,
    pub per_type: &'a BTreeMap<AssetType, u64>,
    pub findings: &'a BTreeMap<(Rule, Severity), u64>,
    pub projects: &'a [ProjectSummary],
    pub rules: &'a RuleSet,
    pub warnings: &'a [String],
    pub notes: &'a [String],
    /// The run directory holding `findings.jsonl` and `changes.jsonl`.
    pub dir: &'a Path,
}

/// Escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(esc).unwrap_or_default()
}

const STYLE: &str = r#"
:root { --crit:#b3261e; --warn:#a15c00; --info:#1f5fa8; --ok:#2e7d32; --line:#d9dde3; --muted:#5f6b7a; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:#1d2430; background:#f6f7f9; margin:0; line-height:1.4; font-size:14px; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 24px 0 6px; }
h4 { font-size: 14px; margin: 16px 0 4px; }
.meta { color: var(--muted); margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 14px; min-width:104px; flex:1; }
.card.gap { margin-left: 14px; }
.card .n { font-size: 26px; font-weight: 700; display:block; }
.card .l { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card.critical .n { color: var(--crit); } .card.warning .n { color: var(--warn); } .card.info .n { color: var(--info); }
table { border-collapse: collapse; width: 100%; background:#fff; border:1px solid var(--line); font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background:#eef1f5; font-weight:600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 11px; color: var(--muted); word-break: break-all; }
.badge { display:inline-block; border-radius: 10px; padding: 1px 8px; font-size: 11px; font-weight:700; color:#fff; text-transform: uppercase; }
.badge.critical { background: var(--crit); } .badge.warning { background: var(--warn); } .badge.info { background: var(--info); }
.badge.created { background: var(--ok); } .badge.modified { background: var(--info); } .badge.deleted { background: var(--crit); }
.rule-desc { color: var(--muted); margin: 0 0 6px; }
.more, .empty { color: var(--muted); font-style: italic; margin: 6px 0; }
ul.notes { background:#fff8e1; border:1px solid #f0d98c; border-radius:8px; padding: 10px 10px 10px 28px; }
.zero { color: var(--muted); }
.sub { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 11px; color: var(--muted); }
@media print {
  body { background:#fff; font-size: 10pt; }
  main { max-width: none; padding: 0; }
  .card { border-color:#999; }
  table { font-size: 9pt; }
  h2, h3, h4, .rule-desc { break-after: avoid; }
  tr { break-inside: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// Writes the page; I/O errors come back to the caller to name the file.
pub fn render(out: &mut impl Write, page: &Page<'_>) -> io::Result<()> {
    let c = |k: &str| page.counts.get(k).copied().unwrap_or(0);
    let org = page
        .organisation
        .map(esc)
        .unwrap_or_else(|| "the organisation".into());
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Asset audit of {org}: {run}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>",
        run = esc(page.run_id)
    )?;
    writeln!(out, "<h1>Asset audit of {org}</h1>")?;
    writeln!(
        out,
        "<p class=\"meta\">Job <b>{}</b>, run <b>{}</b>: started {}, finished {}. Audit events of the last {}. {}</p>",
        esc(page.job),
        esc(page.run_id),
        esc(page.started),
        esc(page.finished),
        esc(&duration_label(page.window)),
        match page.baseline {
            Some(b) => format!("Changes since run <b>{}</b>.", esc(b)),
            None => "No earlier run to compare with.".to_string(),
        }
    )?;

    // Totals.
    writeln!(out, "<section><h2>Totals</h2><div class=\"cards\">")?;
    let card = |out: &mut dyn Write, key: &str, label: &str, class: &str| {
        writeln!(
            out,
            "<div class=\"card {class}\"><span class=\"n\" data-total=\"{key}\">{}</span><span class=\"l\">{label}</span></div>",
            c(key)
        )
    };
    card(out, "findings_critical", "critical", "critical")?;
    card(out, "findings_warning", "warnings", "warning")?;
    card(out, "findings_info", "info", "info")?;
    card(out, "assets", "assets", "gap")?;
    card(out, "projects", "projects", "")?;
    card(out, "users", "users", "")?;
    card(out, "changes_created", "created", "gap")?;
    card(out, "changes_modified", "modified", "")?;
    card(out, "changes_deleted", "deleted", "")?;
    writeln!(out, "</div></section>")?;

    if !page.warnings.is_empty() || !page.notes.is_empty() {
        writeln!(out, "<section><h2>Notes</h2><ul class=\"notes\">")?;
        for w in page.warnings.iter().chain(page.notes) {
            writeln!(out, "<li>{}</li>", esc(w))?;
        }
        writeln!(out, "</ul></section>")?;
    }

    findings(out, page)?;
    changes(out, page)?;
    projects(out, page)?;
    assets(out, page)?;

    writeln!(out, "</main>\n</body>\n</html>")?;
    out.flush()
}

fn findings(out: &mut impl Write, page: &Page<'_>) -> io::Result<()> {
    writeln!(out, "<section><h2>Findings</h2>")?;
    // One pass over findings.jsonl: the first MAX_ROWS findings of each (severity, rule) group.
    let mut shown_rows: std::collections::HashMap<(Severity, String), Vec<StoredFinding>> =
        std::collections::HashMap::new();
    for_each_line::<StoredFinding>(&page.dir.join(FINDINGS_FILE), |f| {
        let rows = shown_rows.entry((f.severity, f.rule.clone())).or_default();
        if rows.len() < MAX_ROWS {
            rows.push(f);
        }
        Ok(true)
    })?;
    let mut any = false;
    for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
        let groups: Vec<(Rule, u64)> = page
            .findings
            .iter()
            .filter(|((_, s), n)| *s == severity && **n > 0)
            .map(|((r, _), n)| (*r, *n))
            .collect();
        if groups.is_empty() {
            continue;
        }
        any = true;
        let total: u64 = groups.iter().map(|(_, n)| n).sum();
        writeln!(
            out,
            "<h3><span class=\"badge {s}\">{s}</span> {total} finding{}</h3>",
            if total == 1 { "" } else { "s" },
            s = severity.as_str()
        )?;
        let mut groups = groups;
        groups.sort_by_key(|(r, _)| r.as_str());
        for (rule, n) in groups {
            writeln!(
                out,
                "<h4 id=\"{s}-{r}\">{r} <span class=\"zero\">({n})</span></h4><p class=\"rule-desc\">{}</p>",
                esc(rule.description()),
                s = severity.as_str(),
                r = rule.as_str()
            )?;
            writeln!(
                out,
                "<table><thead><tr><th>Asset</th><th>Type</th><th>Project</th><th>Message</th><th>Id</th></tr></thead><tbody>"
            )?;
            let rows = shown_rows
                .remove(&(severity, rule.as_str().to_string()))
                .unwrap_or_default();
            let shown = rows.len();
            for f in rows {
                writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"id\">{}</td></tr>",
                    opt(&f.asset_name),
                    esc(&f.asset_type),
                    opt(&f.project_name),
                    esc(&f.message),
                    esc(&f.asset_id)
                )?;
            }
            writeln!(out, "</tbody></table>")?;
            if n > shown as u64 {
                writeln!(
                    out,
                    "<p class=\"more\">… and {} more: see findings.csv.</p>",
                    n - shown as u64
                )?;
            }
        }
    }
    if !any {
        writeln!(out, "<p class=\"empty\">No findings.</p>")?;
    }
    let disabled: Vec<&str> = Rule::ALL
        .iter()
        .filter(|r| !page.rules.enabled(**r))
        .map(|r| r.as_str())
        .collect();
    if !disabled.is_empty() {
        writeln!(
            out,
            "<p class=\"more\">Rules turned off in the configuration: {}.</p>",
            esc(&disabled.join(", "))
        )?;
    }
    writeln!(out, "</section>")
}

fn changes(out: &mut impl Write, page: &Page<'_>) -> io::Result<()> {
    writeln!(out, "<section><h2>Changes</h2>")?;
    if page.baseline.is_none() {
        writeln!(
            out,
            "<p class=\"empty\">This is the first run with an inventory to compare: changes are reported from the next run on.</p></section>"
        )?;
        return Ok(());
    }
    let path = page.dir.join(CHANGES_FILE);
    let mut any = false;
    for kind in ChangeKind::ALL {
        let n = page
            .counts
            .get(&format!("changes_{}", kind.as_str()))
            .copied()
            .unwrap_or(0);
        if n == 0 {
            continue;
        }
        any = true;
        writeln!(
            out,
            "<h3><span class=\"badge {k}\">{k}</span> {n}</h3>",
            k = kind.as_str()
        )?;
        writeln!(
            out,
            "<table><thead><tr><th>Asset</th><th>Type</th><th>Project</th><th>Last changed</th><th>What</th><th>Id</th></tr></thead><tbody>"
        )?;
        let mut shown = 0usize;
        for_each_line::<Change>(&path, |ch| {
            if ch.change != kind {
                return Ok(true);
            }
            let what = if ch.changed.is_empty() {
                String::new()
            } else {
                let mut parts = Vec::new();
                if ch.changed.iter().any(|f| f == "name") {
                    parts.push(format!("renamed from “{}”", opt(&ch.previous_name)));
                }
                if ch.changed.iter().any(|f| f == "last_changed") {
                    parts.push(format!("changed (was {})", opt(&ch.previous_last_changed)));
                }
                parts.join("; ")
            };
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{what}</td><td class=\"id\">{}</td></tr>",
                opt(&ch.name),
                esc(&ch.asset_type),
                opt(&ch.project_name),
                opt(&ch.last_changed),
                esc(&ch.asset_id)
            )?;
            shown += 1;
            Ok(shown < MAX_ROWS)
        })?;
        writeln!(out, "</tbody></table>")?;
        if n > shown as u64 {
            writeln!(
                out,
                "<p class=\"more\">… and {} more: see changes.jsonl.</p>",
                n - shown as u64
            )?;
        }
    }
    if !any {
        writeln!(out, "<p class=\"empty\">Nothing changed.</p>")?;
    }
    writeln!(out, "</section>")
}

/// The per-project asset types, in inventory order (the organisation, users and projects come
/// first in [`AssetType::ALL`]).
fn project_columns() -> &'static [AssetType] {
    &AssetType::ALL[3..]
}

fn projects(out: &mut impl Write, page: &Page<'_>) -> io::Result<()> {
    writeln!(out, "<section><h2>Projects</h2>")?;
    if page.projects.is_empty() {
        writeln!(out, "<p class=\"empty\">No projects.</p></section>")?;
        return Ok(());
    }
    write!(out, "<table><thead><tr><th>Project</th>")?;
    for t in project_columns() {
        write!(out, "<th class=\"num\">{}</th>", esc(t.plural()))?;
    }
    writeln!(
        out,
        "<th class=\"num\">critical</th><th class=\"num\">warning</th><th class=\"num\">info</th></tr></thead><tbody>"
    )?;
    for p in page.projects {
        write!(
            out,
            "<tr><td>{}<div class=\"sub\">{}</div></td>",
            opt(&p.project_name),
            esc(&p.project_id)
        )?;
        for t in project_columns() {
            match p.assets.get(t.as_str()) {
                Some(n) => write!(out, "<td class=\"num\">{n}</td>")?,
                None => write!(out, "<td class=\"num zero\" title=\"not listed\">–</td>")?,
            }
        }
        for s in ["critical", "warning", "info"] {
            let n = p.findings.get(s).copied().unwrap_or(0);
            let class = if n == 0 { "num zero" } else { "num" };
            write!(out, "<td class=\"{class}\">{n}</td>")?;
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</tbody></table></section>")
}

fn assets(out: &mut impl Write, page: &Page<'_>) -> io::Result<()> {
    writeln!(
        out,
        "<section><h2>Inventory</h2><table><thead><tr><th>Asset type</th><th class=\"num\">count</th></tr></thead><tbody>"
    )?;
    for (t, n) in page.per_type {
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{n}</td></tr>",
            esc(t.plural())
        )?;
    }
    writeln!(out, "</tbody></table></section>")
}

/// Calls `each` for every line of a JSON Lines file until it returns `false`.
fn for_each_line<T: serde::de::DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(T) -> io::Result<bool>,
) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    for line in io::BufReader::new(file).lines() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let item: T = serde_json::from_str(&line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if !each(item)? {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_style_references_nothing_outside() {
        assert!(!STYLE.contains("url("));
        assert!(!STYLE.contains("@import"));
        assert!(!STYLE.contains("//"));
    }
}
