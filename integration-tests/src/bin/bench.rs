//! `make bench`: measures DriftGuard on the local stack and writes
//! docs/benchmarks.md (see `local_stack::bench`). Not part of `make test`.
//!
//! ```text
//! bench [--out docs/benchmarks.md] [--quick] [--only 1,2,3,4,5,6,7]
//! ```
//! `--quick` runs a small version of every part (for trying the benchmark
//! itself out); `--only` runs some parts. `--only 6` (the plan summary at
//! scale, no stack) and `--only 7` (fixed against learned poll schedule: the
//! same checks on the stack, about 15 minutes, and simulated) rewrite only
//! their own sections of an existing report. Expects the native release builds
//! of the functions in target/release (the Makefile builds them first) and
//! `make package`'s zips for the arm64 sizes.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use local_stack::bench::{
    Results, checks, coalescing, functions, load, machine, markdown, overhead, plan_summary,
    schedule, schedule_checks,
};
use local_stack::{LocalStack, StackOptions, events};

struct Args {
    out: PathBuf,
    quick: bool,
    parts: BTreeSet<u32>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        out: events::repo_root().join("docs/benchmarks.md"),
        quick: false,
        parts: (1..=7).collect(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => a.out = PathBuf::from(it.next().context("--out needs a path")?),
            "--quick" => a.quick = true,
            "--only" => {
                a.parts = it
                    .next()
                    .context("--only needs a list such as 1,3")?
                    .split(',')
                    .map(|p| {
                        p.trim()
                            .parse::<u32>()
                            .context("--only takes part numbers 1-7")
                    })
                    .collect::<Result<_>>()?;
            }
            "-h" | "--help" => {
                println!("bench [--out docs/benchmarks.md] [--quick] [--only 1,2,3,4,5,6,7]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    Ok(a)
}

fn err(e: anyhow::Error) -> String {
    format!("{e:#}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let args = args()?;
    let began = Instant::now();
    let repo = events::repo_root();
    let part = |n: u32| args.parts.contains(&n);

    let plan_durations: Vec<u64> = if args.quick {
        vec![30]
    } else {
        vec![30, 120, 600]
    };
    let burst_sizes: Vec<usize> = if args.quick {
        vec![10]
    } else {
        vec![10, 100, 1000]
    };
    let function_options = if args.quick {
        functions::Options {
            starts: 3,
            invocations: 30,
        }
    } else {
        functions::Options {
            starts: 20,
            invocations: 1000,
        }
    };
    let load_options: Vec<load::LoadOptions> = if args.quick {
        vec![load::LoadOptions {
            label: "quick".into(),
            checks: 20,
            workspaces: 5,
            spread_seconds: 5.0,
            min_plan_seconds: 5.0,
            max_plan_seconds: 20.0,
            paced: true,
        }]
    } else {
        let storm = |label: &str, spread_seconds: f64, max_plan_seconds: f64, paced: bool| {
            load::LoadOptions {
                label: label.into(),
                checks: 200,
                workspaces: 50,
                spread_seconds,
                min_plan_seconds: 20.0,
                max_plan_seconds,
                paced,
            }
        };
        vec![
            storm("events over a minute", 60.0, 300.0, true),
            storm("all in the same second (worst case)", 0.0, 120.0, true),
            storm(
                "events over a minute, pacing off (for comparison)",
                60.0,
                300.0,
                false,
            ),
        ]
    };
    let overhead_checks = if args.quick { 3 } else { 20 };

    let mut results = Results {
        machine: machine::describe(&repo),
        command: "make bench".into(),
        load_average_start: machine::load_average(),
        function_options: Some(function_options.clone()),
        ..Default::default()
    };
    let every_part = args.parts.len() == 7;
    if !every_part || args.quick {
        let mut given = Vec::new();
        if args.quick {
            given.push("--quick".to_string());
        }
        if !every_part {
            let parts: Vec<String> = args.parts.iter().map(u32::to_string).collect();
            given.push(format!("--only {}", parts.join(",")));
        }
        results.command = format!("make bench BENCH_ARGS=\"{}\"", given.join(" "));
    }
    if args.quick {
        results
            .notes
            .push("--quick: a small version of every part, not the full benchmark.".into());
    }
    if part(1)
        && let Some(note) = functions::zip_staleness(&repo)
    {
        results.notes.push(note);
    }
    let work = repo
        .join("integration-tests/.work")
        .join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;

    // Part 7's checks on the stack: both schedules on the same drawn plans.
    let schedule_checks = if args.quick {
        schedule_checks::plan(&[30], 1, 7)
    } else {
        schedule_checks::plan(&[30, 120, 600], 3, 7)
    };

    // The stack with production settings (parts 1–4 and 7 use it, or its emulators).
    let needs_stack = part(1) || part(2) || part(3) || part(7);
    let production = StackOptions {
        environment: "bench".into(),
        workspaces: {
            let mut w = checks::workspace_specs(&plan_durations);
            w.extend(coalescing::workspace_specs(&burst_sizes));
            w.extend(schedule_checks::workspace_specs(&schedule_checks));
            w
        },
        settle_seconds: 60,
        poll_min_wait_seconds: 5,
        poll_max_wait_seconds: 60,
        plan_timeout_seconds: 1800,
        lambda_concurrency: 6,
        ..StackOptions::default()
    };
    results.settle_seconds = production.settle_seconds;
    // Both stacks start together (Terraform applies in parallel); the
    // minimal-wait one serves part 5 first and is stopped before part 1.
    let minimal_start = part(5).then(|| {
        eprintln!("[bench] starting a second stack with minimal waits (part 5)");
        tokio::spawn(async move {
            let t = Instant::now();
            (
                LocalStack::start(overhead::stack_options()).await,
                t.elapsed(),
            )
        })
    });
    let stack = if needs_stack {
        eprintln!("[bench] starting the local stack (production settings)");
        let t = Instant::now();
        let stack = Arc::new(
            LocalStack::start(production)
                .await
                .context("start the local stack")?,
        );
        results
            .stack_start
            .push(format!("production settings: {}", stack.timings));
        results
            .parts
            .push(("stack start".into(), t.elapsed().as_secs_f64()));
        Some(stack)
    } else {
        None
    };
    let minimal = match minimal_start {
        Some(task) => match task.await {
            Ok((Ok(minimal), took)) => {
                results
                    .stack_start
                    .push(format!("minimal waits: {}", minimal.timings));
                results
                    .parts
                    .push(("second stack start".into(), took.as_secs_f64()));
                Some(minimal)
            }
            Ok((Err(first), _)) => {
                // Two stacks warming up 16 functions at once on 2 cores can time
                // out; the first stack is up now, so try once more alone.
                eprintln!("[bench] second stack failed ({first:#}); starting it again");
                let t = Instant::now();
                match LocalStack::start(overhead::stack_options()).await {
                    Ok(minimal) => {
                        results.stack_start.push(format!(
                            "minimal waits (second attempt): {}",
                            minimal.timings
                        ));
                        results
                            .parts
                            .push(("second stack start".into(), t.elapsed().as_secs_f64()));
                        Some(minimal)
                    }
                    Err(e) => {
                        results.overhead = Some(Err(format!(
                            "second stack: {e:#} (first attempt: {first:#})"
                        )));
                        None
                    }
                }
            }
            Err(e) => {
                results.overhead = Some(Err(format!("task: {e}")));
                None
            }
        },
        None => None,
    };

    // 2. Checks with real waits, in the background from the start (the longest part).
    let checks_task = match (&stack, part(2)) {
        (Some(stack), true) => {
            eprintln!("[bench] part 2: checks with plans of {plan_durations:?} s (background)");
            let stack = stack.clone();
            let durations = plan_durations.clone();
            Some(tokio::spawn(async move {
                let t = Instant::now();
                (checks::run_all(stack, durations).await, t.elapsed())
            }))
        }
        _ => None,
    };

    // 7. Both schedules on the stack, in the background too (real waits).
    let schedule_task = match (&stack, part(7)) {
        (Some(stack), true) => {
            eprintln!(
                "[bench] part 7: {} checks, fixed and learned schedule (background)",
                schedule_checks.len()
            );
            let stack = stack.clone();
            Some(tokio::spawn(async move {
                let t = Instant::now();
                (
                    schedule_checks::run_all(stack, schedule_checks).await,
                    t.elapsed(),
                )
            }))
        }
        _ => None,
    };

    // 6. The plan summary at scale, first: no stack, and the machine is quietest now.
    if part(6) {
        let sizes: Vec<usize> = if args.quick {
            vec![1_000, 10_000]
        } else {
            vec![1_000, 10_000, 100_000]
        };
        eprintln!("[bench] part 6: summarizing generated plans of {sizes:?} resource changes");
        let t = Instant::now();
        let repo = repo.clone();
        let dir = work.join("plans");
        results.plan_summary = Some(
            tokio::task::spawn_blocking(move || plan_summary::run(&repo, &dir, &sizes))
                .await
                .map_err(|e| format!("task: {e}"))
                .and_then(|r| r.map_err(err)),
        );
        results
            .parts
            .push(("plan summary".into(), t.elapsed().as_secs_f64()));
    }

    // 7. Poll schedules side by side, simulated (a second).
    if part(7) {
        eprintln!("[bench] part 7: fixed against learned poll schedule (simulated)");
        let t = Instant::now();
        let checks = if args.quick { 200 } else { 2000 };
        results.schedule = Some(
            [30, 120, 600]
                .iter()
                .map(|&typical| schedule::run(typical, checks, 16 + typical))
                .collect(),
        );
        results
            .parts
            .push(("poll schedules".into(), t.elapsed().as_secs_f64()));
    }

    // 5. End-to-end overhead, first: the machine is quietest now.
    if let Some(minimal) = minimal {
        eprintln!("[bench] part 5: {overhead_checks} checks, one after the other");
        let t = Instant::now();
        results.overhead = Some(overhead::run(&minimal, overhead_checks).await.map_err(err));
        results
            .parts
            .push(("overhead".into(), t.elapsed().as_secs_f64()));
        drop(minimal);
    }

    // 1. Functions.
    if let (Some(stack), true) = (&stack, part(1)) {
        eprintln!("[bench] part 1: functions");
        let t = Instant::now();
        results.functions = Some(
            functions::measure(stack, &function_options, &work)
                .await
                .map_err(err),
        );
        results
            .parts
            .push(("functions".into(), t.elapsed().as_secs_f64()));
    }

    // 4. Rate under load, in the background (its own emulators).
    let load_task = if part(4) {
        eprintln!("[bench] part 4: rate under load (background)");
        Some(tokio::spawn(async move {
            let t = Instant::now();
            let runs: Vec<_> = load_options
                .into_iter()
                .map(|o| tokio::spawn(load::run(o)))
                .collect();
            let mut out = Vec::new();
            for r in runs {
                out.push(match r.await {
                    Ok(r) => r.map_err(err),
                    Err(e) => Err(format!("task: {e}")),
                });
            }
            (out, t.elapsed())
        }))
    } else {
        None
    };

    // 3. Coalescing.
    if let (Some(stack), true) = (&stack, part(3)) {
        let t = Instant::now();
        for (i, &size) in burst_sizes.iter().enumerate() {
            let method = if size <= 100 {
                coalescing::Method::Full
            } else {
                coalescing::Method::AdmitStep
            };
            eprintln!(
                "[bench] part 3: burst of {size} events ({})",
                method.describe()
            );
            let r = coalescing::run(stack, i, size, method).await.map_err(err);
            match &r {
                Ok(b) => eprintln!(
                    "[bench] burst of {size}: {} runs, {} messages",
                    b.runs_created, b.slack_messages
                ),
                Err(e) => eprintln!("[bench] burst of {size}: {e}"),
            }
            results.bursts.push((size, r));
        }
        results
            .parts
            .push(("coalescing".into(), t.elapsed().as_secs_f64()));
    }

    if let Some(task) = load_task {
        eprintln!("[bench] waiting for part 4");
        match task.await {
            Ok((out, took)) => {
                results.load = out;
                results
                    .parts
                    .push(("rate under load".into(), took.as_secs_f64()));
            }
            Err(e) => results.load = vec![Err(format!("task: {e}"))],
        }
    }
    if let Some(task) = checks_task {
        eprintln!("[bench] waiting for part 2 (the longest plan takes its full time)");
        match task.await {
            Ok((out, took)) => {
                results.checks = out.into_iter().map(|(d, r)| (d, r.map_err(err))).collect();
                results.parts.push(("checks".into(), took.as_secs_f64()));
            }
            Err(e) => results.notes.push(format!("part 2 task failed: {e}")),
        }
    }
    if let Some(task) = schedule_task {
        eprintln!("[bench] waiting for part 7's checks");
        match task.await {
            Ok((out, took)) => {
                results.schedule_checks =
                    out.into_iter().map(|(c, r)| (c, r.map_err(err))).collect();
                results
                    .parts
                    .push(("poll schedules on the stack".into(), took.as_secs_f64()));
            }
            Err(e) => results.notes.push(format!("part 7 task failed: {e}")),
        }
    }
    drop(stack);

    results.load_average_end = machine::load_average();
    results.run_seconds = began.elapsed().as_secs_f64();
    results.make_seconds = std::env::var("BENCH_MAKE_STARTED")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|t0| (chrono::Utc::now().timestamp() - t0) as f64);
    // Only parts with their own marked sections ran (6, 7): keep the rest of the last full report.
    let only_without_stack = args.parts.iter().all(|p| [6, 7].contains(p));
    let existing = std::fs::read_to_string(&args.out).ok();
    let text = match existing {
        Some(previous) if only_without_stack => {
            let mut text = Some(previous);
            if part(6) {
                text = text.and_then(|t| markdown::replace_plan_summary(&t, &results));
            }
            if part(7) {
                text = text.and_then(|t| markdown::replace_schedule(&t, &results));
            }
            text.unwrap_or_else(|| markdown::render(&results))
        }
        _ => markdown::render(&results),
    };
    std::fs::write(&args.out, &text).with_context(|| format!("write {}", args.out.display()))?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!(
        "[bench] wrote {} ({:.1} min)",
        args.out.display(),
        results.run_seconds / 60.0
    );
    Ok(())
}
