//! Loom models for ringflow live in `tests/`; run with `RUSTFLAGS="--cfg loom" cargo test -p loom-tests --release`.
