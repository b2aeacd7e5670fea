//! `peak-rss` (bench part 6) reports the program's own peak, not the peak of
//! the large process that started it, and passes the exit code through.

use std::process::Command;

#[test]
fn reports_the_programs_peak_not_the_callers() {
    // This test process holds 128 MiB; a child spawned straight from it
    // would report at least that (Linux carries it into the child at exec).
    let held: Vec<u8> = (0..128 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let dir = std::env::temp_dir().join(format!("dg-peak-rss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("rss");

    let status = Command::new(env!("CARGO_BIN_EXE_peak-rss"))
        .arg(&report)
        .args(["sh", "-c", "exit 3"])
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "the program's exit code passes through"
    );
    let kib: u64 = std::fs::read_to_string(&report)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        kib < 16 * 1024,
        "sh reported {kib} KiB: the caller's {} MiB leaked into the figure",
        held.len() / (1024 * 1024)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_program_that_cannot_start_is_an_error() {
    let report = std::env::temp_dir().join(format!("dg-peak-rss-missing-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_peak-rss"))
        .arg(&report)
        .arg("/nonexistent/program")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(127));
    assert!(!report.exists(), "no figure for a program that never ran");
}
