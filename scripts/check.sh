#!/usr/bin/env bash
# Verification runners beyond `cargo test --workspace`. Each subcommand
# installs what it needs (nightly components, cargo-fuzz) and prints its
# wall time. Used by .ci/run (loom, miri, tsan-ci, hooks-hidden, pages, broadcast-flip, spsc-stamped,
# valgrind, targets) and by developers.
#
#   scripts/check.sh loom        loom models, each at its default bound (what CI runs)
#   scripts/check.sh loom-quick  loom models at LOOM_MAX_PREEMPTIONS=2 (every default is
#                                at least 2, so this is a subset of `loom`: a quick look)
#   scripts/check.sh loom-deep   loom models at LOOM_MAX_PREEMPTIONS=3 (local, slower)
#   scripts/check.sh miri        Miri on the fast subset, strict provenance (what CI runs)
#   scripts/check.sh miri-full   Miri on every test, strict provenance, then tree borrows
#   scripts/check.sh tsan        ThreadSanitizer on the integration/stress tests
#   scripts/check.sh tsan-ci     ThreadSanitizer on the MPMC, SPSC and guard tests, and the SPSC,
#                                guard and batch tests on the stamped layout (what CI runs)
#   scripts/check.sh hooks-hidden  the test hooks are unreachable without `__test-hooks` (CI)
#   scripts/check.sh pages       the MPMC tests again with every ring of more than two
#                                slots on two-slot pages (feature __test-pages; CI)
#   scripts/check.sh broadcast-flip  the broadcast tests again with every ring on the slot
#                                layout its item size would not get (feature
#                                __test-broadcast-flip; CI)
#   scripts/check.sh spsc-stamped  the SPSC tests again on the stamped layout (feature
#                                __test-spsc-stamped; CI)
#   scripts/check.sh valgrind    every example (`--quick`) under valgrind's memcheck (CI)
#   scripts/check.sh targets     clippy -D warnings on the library for other targets: macOS,
#                                Windows (no membarrier, no thread moves), aarch64 and musl Linux (CI)
#   scripts/check.sh fuzz [SECS] every cargo-fuzz target (spsc_ops, mpmc_ops, broadcast_ops), SECS each (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu

nightly_with() {
  # nightly_with COMPONENT... : make sure nightly and the components exist.
  if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
  fi
  rustup component add --toolchain nightly "$@"
}

timed() {
  local t0; t0=$(date +%s)
  "$@"
  echo "--- $* : $(( $(date +%s) - t0 ))s"
}

# side_by_side KIND RUN A-ARGS... :: B-ARGS... : `RUN a A-ARGS...` and
# `RUN b B-ARGS...` in the background, one per core (each RUN logs to
# target/KIND-a.log and target/KIND-b.log); waits for both, prints both
# logs, and fails if either failed. Used by the loom groups and Miri's halves.
side_by_side() {
  local kind="$1" run="$2" first=()
  shift 2
  while [ "$1" != "::" ]; do
    first+=("$1")
    shift
  done
  shift
  mkdir -p target
  "$run" a "${first[@]}" & local pa=$!
  "$run" b "$@" & local pb=$!
  local rc=0
  wait "$pa" || rc=1
  wait "$pb" || rc=1
  cat "target/$kind-a.log" "target/$kind-b.log"
  return "$rc"
}

loom() {
  # With an argument: every model at that preemption bound. Without: each
  # model at its own default bound (see loom-tests/README.md), the model
  # files in two groups side by side (loom_groups).
  if [ -n "${1:-}" ]; then
    LOOM_MAX_PREEMPTIONS="$1" loom_test
  else
    loom_groups
  fi
}

# The loom files that go in group A; group B is every other file in
# loom-tests/tests, so a new model file is never left out. A model is one
# thread exploring its schedules, and cargo runs one test file after
# another, so a file whose longest model outlasts the rest left a core idle
# (CI, 2026-12-06: 298 s of models after a 57 s build). Each group runs one
# model at a time (`--test-threads=1`), one group per core. Their times
# from libtest's `--report-time`, one model at a time (2026-12-06):
# spsc_fifo 53.6 s, mpmc_pages 26.3, mpmc_force 16.4, broadcast 15.7,
# mpmc_disconnect 13.6 (A: 125.6); async_wake 41.1, mpmc_wake 33.8,
# mpmc_fifo 32.4, and the rest 7.4 together (B: 114.7).
LOOM_GROUP_A=(spsc_fifo mpmc_pages mpmc_force broadcast mpmc_disconnect)

loom_groups() {
  local a=() b=() f name
  for name in "${LOOM_GROUP_A[@]}"; do
    [ -f "loom-tests/tests/$name.rs" ] || { echo "loom group A names a missing file: $name"; return 1; }
    a+=(--test "$name")
  done
  for f in loom-tests/tests/*.rs; do
    name=$(basename "$f" .rs)
    [[ " ${LOOM_GROUP_A[*]} " == *" $name "* ]] || b+=(--test "$name")
  done
  loom_test --tests --no-run
  side_by_side loom loom_group "${a[@]}" :: "${b[@]}"
  # The SPSC models once more on the stamped layout (loom-tests feature
  # `stamped`): the FIFO file on one core, the wake-up and disconnection
  # files on the other.
  loom_test --features stamped --tests --no-run
  side_by_side loom-stamped loom_stamped_group --test spsc_fifo :: --test spsc_wake --test spsc_disconnect
}

loom_group() {
  # loom_group NAME TEST-ARGS... : one group, one model at a time, logged to target/loom-NAME.log.
  local name="$1"; shift
  loom_test "$@" -- --test-threads=1 > "target/loom-$name.log" 2>&1
}

loom_stamped_group() {
  # As loom_group, with the SPSC models on the stamped layout; logged to target/loom-stamped-NAME.log.
  local name="$1"; shift
  loom_test --features stamped "$@" -- --test-threads=1 > "target/loom-stamped-$name.log" 2>&1
}

# loom_test ARGS... : `cargo test` of the loom models with ARGS, built with
# `--cfg loom` in their own target directory (every loom run goes through it).
loom_test() {
  RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom timed cargo test -p loom-tests --release "$@"
}

# The fast Miri subset: every integration test file of the library (not
# bench_quantile.rs, the latency bench's arithmetic: no unsafe code, no
# threads, and 200 000-sample cases); stress-sized tests
# shrink their counts under cfg!(miri) and the few that cannot are marked
# #[cfg_attr(miri, ignore)]. Miri interprets a test binary on one thread, so
# the files run as two halves of about equal Miri time side by side, one
# per core (tests/mpmc.rs alone is about 35% of it), on one build. The
# split, from libtest's `--report-time` under Miri (whose clock, with
# isolation on, counts interpreted steps, not seconds; wall time was about
# 2.3-2.7x it), 2026-12-02: half A 293, half B 304, before the longest
# tests were cut down under Miri and `async` moved to half A; after that,
# in CI on a fresh clone of 2258ec4, 618 s and 571 s of wall time. By
# 2026-12-06 (e7a0466) the halves had grown to 847 s and 648 s (report-time
# 388 and 309, 71 of A's in one lib test); that test now runs 300
# items under Miri instead of 2 000 (71 -> 11) and `batch` (10) moved to B:
# in CI on f864e24 311.5 and 315, 808 s and 767 s (a slower day: loom took
# 355 s against 286 s the day's runs before).
MIRI_TESTS_A=(--lib --test mpmc --test guards --test segments --test async)
MIRI_TESTS_B=(--test spsc --test pages --test flow --test fuzz_replay --test broadcast --test batch)

miri() {
  nightly_with miri rust-src
  cargo +nightly miri setup
  mkdir -p target
  # Build every test binary of both halves once, on both cores, then run the
  # halves side by side on that one build (cargo holds the build directory's
  # lock only while it builds). With a target directory per half, both
  # halves compiled every dev-dependency for Miri, at the same time.
  MIRIFLAGS="-Zmiri-strict-provenance ${MIRIFLAGS_EXTRA:-}" CARGO_TARGET_DIR=target/miri \
    timed cargo +nightly miri test -p ringflow "${MIRI_TESTS_A[@]}" "${MIRI_TESTS_B[@]}" --no-run
  side_by_side miri miri_half "${MIRI_TESTS_A[@]}" :: "${MIRI_TESTS_B[@]}"
}

miri_half() {
  # miri_half NAME TEST-ARGS... : one half of the subset, logged to target/miri-NAME.log.
  local name="$1"; shift
  MIRIFLAGS="-Zmiri-strict-provenance ${MIRIFLAGS_EXTRA:-}" CARGO_TARGET_DIR=target/miri \
    timed cargo +nightly miri test -p ringflow "$@" > "target/miri-$name.log" 2>&1
}

miri_full() {
  nightly_with miri rust-src
  cargo +nightly miri setup
  MIRIFLAGS="-Zmiri-strict-provenance" timed cargo +nightly miri test -p ringflow
  MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-tree-borrows" timed cargo +nightly miri test -p ringflow
}

tsan() {
  # With arguments: only those test targets (e.g. --test mpmc). Without: all.
  nightly_with rust-src
  # TSan does not model standalone fences or membarrier's IPIs: build with
  # the fence(SeqCst)-on-both-sides fallback (see src/sync.rs).
  RUSTFLAGS="-Zsanitizer=thread --cfg ringflow_no_membarrier" RUSTDOCFLAGS="-Zsanitizer=thread" \
    CARGO_TARGET_DIR=target/tsan \
    timed cargo +nightly test -p ringflow -Zbuild-std --target "$TARGET" "${@:---tests}"
}

hooks_hidden() {
  # A user of the default crate must not reach the test hooks: a scratch
  # crate that depends on this one without features builds with the public
  # API, and fails to build as soon as it calls a hook.
  local dir=target/hooks-hidden
  rm -rf "$dir"; mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "hooks-hidden"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
ringflow = { path = "$(pwd)" }
[workspace]
TOML
  local public='let (tx, rx) = ringflow::mpmc::channel::<u32>(2); tx.send(1).unwrap(); assert_eq!(rx.recv(), Ok(1));'
  echo "fn main() { $public }" > "$dir/src/main.rs"
  (cd "$dir" && CARGO_TARGET_DIR=../hooks-hidden-target cargo build -q) || { echo "the public API did not build"; return 1; }
  local hook
  for hook in 'let _ = unsafe { tx.__claim_send(2) };' 'let _ = unsafe { rx.__claim_recv() };' \
      'let _ = ringflow::Builder::new(2).__start_position(7);' 'let _ = tx.__page_counts();' \
      'let _ = ringflow::Builder::new(2).__broadcast_stamps(true);' \
      'let _ = ringflow::__test_hooks::membarrier_calls_on_this_thread();' \
      'ringflow::__test_hooks::set_retirement_hook(None);' \
      'let _ = ringflow::__test_hooks::FreeList::new(1);'; do
    echo "fn main() { $public $hook }" > "$dir/src/main.rs"
    if (cd "$dir" && CARGO_TARGET_DIR=../hooks-hidden-target cargo build -q 2>/dev/null); then
      echo "reachable without the __test-hooks feature: $hook"; return 1
    fi
    echo "unreachable, as it must be: $hook"
  done
}

pages() {
  # Every MPMC ring of more than two slots keeps its slots on two-slot pages
  # (src/mpmc/pages.rs), so that the MPMC tests written for flat rings also
  # run across page attachment, retirement and recycling. The test-only
  # feature `__test-pages` does it; it changes only this crate's build, so
  # the run reuses the dependencies of the test build. The library's own
  # tests run too (until 2026-12-06 the step ran only the integration
  # tests, and one lib test that needs a flat ring failed here unseen).
  # The loom models are not run again here: they use rings of one or two
  # slots, which stay flat (a page must be smaller than the ring), so a
  # paged rerun checked the flat ring twice; the paged storage has models
  # of its own (loom-tests/tests/mpmc_pages.rs, in `loom`).
  timed cargo test -p ringflow --features __test-hooks,futures,__test-pages \
    --lib --test mpmc --test pages --test batch --test flow --test guards --test fuzz_replay --test async
}

broadcast_flip() {
  # Every broadcast ring on the slot layout its item size would not get
  # (src/broadcast/mod.rs, "Two slot layouts"): the tests' small payloads
  # then run with stamps and the larger ones without. Feature
  # `__test-broadcast-flip`. The loom models run both layouts already.
  timed cargo test -p ringflow --features __test-hooks,futures,__test-broadcast-flip \
    --test broadcast --test fuzz_replay --test async
}

spsc_stamped() {
  # The SPSC tests on the stamped layout (`Builder::spsc_stamped`): their
  # rings come from `tests/common`'s `spsc_channel` / `spsc_t`, which the
  # feature `__test-spsc-stamped` points at it (tests of the chunk API, of
  # segments and of huge zero-sized rings name the default layout: the
  # stamped one has no slice views, no segments and a stamp a slot).
  timed cargo test -p ringflow --features __test-hooks,futures,__test-spsc-stamped \
    --test spsc --test async --test flow --test batch --test guards
}

valgrind_examples() {
  # Every example under valgrind's memcheck: the crate's threads and tasks
  # wait on `Park` channels there (system calls, the vDSO, `membarrier`),
  # and a program using ringflow must run under the tool its users debug
  # with. (Until 2026-12-06 every one crashed there: rustix's own vDSO
  # parsing, for `sched_getcpu`, reads memory valgrind does not map.)
  if ! command -v valgrind >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind
  fi
  cargo build --release --examples
  local f ex
  for f in examples/*.rs; do
    ex=$(basename "$f" .rs)
    local t0; t0=$(date +%s)
    valgrind -q --error-exitcode=1 "target/release/examples/${ex}" --quick >/dev/null
    echo "--- valgrind: example ${ex} passed in $(( $(date +%s) - t0 ))s"
  done
}

other_targets() {
  # The library for targets this machine does not run: their code paths
  # (the `fence(SeqCst)` fallback instead of `membarrier`, no CPU numbers,
  # no thread moves; the C library's `sched_getcpu` on musl; another
  # architecture's atomics and spin hint) must build without a warning.
  # `cargo clippy` checks without linking, so only the targets' std is needed.
  local targets=(x86_64-apple-darwin x86_64-pc-windows-msvc aarch64-unknown-linux-gnu x86_64-unknown-linux-musl)
  rustup target add "${targets[@]}"
  local t
  for t in "${targets[@]}"; do
    timed cargo clippy -p ringflow --lib --all-features --target "$t" -- -D warnings
  done
}

fuzz() {
  local secs="${1:-600}"
  nightly_with rust-src
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
  (cd fuzz && timed cargo +nightly fuzz run spsc_ops -- -max_total_time="$secs")
  (cd fuzz && timed cargo +nightly fuzz run mpmc_ops -- -max_total_time="$secs")
  (cd fuzz && timed cargo +nightly fuzz run broadcast_ops -- -max_total_time="$secs")
}

case "${1:-}" in
  loom) loom ;;
  loom-quick) loom 2 ;;
  loom-deep) loom 3 ;;
  miri) miri ;;
  miri-full) miri_full ;;
  tsan) tsan ;;
  tsan-ci) tsan --test mpmc --test spsc --test segments --test pages --test guards \
    && tsan --features __test-hooks,__test-spsc-stamped --test spsc --test guards --test batch ;;
  hooks-hidden) hooks_hidden ;;
  pages) pages ;;
  broadcast-flip) broadcast_flip ;;
  spsc-stamped) spsc_stamped ;;
  valgrind) valgrind_examples ;;
  targets) other_targets ;;
  fuzz) shift; fuzz "${1:-600}" ;;
  *) sed -n '2,23p' "$0"; exit 2 ;;
esac
