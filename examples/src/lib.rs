//! Runnable examples of milpa; see `examples/` and run one with
//! `cargo run -p milpa-examples --example NAME`.
