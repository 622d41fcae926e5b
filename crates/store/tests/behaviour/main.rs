//! Behaviour of the store through its public API: upstream's storage rules one by one, the shared
//! fixture's numbers, and properties over arbitrary batch sequences.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic there is a failed test"
)]

mod fixture;
mod model;
mod properties;
mod rules;
mod support;
mod window;
mod window_model;
