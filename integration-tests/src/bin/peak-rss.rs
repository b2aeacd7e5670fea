//! `peak-rss REPORT PROGRAM [ARGS…]`: runs PROGRAM (stdin, stdout and stderr
//! inherited), writes its peak resident set in KiB (`ru_maxrss` from `wait4`)
//! to REPORT and exits with PROGRAM's exit code. Bench part 6 measures
//! `driftguard summarize` through it.
//!
//! Why a separate small process: Linux carries the parent's peak RSS into a
//! child's `ru_maxrss` at `exec` (the child starts as a copy of, or on,
//! the parent's memory), so a child spawned straight from the benchmark,
//! which holds tens of MiB, would report the benchmark's peak, not its own.
//! This process holds about 2 MiB, so the figure it reports is the program's
//! (any program that holds more).

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(report), Some(program)) = (args.next(), args.next()) else {
        eprintln!("usage: peak-rss REPORT PROGRAM [ARGS…]");
        return ExitCode::from(64);
    };
    let child = match Command::new(&program).args(args).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("peak-rss: cannot run {}: {e}", program.to_string_lossy());
            return ExitCode::from(127);
        }
    };
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not waited for elsewhere; the pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        eprintln!(
            "peak-rss: wait4 failed: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::from(70);
    }
    if let Err(e) = std::fs::write(&report, usage.ru_maxrss.to_string()) {
        eprintln!("peak-rss: cannot write {}: {e}", report.to_string_lossy());
        return ExitCode::from(73);
    }
    if libc::WIFEXITED(status) {
        ExitCode::from(libc::WEXITSTATUS(status) as u8)
    } else {
        eprintln!(
            "peak-rss: {} was killed by a signal",
            program.to_string_lossy()
        );
        ExitCode::from(70)
    }
}
