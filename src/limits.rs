//! Process limits a busy proxy needs: every connection and tunnel costs descriptors.

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Threads serving connections, for the CLI and the app: a small fixed pool of two (one
/// on a one-core machine). Measured on 2 cores (bench/run.sh, docs/benchmark.md): one thread serves
/// keep-alive requests up to ~10 % faster, but two open new tunnels 10–18 % faster and,
/// with other processes busy on every core, keep socksbridge ahead of every peer in both
/// workloads where one thread fell behind on tunnels. More threads only add wake-ups
/// between them: a proxy's time is mostly the kernel's.
pub fn proxy_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// Resident memory of process `pid` in KiB (`VmRSS` from `/proc`; 0 where unavailable).
/// For the benchmark, the soak and the fault tests.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Open file descriptors of process `pid` (0 where `/proc` is unavailable).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(super::rss_kib(pid) > 0);
        // Other tests open and close a few descriptors concurrently: a margin far above
        // that, not an exact count.
        let before = super::open_fds(pid);
        let files: Vec<_> = (0..64)
            .map(|_| std::fs::File::open("/proc/self/status").unwrap())
            .collect();
        assert!(super::open_fds(pid) >= before + 32);
        drop(files);
        assert_eq!(super::rss_kib(u32::MAX), 0);
        assert_eq!(super::open_fds(u32::MAX), 0);
    }
}
