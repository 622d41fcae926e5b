//! glibc malloc tuning, measured with e2e/bench (README, Performance). Elsewhere (musl, other
//! systems) these do nothing.

/// glibc gives each allocating thread an arena of its own and keeps what every arena grew to;
/// with the scraper thread and the API workers that is about 20 MiB more resident memory at
/// 1,000 nodes than one shared arena, for no measurable CPU. Few threads allocate, so the
/// shared arena's lock is rarely contended. Call before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_arenas() {
    // SAFETY: mallopt only tunes the allocator, and runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// A scrape cycle allocates and frees every node's response and decoded batch; glibc keeps the
/// freed pages resident unless they sit at the top of the heap. Handing them back after each
/// cycle keeps the resident set near the live heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only returns free pages to the kernel; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
