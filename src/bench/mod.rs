//! Benchmarks. Each one runs its workload and, in the same process and run,
//! a baseline, and reports both with their ratio: these machines are noisy,
//! so absolute numbers mean little and ratios mean more.

pub mod append;
pub mod commands;
pub mod lag;
mod load;
pub mod rebuild;
mod report;
mod scratch;
