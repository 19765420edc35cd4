//! Loom models for ringflow live in `tests/`; run with `RUSTFLAGS="--cfg loom" cargo test -p loom-tests --release`.
//! See `README.md` for the model list, bounds, times and what loom cannot check.
