//! Peak resident memory of a process (Linux: `VmHWM` in
//! `/proc/<pid>/status`), for the benchmarks to print beside their figures:
//! this process, or a service the benchmark started as a child. The Postgres
//! and NATS servers are not counted.

/// The peak resident set in bytes so far, `None` where the kernel does not
/// say (not Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    peak_rss_bytes_of("self")
}

/// [`peak_rss_bytes`] of process `pid` (`"self"` for this one).
pub fn peak_rss_bytes_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    // "VmHWM:    123456 kB"
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts the peak over from the current resident set (Linux 4.0+), so a
/// benchmark's peak is its measured part's, not its set-up's. Returns
/// whether the kernel took it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `"123.4 MiB"`, or `"unknown"`.
pub fn describe(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_grows_with_what_this_process_touches() {
        let Some(before) = peak_rss_bytes() else {
            return; // not Linux: nothing to read
        };
        assert!(before > 0);
        // Touch 64 MiB so they become resident.
        let big = vec![1u8; 64 << 20];
        let after = peak_rss_bytes().unwrap_or(0);
        assert!(after >= before + (48 << 20), "{before} → {after}");
        drop(big);
        assert_eq!(describe(Some(3 << 20)), "3.0 MiB");
    }
}
