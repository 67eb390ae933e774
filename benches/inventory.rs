//! `cargo bench --bench inventory`: how fast the flows inventory lists an organisation compared
//! with the floor the API's latency sets, whether the job's memory grows with the organisation,
//! what the idle daemon costs, and how fast the sandbox itself answers.
//!
//! Everything runs as separate processes of the real binary, the way it is deployed: the
//! sandbox (`cognigy-warden sandbox ...`), the job (`cognigy-warden --config FILE jobs run
//! flows`) and the daemon (`cognigy-warden --config FILE run`). The bench first runs
//! `cargo build --release --bin cognigy-warden` and measures the executable that build reports
//! (`target/release/cognigy-warden`): the shipped build. (The copy cargo builds for benches,
//! `CARGO_BIN_EXE_cognigy-warden`, carries the dev-dependencies' extra features, e.g. tokio's
//! `test-util`.) `BENCH_BIN=PATH` measures another executable instead and skips the build.
//!
//! Only 127.0.0.1 is contacted; every wait and loop is bounded by a deadline or a count. The
//! bench fails only when something does not work (a process fails, a report is wrong), never
//! on a missed target. Options (environment or arguments):
//!
//! - `BENCH_SMALL=1` / `--small`: a tiny configuration taking a few seconds (for CI);
//! - `BENCH_SCENARIOS=1,3` / `--scenarios 1,3`: run only these scenarios (re-running a row);
//! - `BENCH_REPEAT=N` / `--repeat N`: runs per inventory row, the median is reported (default
//!   3, small: 1);
//! - `BENCH_IDLE_SECS=S` / `--idle-secs S`: length of the idle scenario (default 60, small: 3);
//! - `BENCH_BIN=PATH`: the executable to measure (default: built as described above).
//!
//! Peak RSS caveat: on Linux a child's `ru_maxrss` is never below the spawning process's own
//! peak RSS (the kernel carries it across vfork + exec). The bench therefore stays small (no
//! async runtime until the last scenario), prints its own peak and, as a cross-check, samples
//! the child's own high-water mark (`VmHWM`) every few milliseconds.

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The executable under test (see the module comment).
static BIN: OnceLock<PathBuf> = OnceLock::new();
const USERNAME: &str = "bench";
/// The API's page size: the walker asks for 100 items per page.
const PAGE: u64 = 100;
/// Never wait longer than this for one job run (a run that hangs fails the bench).
const JOB_DEADLINE: Duration = Duration::from_secs(600);
/// Generating a large organisation takes the sandbox a moment.
const SANDBOX_START_DEADLINE: Duration = Duration::from_secs(180);
/// How often the child's `VmHWM` is sampled while a job runs.
const HWM_SAMPLE: Duration = Duration::from_millis(10);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inventory bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    small: bool,
    scenarios: BTreeSet<u8>,
    repeat: usize,
    idle: Duration,
    /// Length of each sandbox load measurement.
    load: Duration,
}

impl Options {
    fn parse() -> Result<Options> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut small = env("BENCH_SMALL").is_some_and(|v| v != "0");
        let mut scenarios = env("BENCH_SCENARIOS");
        let mut repeat = env("BENCH_REPEAT");
        let mut idle = env("BENCH_IDLE_SECS");
        // `cargo bench` passes `--bench`; other harness flags are ignored as well.
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--small" => small = true,
                "--scenarios" => scenarios = args.next(),
                "--repeat" => repeat = args.next(),
                "--idle-secs" => idle = args.next(),
                _ => {}
            }
        }
        let scenarios = match scenarios {
            None => [1, 2, 3, 4].into(),
            Some(list) => list
                .split(',')
                .map(|s| match s.trim().parse::<u8>() {
                    Ok(n @ 1..=4) => Ok(n),
                    _ => Err(anyhow!(
                        "BENCH_SCENARIOS/--scenarios takes numbers 1 to 4 separated by commas, got `{list}`"
                    )),
                })
                .collect::<Result<_>>()?,
        };
        let repeat = match repeat {
            None => {
                if small {
                    1
                } else {
                    3
                }
            }
            Some(r) => match r.trim().parse::<usize>() {
                Ok(n @ 1..=20) => n,
                _ => bail!("BENCH_REPEAT/--repeat must be a whole number from 1 to 20, got `{r}`"),
            },
        };
        let idle = match idle {
            None => Duration::from_secs(if small { 3 } else { 60 }),
            Some(s) => match s.trim().parse::<u64>() {
                Ok(n @ 1..=3600) => Duration::from_secs(n),
                _ => bail!("BENCH_IDLE_SECS/--idle-secs must be 1 to 3600 seconds, got `{s}`"),
            },
        };
        Ok(Options {
            small,
            scenarios,
            repeat,
            idle,
            load: Duration::from_secs(if small { 1 } else { 5 }),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The run

fn run() -> Result<()> {
    let opts = Options::parse()?;
    let chosen = match std::env::var_os("BENCH_BIN") {
        Some(path) => PathBuf::from(path),
        None => build_release_binary()?,
    };
    ensure!(
        chosen.is_file(),
        "the executable {} is missing (BENCH_BIN or the release build)",
        chosen.display()
    );
    BIN.set(chosen)
        .map_err(|_| anyhow!("the executable was chosen twice"))?;
    let work = tempfile::Builder::new()
        .prefix("warden-bench-")
        .tempdir()
        .context("creating a temporary directory for the bench")?;
    println!("# cognigy-warden inventory bench");
    println!(
        "binary: {}\nconfiguration: {}\ncores (nproc): {}\nload average at start: {}",
        bin().display(),
        if opts.small {
            "BENCH_SMALL (tiny; targets are meant for the full set)"
        } else {
            "full"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let mut results = Results::default();
    if opts.scenarios.contains(&1) {
        scenario_latency(&opts, work.path(), &mut results)?;
    }
    if opts.scenarios.contains(&2) {
        scenario_memory(&opts, work.path(), &mut results)?;
    }
    if opts.scenarios.contains(&3) {
        scenario_idle(&opts, work.path(), &mut results)?;
    }
    // Last: it starts an async runtime and HTTP clients in this process, which would raise the
    // floor under the children's `ru_maxrss` (see the module comment).
    if opts.scenarios.contains(&4) {
        scenario_sandbox_throughput(&opts, work.path(), &mut results)?;
    }
    results.print_targets(&opts);
    println!("\nload average at end: {}", loadavg());
    Ok(())
}

#[derive(Default)]
struct Results {
    latency_rows: Vec<Row>,
    memory_rows: Vec<Row>,
    idle: Option<IdleResult>,
    /// Best flow-page rate of the sandbox (requests per second).
    sandbox_rps: Option<f64>,
}

/// One inventory row of the table.
#[derive(Clone)]
struct Row {
    projects: u64,
    flows_per_project: u64,
    latency: Duration,
    max_in_flight: u64,
    requests: u64,
    wall: Duration,
    /// Every run's wall time (the row reports the median run).
    walls: Vec<Duration>,
    peak_rss_kib: u64,
    hwm_sampled_kib: u64,
    keys_used: u64,
    keys_issued: u64,
    /// User + system CPU time of the job process.
    cpu: Duration,
}

impl Row {
    fn flows(&self) -> u64 {
        self.projects * self.flows_per_project
    }

    /// `ceil(P/100) * L + ceil(P * ceil(F/100) / max_in_flight) * L`.
    fn floor(&self) -> Duration {
        floor(
            self.projects,
            self.flows_per_project,
            self.latency,
            self.max_in_flight,
        )
    }

    fn ratio(&self) -> Option<f64> {
        let floor = self.floor().as_secs_f64();
        (floor > 0.0).then(|| self.wall.as_secs_f64() / floor)
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

fn floor(projects: u64, flows: u64, latency: Duration, max_in_flight: u64) -> Duration {
    let project_pages = projects.div_ceil(PAGE);
    let flow_pages = projects * flows.div_ceil(PAGE);
    let rounds = project_pages + flow_pages.div_ceil(max_in_flight.max(1));
    latency * u32::try_from(rounds).unwrap_or(u32::MAX)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_table(rows: &[Row]) {
    println!(
        "{:>8} {:>8} {:>8} {:>13} {:>8} {:>8} {:>8} {:>10} {:>12} {:>9} {:>11} {:>6}",
        "projects",
        "flows",
        "latency",
        "max_in_flight",
        "requests",
        "wall_s",
        "floor_s",
        "wall/floor",
        "peak_rss_mib",
        "keys_used",
        "keys_issued",
        "cpu_s"
    );
    for r in rows {
        println!(
            "{:>8} {:>8} {:>8} {:>13} {:>8} {:>8.3} {:>8.3} {:>10} {:>12.1} {:>9} {:>11} {:>6.2}",
            r.projects,
            r.flows(),
            format!("{}ms", r.latency.as_millis()),
            r.max_in_flight,
            r.requests,
            r.wall.as_secs_f64(),
            r.floor().as_secs_f64(),
            r.ratio().map_or("-".into(), |x| format!("{x:.3}")),
            mib(r.peak_rss_kib),
            r.keys_used,
            r.keys_issued,
            r.cpu.as_secs_f64(),
        );
    }
    for r in rows {
        let walls: Vec<String> = r
            .walls
            .iter()
            .map(|w| format!("{:.3}", w.as_secs_f64()))
            .collect();
        println!(
            "  {}x{} max_in_flight {}: runs wall_s [{}], {:.0} requests/s, child's own VmHWM (sampled) {:.1} MiB",
            r.projects,
            r.flows_per_project,
            r.max_in_flight,
            walls.join(", "),
            r.rate(),
            mib(r.hwm_sampled_kib)
        );
    }
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

impl Results {
    fn print_targets(&self, opts: &Options) {
        println!("\n## Targets");
        if opts.small {
            println!("(BENCH_SMALL: the targets are meant for the full configuration)");
        }
        for r in &self.latency_rows {
            if r.max_in_flight >= 8
                && let Some(ratio) = r.ratio()
            {
                println!(
                    "wall/floor <= 1.25 at max_in_flight {}: {ratio:.3} {}",
                    r.max_in_flight,
                    verdict(ratio <= 1.25)
                );
            }
        }
        if let [small, large] = self.memory_rows.as_slice() {
            let (a, b) = (mib(small.peak_rss_kib), mib(large.peak_rss_kib));
            println!(
                "peak RSS at {} flows <= 1.2 x the {} flows figure: {b:.1} MiB vs {a:.1} MiB = {:.2}x {}",
                large.flows(),
                small.flows(),
                b / a,
                verdict(b <= 1.2 * a)
            );
            println!(
                "peak RSS at {} flows under 40 MiB: {b:.1} MiB {}",
                large.flows(),
                verdict(b < 40.0)
            );
        }
        if let Some(idle) = &self.idle {
            println!(
                "idle RSS under 20 MiB: {:.1} MiB (VmHWM {:.1} MiB) {}",
                mib(idle.rss_kib),
                mib(idle.hwm_kib),
                verdict(mib(idle.rss_kib) < 20.0)
            );
            let per_minute = idle.cpu.as_secs_f64() * 60.0 / idle.window.as_secs_f64();
            println!(
                "idle CPU under 0.5 s per minute: {per_minute:.3} s/min (start-up included) {}",
                verdict(per_minute < 0.5)
            );
        }
        if let Some(rps) = self.sandbox_rps {
            let fastest = self
                .latency_rows
                .iter()
                .max_by(|a, b| a.rate().total_cmp(&b.rate()));
            match fastest {
                Some(row) => println!(
                    "sandbox >= 10x the fastest latency-bound inventory row ({:.0} requests/s at max_in_flight {}): {rps:.0} requests/s = {:.1}x {}",
                    row.rate(),
                    row.max_in_flight,
                    rps / row.rate(),
                    verdict(rps >= 10.0 * row.rate())
                ),
                None => {
                    println!("sandbox >= 10x the fastest inventory row: n/a (scenario 1 not run)")
                }
            }
            for row in &self.memory_rows {
                println!(
                    "  (information: the latency-0 row {}x{} ran at {:.0} requests/s = sandbox / {:.1}; at latency 0 the sandbox shares the CPU with the job)",
                    row.projects,
                    row.flows_per_project,
                    row.rate(),
                    rps / row.rate()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

fn scenario_latency(opts: &Options, work: &Path, results: &mut Results) -> Result<()> {
    let (projects, flows, latency) = if opts.small {
        (20, 10, Duration::from_millis(5))
    } else {
        (1000, 50, Duration::from_millis(20))
    };
    println!(
        "\n## Scenario 1: inventory speed against the floor ({projects} projects x {flows} flows, latency {} ms)",
        latency.as_millis()
    );
    let sandbox = SandboxProc::start(work, "s1", projects, flows, latency)?;
    // What one flow page really takes (the configured latency plus the sandbox's timer
    // granularity and loopback), measured before the rows and outside them.
    let rtt = sandbox.round_trips(50)?;
    println!(
        "  sandbox round trip of one flow page, one connection at a time ({} samples): min {:.2} ms, median {:.2} ms, p90 {:.2} ms",
        rtt.len(),
        ms(rtt[0]),
        ms(rtt[rtt.len() / 2]),
        ms(rtt[rtt.len() * 9 / 10])
    );
    for max_in_flight in [1, 8, 32] {
        let row = inventory_row(opts, work, &sandbox, max_in_flight)?;
        results.latency_rows.push(row);
    }
    sandbox.stop()?;
    print_table(&results.latency_rows);
    let median = rtt[rtt.len() / 2];
    for r in &results.latency_rows {
        let rounds = r.floor().as_secs_f64() / r.latency.as_secs_f64();
        let effective = median.as_secs_f64() * rounds;
        println!(
            "  max_in_flight {}: floor with the measured median round trip {:.3} s, wall / that = {:.3}",
            r.max_in_flight,
            effective,
            r.wall.as_secs_f64() / effective
        );
    }
    Ok(())
}

fn scenario_memory(opts: &Options, work: &Path, results: &mut Results) -> Result<()> {
    let (shapes, flows) = if opts.small {
        ([20u64, 200], 10u64)
    } else {
        ([200, 2000], 100)
    };
    println!(
        "\n## Scenario 2: memory against organisation size ({} vs {} flows, latency 0, max_in_flight 8)",
        shapes[0] * flows,
        shapes[1] * flows
    );
    for projects in shapes {
        let sandbox = SandboxProc::start(work, "s2", projects, flows, Duration::ZERO)?;
        let row = inventory_row(opts, work, &sandbox, 8)?;
        sandbox.stop()?;
        results.memory_rows.push(row);
    }
    print_table(&results.memory_rows);
    Ok(())
}

/// Runs the job `opts.repeat` times against `sandbox` and reports the median run.
fn inventory_row(
    opts: &Options,
    work: &Path,
    sandbox: &SandboxProc,
    max_in_flight: u64,
) -> Result<Row> {
    let mut runs = Vec::new();
    for i in 0..opts.repeat {
        let dir = work.join(format!(
            "job-{}x{}-m{max_in_flight}-{i}",
            sandbox.projects, sandbox.flows
        ));
        fs::create_dir_all(&dir)?;
        let config = write_config(&dir, sandbox, max_in_flight, "0 0 0 1 1 *", "warn")?;
        let before = sandbox.stats()?;
        let run = run_job(&config, &dir)?;
        let after = sandbox.stats()?;
        let counts = &run.summary["counts"];
        ensure!(
            counts["projects"].as_u64() == Some(sandbox.projects)
                && counts["flows"].as_u64() == Some(sandbox.projects * sandbox.flows),
            "the inventory of {} projects x {} flows reported {counts}",
            sandbox.projects,
            sandbox.flows
        );
        let requests = json_u64(&run.summary, "requests")?;
        let resource_requests = (stat(&after, "requests_total")?
            - stat(&before, "requests_total")?)
            - (stat(&after, "management_requests")? - stat(&before, "management_requests")?);
        ensure!(
            resource_requests == requests,
            "summary.json counts {requests} requests but the sandbox answered {resource_requests}"
        );
        fs::remove_dir_all(&dir).ok();
        runs.push(Row {
            projects: sandbox.projects,
            flows_per_project: sandbox.flows,
            latency: sandbox.latency,
            max_in_flight,
            requests,
            wall: run.wall,
            walls: Vec::new(),
            peak_rss_kib: run.maxrss_kib,
            hwm_sampled_kib: run.hwm_sampled_kib,
            keys_used: json_u64(&run.summary, "key_rotations")? + 1,
            keys_issued: stat(&after, "keys_issued")? - stat(&before, "keys_issued")?,
            cpu: run.cpu,
        });
        println!(
            "  run {}x{} max_in_flight {max_in_flight} #{}: wall {:.3} s, ru_maxrss {:.1} MiB (bench's own VmHWM {:.1} MiB)",
            sandbox.projects,
            sandbox.flows,
            i + 1,
            run.wall.as_secs_f64(),
            mib(run.maxrss_kib),
            mib(own_hwm_kib())
        );
    }
    let walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
    runs.sort_by_key(|r| r.wall);
    let mut row = runs[runs.len() / 2].clone();
    row.walls = walls;
    Ok(row)
}

struct IdleResult {
    window: Duration,
    rss_kib: u64,
    hwm_kib: u64,
    cpu: Duration,
    cpu_after_start: Duration,
    threads: u64,
    /// Context switches of all threads per second after start-up: how often it wakes.
    wakeups_per_s: f64,
}

fn scenario_idle(opts: &Options, work: &Path, results: &mut Results) -> Result<()> {
    println!(
        "\n## Scenario 3: idle daemon (`cognigy-warden run`, no job due) for {} s",
        opts.idle.as_secs()
    );
    let sandbox = SandboxProc::start(work, "s3", 12, 8, Duration::ZERO)?;
    let dir = work.join("idle");
    fs::create_dir_all(&dir)?;
    let config = write_config(&dir, &sandbox, 8, "0 0 0 1 1 *", "info")?;
    let stderr = dir.join("daemon.stderr");
    let started = Instant::now();
    let child = warden_command(&config)
        .arg("run")
        .env("WARDEN_ADMIN__LISTEN", "127.0.0.1:0")
        .stdout(File::create(dir.join("daemon.stdout"))?)
        .stderr(File::create(&stderr)?)
        .spawn()
        .context("starting `cognigy-warden run`")?;
    let mut daemon = ChildGuard::new(child, "cognigy-warden run");
    let pid = daemon.pid();
    // Steady state: CPU counted from a point after start-up as well as in total.
    let settle = (opts.idle / 10).min(Duration::from_secs(5));
    sleep_until(started + settle);
    daemon.ensure_running()?;
    let cpu_settled = proc_cpu(pid)?;
    let (switches_settled, settled_at) = (context_switches(pid)?, Instant::now());
    sleep_until(started + opts.idle);
    daemon.ensure_running()?;
    let window = started.elapsed();
    let status = proc_status(pid)?;
    let cpu = proc_cpu(pid)?;
    let switches = context_switches(pid)?.saturating_sub(switches_settled);
    let result = IdleResult {
        window,
        rss_kib: status_kib(&status, "VmRSS")?,
        hwm_kib: status_kib(&status, "VmHWM")?,
        cpu,
        cpu_after_start: cpu.saturating_sub(cpu_settled),
        threads: status_kib(&status, "Threads")?,
        wakeups_per_s: switches as f64 / settled_at.elapsed().as_secs_f64().max(1e-9),
    };
    // After the measurement: the daemon must be healthy (it holds a key and serves /readyz).
    let admin = admin_address(&stderr)?;
    let (code, _) = http_get(admin, "/readyz")?;
    ensure!(
        code == 200,
        "the idle daemon answered /readyz with {code}; see {}",
        stderr.display()
    );
    let keys = stat(&sandbox.stats()?, "keys_issued")?;
    ensure!(
        keys == 1,
        "the idle daemon created {keys} keys in {:.0} s (expected 1)",
        window.as_secs_f64()
    );
    let exit = daemon.terminate(Duration::from_secs(30))?;
    ensure!(
        exit == 0,
        "`cognigy-warden run` exited with {exit} after SIGTERM; see {}",
        stderr.display()
    );
    sandbox.stop()?;
    println!(
        "{:>8} {:>10} {:>11} {:>10} {:>13} {:>12} {:>7} {:>9}",
        "window_s",
        "rss_mib",
        "vmhwm_mib",
        "cpu_s",
        "cpu_s_per_min",
        "cpu_after_start_s",
        "threads",
        "wakeups_s"
    );
    println!(
        "{:>8.1} {:>10.1} {:>11.1} {:>10.3} {:>13.3} {:>12.3} {:>7} {:>9.1}",
        result.window.as_secs_f64(),
        mib(result.rss_kib),
        mib(result.hwm_kib),
        result.cpu.as_secs_f64(),
        result.cpu.as_secs_f64() * 60.0 / result.window.as_secs_f64(),
        result.cpu_after_start.as_secs_f64(),
        result.threads,
        result.wakeups_per_s
    );
    println!(
        "  (cpu_after_start_s: CPU used after the first {:.1} s; wakeups_s: context switches per second since then, all threads; /readyz answered 200 at the end, exit 0 after SIGTERM)",
        settle.as_secs_f64()
    );
    results.idle = Some(result);
    Ok(())
}

fn scenario_sandbox_throughput(opts: &Options, work: &Path, results: &mut Results) -> Result<()> {
    let (projects, flows) = if opts.small { (20, 10) } else { (1000, 50) };
    println!(
        "\n## Scenario 4: sandbox throughput on loopback, latency 0 ({projects} projects x {flows} flows, {} s per measurement)",
        opts.load.as_secs()
    );
    let sandbox = SandboxProc::start(work, "s4", projects, flows, Duration::ZERO)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the load generator's runtime")?;
    let measured = runtime.block_on(load::measure(&sandbox, opts.load));
    sandbox.stop()?;
    let measured = measured?;
    println!(
        "{:>8} {:>16} {:>10} {:>12} {:>10}",
        "clients", "request", "requests", "requests_s", "mib_s"
    );
    for m in &measured {
        println!(
            "{:>8} {:>16} {:>10} {:>12.0} {:>10.1}",
            m.clients,
            m.kind,
            m.requests,
            m.rate(),
            m.bytes as f64 / 1_048_576.0 / m.elapsed.as_secs_f64()
        );
    }
    results.sandbox_rps = measured
        .iter()
        .filter(|m| m.kind == load::FLOW_PAGE)
        .map(load::Measured::rate)
        .max_by(f64::total_cmp);
    Ok(())
}

/// The load generator of scenario 4: N keep-alive clients, each its own connection.
mod load {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub const FLOW_PAGE: &str = "flows page";
    pub const SMALL_PAGE: &str = "flows limit=1";

    pub struct Measured {
        pub clients: usize,
        pub kind: &'static str,
        pub requests: u64,
        pub bytes: u64,
        pub elapsed: Duration,
    }

    impl Measured {
        pub fn rate(&self) -> f64 {
            self.requests as f64 / self.elapsed.as_secs_f64()
        }
    }

    pub async fn measure(sandbox: &SandboxProc, each: Duration) -> Result<Vec<Measured>> {
        let client = reqwest::Client::new();
        let key: Value = client
            .post(format!(
                "{}/new/management/v2.0/organisations/{}/apikeys",
                sandbox.base_url, sandbox.organisation
            ))
            .basic_auth(USERNAME, Some(&sandbox.password))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let key = key["apiKey"]
            .as_str()
            .ok_or_else(|| anyhow!("the sandbox's key answer has no apiKey"))?
            .to_string();
        let projects = project_ids(&client, sandbox, &key).await?;
        ensure!(
            projects.len() as u64 == sandbox.projects,
            "listed {} projects",
            projects.len()
        );
        let projects = Arc::new(projects);
        let mut out = Vec::new();
        for clients in [1usize, 8, 32] {
            for (kind, limit) in [(FLOW_PAGE, "100"), (SMALL_PAGE, "1")] {
                out.push(run_clients(sandbox, &key, &projects, clients, kind, limit, each).await?);
            }
        }
        Ok(out)
    }

    async fn project_ids(
        client: &reqwest::Client,
        sandbox: &SandboxProc,
        key: &str,
    ) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        // Bounded: one page per 100 projects, plus one.
        for _ in 0..=sandbox.projects.div_ceil(PAGE) {
            let mut query = vec![("limit", "100".to_string())];
            if let Some(c) = &cursor {
                query.push(("next", c.clone()));
            }
            let page: Value = client
                .get(format!("{}/new/v2.0/projects", sandbox.base_url))
                .header("X-API-Key", key)
                .query(&query)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            for item in page["items"].as_array().into_iter().flatten() {
                ids.push(item["_id"].as_str().unwrap_or_default().to_string());
            }
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(ids),
            }
        }
        bail!("the project list did not end after the expected number of pages")
    }

    async fn run_clients(
        sandbox: &SandboxProc,
        key: &str,
        projects: &Arc<Vec<String>>,
        clients: usize,
        kind: &'static str,
        limit: &'static str,
        each: Duration,
    ) -> Result<Measured> {
        let before = stat(&sandbox.stats()?, "requests_total")?;
        let requests = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + each;
        let mut tasks = Vec::new();
        for c in 0..clients {
            // One client per task with one pooled connection: N keep-alive connections.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .build()?;
            let url = format!("{}/new/v2.0/flows", sandbox.base_url);
            let (key, projects) = (key.to_string(), projects.clone());
            let (requests, bytes) = (requests.clone(), bytes.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = c;
                // Bounded by the deadline and by a count no loopback server reaches in time.
                for _ in 0..10_000_000u64 {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let project = &projects[i % projects.len()];
                    i += clients;
                    let resp = client
                        .get(&url)
                        .header("X-API-Key", &key)
                        .query(&[("projectId", project.as_str()), ("limit", limit)])
                        .send()
                        .await?;
                    let status = resp.status();
                    let body = resp.bytes().await?;
                    ensure!(status.is_success(), "the sandbox answered {status}");
                    requests.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let elapsed = started.elapsed();
        let requests = requests.load(Ordering::Relaxed);
        let served = stat(&sandbox.stats()?, "requests_total")? - before;
        ensure!(
            served == requests,
            "the load generator counted {requests} answers, the sandbox {served}"
        );
        Ok(Measured {
            clients,
            kind,
            requests,
            bytes: bytes.load(Ordering::Relaxed),
            elapsed,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

fn bin() -> &'static Path {
    BIN.get()
        .map_or(Path::new("cognigy-warden"), PathBuf::as_path)
}

/// `cargo build --release --bin cognigy-warden`; returns the executable cargo reports.
fn build_release_binary() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    println!("building: cargo build --release --bin cognigy-warden");
    let mut cmd = Command::new(&cargo);
    // Variables the outer `cargo bench` sets for this process describe the bench, not the
    // build; build scripts track some of them, and passing them on would rebuild dependencies.
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("CARGO_PKG_")
            || n.starts_with("CARGO_MANIFEST_")
            || n.starts_with("CARGO_BIN_")
            || matches!(
                n.as_ref(),
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(&name);
        }
    }
    let output = cmd
        .args(["build", "--release", "--bin", "cognigy-warden"])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running `cargo build --release --bin cognigy-warden`")?;
    ensure!(
        output.status.success(),
        "`cargo build --release --bin cognigy-warden` failed ({})",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "cognigy-warden")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| anyhow!("`cargo build` reported no cognigy-warden executable"))
}

/// Kills (SIGKILL) and reaps a child that is still running when the guard is dropped, so an
/// error path never leaves a process behind.
struct ChildGuard {
    child: Option<Child>,
    what: &'static str,
}

impl ChildGuard {
    fn new(child: Child, what: &'static str) -> Self {
        ChildGuard {
            child: Some(child),
            what,
        }
    }

    fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .map_or(0, |c| i32::try_from(c.id()).unwrap_or(0))
    }

    fn ensure_running(&mut self) -> Result<()> {
        if let Some(child) = &mut self.child
            && let Some(status) = child.try_wait()?
        {
            self.child = None;
            bail!("{} exited early with {status}", self.what);
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `grace`; returns the exit code (SIGKILL after `grace`).
    fn terminate(&mut self, grace: Duration) -> Result<i32> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.what);
        };
        if let Some(status) = child.try_wait()? {
            return Ok(status.code().unwrap_or(-1));
        }
        // SAFETY: `kill` with a pid we spawned and have not reaped yet.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "{} did not stop within {} s of SIGTERM",
            self.what,
            grace.as_secs()
        )
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The binary with a clean environment for its configuration (no inherited `WARDEN_*` or
/// `RUST_LOG` changes what is measured).
fn warden_command(config: &Path) -> Command {
    let mut cmd = Command::new(bin());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("WARDEN_") || n == "RUST_LOG" {
            cmd.env_remove(&name);
        }
    }
    cmd.arg("--config").arg(config).stdin(Stdio::null());
    cmd
}

/// A `cognigy-warden sandbox` process.
struct SandboxProc {
    guard: ChildGuard,
    addr: SocketAddr,
    base_url: String,
    organisation: String,
    password: String,
    projects: u64,
    flows: u64,
    latency: Duration,
}

impl SandboxProc {
    fn start(
        work: &Path,
        name: &str,
        projects: u64,
        flows: u64,
        latency: Duration,
    ) -> Result<Self> {
        let password = format!("bench-{:016x}", rand::random::<u64>());
        let log = work.join(format!("sandbox-{name}-{projects}x{flows}.stderr"));
        let mut child = Command::new(bin())
            .args(["sandbox", "--listen", "127.0.0.1:0", "--ttl", "15m"])
            .args(["--projects", &projects.to_string()])
            .args(["--flows-per-project", &flows.to_string()])
            .args(["--latency", &format!("{}ms", latency.as_millis())])
            .args(["--username", USERNAME, "--password", &password])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?)
            .spawn()
            .context("starting `cognigy-warden sandbox`")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout pipe"))?;
        let guard = ChildGuard::new(child, "cognigy-warden sandbox");
        // The first line arrives once the organisation is generated; read it off-thread so the
        // wait is bounded. The thread then drains stdout until the sandbox exits.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(first);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(SANDBOX_START_DEADLINE) {
            Ok(line) => line?,
            Err(_) => bail!(
                "the sandbox printed no first line within {} s; see {}",
                SANDBOX_START_DEADLINE.as_secs(),
                log.display()
            ),
        };
        // `sandbox listening on http://ADDR organisation ORGID user USERNAME`
        let words: Vec<&str> = line.split_whitespace().collect();
        let (base_url, organisation) = match words.as_slice() {
            [
                "sandbox",
                "listening",
                "on",
                url,
                "organisation",
                org,
                "user",
                user,
            ] if *user == USERNAME => (url.to_string(), org.to_string()),
            _ => bail!(
                "unexpected first line from the sandbox: {line:?} (see {})",
                log.display()
            ),
        };
        let addr: SocketAddr = base_url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow!("the sandbox's address {base_url} is not http://IP:PORT"))?;
        Ok(SandboxProc {
            guard,
            addr,
            base_url,
            organisation,
            password,
            projects,
            flows,
            latency,
        })
    }

    /// A new Super API-Key (management route, HTTP Basic).
    fn create_key(&self) -> Result<String> {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{USERNAME}:{}", self.password));
        let (code, body) = http_request(
            self.addr,
            "POST",
            &format!(
                "/new/management/v2.0/organisations/{}/apikeys",
                self.organisation
            ),
            &format!("Authorization: Basic {basic}\r\n"),
        )?;
        ensure!(code == 200, "creating a key answered {code}: {body}");
        let v: Value = serde_json::from_str(&body)?;
        v["apiKey"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("the key answer has no apiKey"))
    }

    /// `n` sequential round trips of the first project's flow page, sorted (fresh connection
    /// each: on loopback that adds a few microseconds).
    fn round_trips(&self, n: usize) -> Result<Vec<Duration>> {
        let key = self.create_key()?;
        let auth = format!("X-API-Key: {key}\r\n");
        let (code, body) = http_request(self.addr, "GET", "/new/v2.0/projects?limit=1", &auth)?;
        ensure!(code == 200, "listing projects answered {code}");
        let page: Value = serde_json::from_str(&body)?;
        let project = page["items"][0]["_id"]
            .as_str()
            .ok_or_else(|| anyhow!("the sandbox has no project"))?
            .to_string();
        let path = format!("/new/v2.0/flows?projectId={project}&limit=100");
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let (code, _) = http_request(self.addr, "GET", &path, &auth)?;
            samples.push(t.elapsed());
            ensure!(code == 200, "a flow page answered {code}");
        }
        samples.sort();
        Ok(samples)
    }

    /// `GET /_sandbox/stats`.
    fn stats(&self) -> Result<Value> {
        let (code, body) = http_get(self.addr, "/_sandbox/stats")?;
        ensure!(code == 200, "GET /_sandbox/stats answered {code}");
        Ok(serde_json::from_str(&body)?)
    }

    fn stop(mut self) -> Result<()> {
        let code = self.guard.terminate(Duration::from_secs(10))?;
        ensure!(code == 0, "the sandbox exited with {code} after SIGTERM");
        Ok(())
    }
}

/// Writes the password file and a configuration with one flows-inventory job.
fn write_config(
    dir: &Path,
    sandbox: &SandboxProc,
    max_in_flight: u64,
    schedule: &str,
    log_level: &str,
) -> Result<PathBuf> {
    let password_file = dir.join("management-password");
    write_private(&password_file, &format!("{}\n", sandbox.password))?;
    let mut toml = String::new();
    writeln!(
        toml,
        r#"[cognigy]
base_url = "{base}"
organisation_id = "{org}"
management_username = "{USERNAME}"
management_password_file = "{pw}"
max_in_flight = {max_in_flight}
request_timeout = "30s"

[log]
format = "json"
level = "{log_level}"

[reports]
dir = "{reports}"
keep_runs = 1

[admin]
listen = "127.0.0.1:0"
shutdown_grace = "5s"

[jobs.flows]
kind = "flows-inventory"
schedule = "{schedule}"
timeout = "30m""#,
        base = sandbox.base_url,
        org = sandbox.organisation,
        pw = password_file.display(),
        reports = dir.join("reports").display(),
    )?;
    let path = dir.join("warden.toml");
    fs::write(&path, toml)?;
    Ok(path)
}

fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

struct JobRun {
    wall: Duration,
    cpu: Duration,
    maxrss_kib: u64,
    hwm_sampled_kib: u64,
    summary: Value,
}

/// `cognigy-warden --config FILE jobs run flows`: wall time from spawn to exit, `ru_maxrss`
/// from `wait4`, and the run's `summary.json`.
fn run_job(config: &Path, dir: &Path) -> Result<JobRun> {
    let stdout_path = dir.join("job.stdout");
    let stderr_path = dir.join("job.stderr");
    let mut cmd = warden_command(config);
    cmd.args(["jobs", "run", "flows"])
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?);
    let started = Instant::now();
    let child = cmd.spawn().context("starting `cognigy-warden jobs run`")?;
    let pid = i32::try_from(child.id())?;
    // The child is reaped below with wait4; `Child` has nothing else to release.
    drop(child);

    // A watchdog samples the child's own VmHWM and kills it if it outlives the deadline. It can
    // signal safely: the pid is not reaped (so not reused) until the watchdog has stopped.
    let (stop, stopped) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let mut hwm = 0u64;
        let mut killed = false;
        loop {
            if let Some(kib) = proc_status(pid)
                .ok()
                .and_then(|s| status_kib(&s, "VmHWM").ok())
            {
                hwm = hwm.max(kib);
            }
            match stopped.recv_timeout(HWM_SAMPLE) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if !killed && started.elapsed() > JOB_DEADLINE {
                        // SAFETY: the pid is our unreaped child (see above).
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        killed = true;
                    }
                }
                _ => return (hwm, killed),
            }
        }
    });
    let exited = wait_exit_without_reaping(pid);
    let wall = started.elapsed();
    let _ = stop.send(());
    let (hwm_sampled_kib, killed) = watchdog
        .join()
        .map_err(|_| anyhow!("the watchdog thread panicked"))?;
    exited?;
    let (status, rusage) = reap(pid)?;
    let stderr_tail = || tail(&stderr_path);
    ensure!(
        !killed,
        "the job ran longer than {} s and was killed; log: {}",
        JOB_DEADLINE.as_secs(),
        stderr_tail()
    );
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "`cognigy-warden jobs run flows` failed (wait status {status}): {}",
        stderr_tail()
    );
    let stdout = fs::read_to_string(&stdout_path)?;
    let report = stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .ok_or_else(|| anyhow!("the job printed no `report:` line: {stdout:?}"))?;
    let summary_path = Path::new(report.trim()).join("summary.json");
    let summary: Value = serde_json::from_slice(
        &fs::read(&summary_path).with_context(|| format!("reading {}", summary_path.display()))?,
    )?;
    // `ru_maxrss` is in KiB on Linux.
    let timeval = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(JobRun {
        wall,
        cpu: timeval(rusage.ru_utime) + timeval(rusage.ru_stime),
        maxrss_kib: u64::try_from(rusage.ru_maxrss).unwrap_or(0),
        hwm_sampled_kib,
        summary,
    })
}

/// Blocks until `pid` has exited, leaving it unreaped (`waitid` with `WNOWAIT`).
fn wait_exit_without_reaping(pid: i32) -> Result<()> {
    // Bounded: EINTR is the only reason to go round again.
    for _ in 0..1000 {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waits on our own child; `info` outlives the call.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("waitid on the job process");
        }
    }
    bail!("waitid kept being interrupted")
}

/// Reaps `pid` with `wait4`: its wait status and resource usage.
fn reap(pid: i32) -> Result<(i32, libc::rusage)> {
    for _ in 0..1000 {
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: reaps our own child; both out-parameters outlive the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("wait4 on the job process");
        }
    }
    bail!("wait4 kept being interrupted")
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn json_u64(v: &Value, field: &str) -> Result<u64> {
    v[field]
        .as_u64()
        .ok_or_else(|| anyhow!("summary.json has no number `{field}`: {v}"))
}

fn stat(stats: &Value, field: &str) -> Result<u64> {
    stats[field]
        .as_u64()
        .ok_or_else(|| anyhow!("/_sandbox/stats has no number `{field}`: {stats}"))
}

/// The last lines of a log file, for error messages.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(10);
    format!(
        "{} (last lines of {})",
        lines[start..].join("\n"),
        path.display()
    )
}

fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    http_request(addr, "GET", path, "")
}

/// A minimal HTTP/1.1 request without a body over loopback (no async runtime in this process
/// until scenario 4). `headers` are extra `Name: value\r\n` lines.
fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    let length = if method == "GET" {
        ""
    } else {
        "Content-Length: 0\r\n"
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n{headers}{length}Connection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream
        .take(16 * 1024 * 1024)
        .read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("GET {path} on {addr}: no complete HTTP answer"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("GET {path} on {addr}: no status line"))?;
    ensure!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "GET {path} on {addr}: chunked answers are not supported here"
    );
    Ok((code, body.to_string()))
}

/// The admin address the daemon logs at start (`"admin":"127.0.0.1:PORT"`), waited for a while.
fn admin_address(log: &Path) -> Result<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line)
                && v["message"] == "cognigy-warden started"
                && let Some(addr) = v["admin"].as_str().and_then(|a| a.parse().ok())
            {
                return Ok(addr);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the daemon logged no `cognigy-warden started` line with its admin address: {}",
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn proc_status(pid: i32) -> Result<String> {
    Ok(fs::read_to_string(format!("/proc/{pid}/status"))?)
}

/// A `Name:   123 kB` (or plain number) line of /proc/PID/status.
fn status_kib(status: &str, name: &str) -> Result<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("/proc status has no {name}"))
}

/// utime + stime of /proc/PID/stat.
fn proc_cpu(pid: i32) -> Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of stat(5); `rest` starts at field 3.
    let ticks: u64 = fields
        .get(11)
        .zip(fields.get(12))
        .and_then(|(u, s)| Some(u.parse::<u64>().ok()? + s.parse::<u64>().ok()?))
        .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat"))?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

/// Voluntary and involuntary context switches of every thread of `pid`.
fn context_switches(pid: i32) -> Result<u64> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let status = fs::read_to_string(task?.path().join("status"))?;
        total += status_kib(&status, "voluntary_ctxt_switches")?;
        total += status_kib(&status, "nonvoluntary_ctxt_switches")?;
    }
    Ok(total)
}

fn own_hwm_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| status_kib(&s, "VmHWM").ok())
        .unwrap_or(0)
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}
