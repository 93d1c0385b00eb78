//! Crash points at the instance's step boundaries, for the crash tests
//! (issue 15): the process dies there as if killed, and a restart must
//! finish the order with no effect twice.
//!
//! Built on tikv's `fail` crate, only with the `failpoints` feature; without
//! it [`boundary`] is empty and nothing of `fail` is linked. With it,
//! `FAILPOINTS="fulfilment-after-reserve=return"` (read by [`arm_from_env`])
//! aborts the process at that point. Names: `fulfilment-before-<step>` (the
//! command is outstanding, not yet issued) and `fulfilment-after-<step>`
//! (the command took effect, the instance has not recorded its outcome),
//! where `<step>` is a [`Command::name`](orderflow_domain::fulfilment::Command::name):
//! `reserve`, `release`, `commit`, `confirm`, `reject`, `cancel`, `refund`,
//! `record-refund`.

/// Arms the failpoints named in `FAILPOINTS` for the rest of the process;
/// what it armed (none without the feature). Panics on a malformed
/// `FAILPOINTS`: it is set only by tests, which should hear of it.
pub fn arm_from_env() -> Vec<(String, String)> {
    #[cfg(feature = "failpoints")]
    {
        // The scenario lasts as long as the process: never torn down.
        std::mem::forget(fail::FailScenario::setup());
        fail::list()
    }
    #[cfg(not(feature = "failpoints"))]
    Vec::new()
}

/// The boundary `when` ("before"/"after") of `step`: aborts the process if
/// its failpoint is armed.
#[inline]
pub fn boundary(when: &str, step: &str) {
    #[cfg(feature = "failpoints")]
    {
        let name = format!("fulfilment-{when}-{step}");
        if hit(&name) {
            // Abort, not a panic or an exit: no destructor, no graceful
            // shutdown, no flush; what a SIGKILL or a power cut leaves.
            eprintln!("failpoint {name}: aborting the process");
            std::process::abort();
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = (when, step);
}

#[cfg(feature = "failpoints")]
fn hit(name: &str) -> bool {
    fail::fail_point!(name, |_| true);
    false
}
