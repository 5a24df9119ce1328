//! The `xjob` binary.

fn main() {}
