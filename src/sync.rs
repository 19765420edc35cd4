//! The one place that chooses between `std` and `loom`.
//!
//! Every other module imports atomics, `UnsafeCell`, `Mutex`, `Condvar`,
//! `Arc`, spinning, yielding and the asymmetric barrier from here, so that
//! compiling with `RUSTFLAGS="--cfg loom"` swaps the whole crate onto loom's
//! model-checked types with no other change. The two sides expose the same API
//! (loom's `UnsafeCell::with` / `with_mut` shape, as tokio and thingbuf do).
//!
//! The switch is `cfg(loom)`, not `cfg(all(test, loom))`: the `loom-tests`
//! crate compiles this crate as a normal dependency, without `cfg(test)`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub(crate) use std::time::Instant;

/// `UnsafeCell` with loom's closure-based access API.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `UnsafeCell` with loom's closure-based access API, backed by
/// `core::cell::UnsafeCell`. Both methods inline to a plain pointer access.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// One step of a busy wait: a CPU spin-loop hint, or a loom yield so that the
/// model checker can schedule the thread being waited for.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Hints the CPU to start fetching the cache line at `p` for reading. Not a
/// memory access: `p` is never dereferenced, so it may point anywhere. A
/// no-op where there is no stable prefetch intrinsic, and under loom / Miri.
#[inline(always)]
pub(crate) fn prefetch_read<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is
    // part of the target's baseline); a prefetch never faults and never
    // dereferences `p` as far as the memory model is concerned.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
    let _ = p;
}

/// Hints the CPU to fetch the cache line at `p` for writing: the line comes
/// in owned, the other cores' copies invalidated, so that a later store to
/// it needs no second transaction. Not a memory access: `p` is never
/// dereferenced. Call it only where [`has_prefetch_write`] said yes; a
/// no-op off x86_64 and under loom / Miri.
#[inline(always)]
pub(crate) fn prefetch_write<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
    // SAFETY: `prefetchw` only hints the cache: it never faults, writes no
    // register, flag or memory, and is not an access as far as the memory
    // model is concerned. Callers run it only on CPUs that report it
    // (`has_prefetch_write`), so it is never an unknown opcode.
    unsafe {
        core::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly))
    };
    #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
    let _ = p;
}

/// Whether [`prefetch_write`] does anything here: on x86_64, the CPU reports
/// `PREFETCHW` (CPUID `0x8000_0001`, ECX bit 8, which AMD's parts report,
/// and Intel's since Broadwell). Asked once per process (`cpuid` can cost
/// a hypervisor exit), then a relaxed load. `false` elsewhere, in SGX
/// enclaves (where `cpuid` faults) and under loom / Miri.
pub(crate) fn has_prefetch_write() -> bool {
    #[cfg(all(target_arch = "x86_64", not(target_env = "sgx"), not(loom), not(miri)))]
    {
        use core::sync::atomic::{AtomicU8, Ordering};
        // 0: not asked yet; 1: no; 2: yes.
        static KNOWN: AtomicU8 = AtomicU8::new(0);
        match KNOWN.load(Ordering::Relaxed) {
            0 => {
                // SAFETY: `cpuid` exists on every x86_64 CPU, and so does the
                // extended leaf `0x8000_0001` (it reports long mode).
                #[allow(unused_unsafe)]
                let ecx = unsafe { core::arch::x86_64::__cpuid(0x8000_0001) }.ecx;
                let yes = ecx & (1 << 8) != 0;
                KNOWN.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                yes
            }
            known => known == 2,
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(target_env = "sgx"), not(loom), not(miri))))]
    false
}

/// Gives the rest of the time slice to another thread.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// Backoff of a waiting `SpinYield` / `Park` thread: `SPIN_STEPS` retries
/// separated by one spin hint each, then (for `Park`) `YIELD_STEPS` retries
/// separated by a yield, then parking. Under loom every spin is a yield and
/// the state space grows with each one, so the counts shrink to the smallest
/// values that still exercise every phase (one spin, one yield, parking).
#[cfg(not(loom))]
pub(crate) const SPIN_STEPS: u32 = 128;
#[cfg(loom)]
pub(crate) const SPIN_STEPS: u32 = 1;
#[cfg(not(loom))]
pub(crate) const YIELD_STEPS: u32 = 10;
#[cfg(loom)]
pub(crate) const YIELD_STEPS: u32 = 1;

/// How long a plain `recv` waits, in ns, in a stream it keeps up with,
/// before it looks at an empty ring again (`spsc::Consumer::slip`,
/// `mpmc::Receiver::slip`).
#[cfg(not(loom))]
pub(crate) const RECV_SLIP_NS: u32 = 600;
/// The fewest items a slip must find queued for the next wait to slip
/// too: at least one every 75 ns, a stream faster than the hand-over of an
/// item at a time (about 130 ns an item on the Intel VM of 2026-12-07).
#[cfg(not(loom))]
pub(crate) const SLIP_PAYS_ITEMS: usize = 8;

/// Retries an SPSC `send` / `recv` makes in its short wait
/// (`wait::short_wait`) after a failed attempt, one spin hint before each,
/// before it enters the out-of-line driver. Under loom: one.
#[cfg(not(loom))]
pub(crate) const SHORT_WAIT_RETRIES: u32 = 16;
#[cfg(loom)]
pub(crate) const SHORT_WAIT_RETRIES: u32 = 1;

/// The most spin hints a blocked `send` spends, once per wait, letting the
/// other side get a gap ahead before it refills: [`REFILL_GAP_BYTES`] of
/// slots on the MPMC ring (`mpmc::Sender::let_receivers_ahead`),
/// [`SPSC_REFILL_GAP_BYTES`] on the SPSC ring
/// (`spsc::Producer::let_consumer_ahead`). About 1.4 µs on the 2-vCPU Zen 5
/// VM (a spin hint took 21.5 ns there): far longer than the receivers take
/// to move a few items on, and short enough that a wait whose receivers
/// are slow or stopped goes on as before.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const REFILL_GAP_SPINS: u32 = 64;

/// Tests: waits (yielding) for `thread` to finish and returns what it
/// returned; panics with `what` if it has not finished within `limit`. A
/// thread that may never finish (a blocked call under test) then fails the
/// test instead of hanging it.
#[cfg(all(test, not(loom)))]
pub(crate) fn join_within<R>(thread: std::thread::JoinHandle<R>, limit: std::time::Duration, what: &str) -> R {
    let deadline = std::time::Instant::now() + limit;
    while !thread.is_finished() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::yield_now();
    }
    thread.join().unwrap()
}

/// The refill gap's wait, shared by both rings' blocked sends: spin (at
/// most [`REFILL_GAP_SPINS`] hints) until `made` says the other side has
/// freed the gap, then return either way. `made` is asked before the first
/// hint and then every [`REFILL_GAP_LOOK_EVERY`] hints: each look reads a
/// line the other side writes (the SPSC consumer's `head`, written for
/// every item; the stamp of an MPMC slot the receivers are about to take),
/// and each read takes that line from the writer's core.
#[cfg_attr(loom, allow(dead_code))]
#[inline(always)]
pub(crate) fn wait_for_gap(made: impl Fn() -> bool) {
    for i in 0..REFILL_GAP_SPINS {
        if i % REFILL_GAP_LOOK_EVERY == 0 && made() {
            return;
        }
        spin_hint();
    }
}

/// MPMC: how far ahead of the item it takes a receiver asks for the line of
/// a published slot for writing, in bytes of slots: four cache lines (see
/// `mpmc::Shared::line_to_own`).
pub(crate) const TAKE_AHEAD_BYTES: usize = 256;

/// MPMC: how far behind the oldest item a blocked `send` waits for room
/// before it refills, in bytes of slots: two cache lines past the lines
/// the receivers own ahead of them ([`TAKE_AHEAD_BYTES`]), so that neither
/// the line the sender polls while it waits nor the one it then writes is
/// one the receivers are working in (see `mpmc::Sender::let_receivers_ahead`).
pub(crate) const REFILL_GAP_BYTES: usize = TAKE_AHEAD_BYTES + 128;

/// SPSC: how much room, in bytes of slots, a `send` that found the ring
/// full waits to see before it refills: eight cache lines (see
/// `spsc::Producer::let_consumer_ahead`).
pub(crate) const SPSC_REFILL_GAP_BYTES: usize = 512;

/// How many spin hints apart a `send` waiting for its refill gap looks at
/// the other side's position ([`wait_for_gap`]): four looks in a whole
/// wait, the last within a quarter of the wait of the gap appearing. Each
/// look takes a line the other side writes, and on x86 that side's next
/// store to it, and every store behind it, waits for the line to come back.
/// Looking at every hint (as both rings did before 2026-12-07) held a full
/// ring's consumer near the rate of a `try_send` loop's. Measured for the
/// SPSC ring at `spsc::Producer::let_consumer_ahead`; for the MPMC ring at
/// `mpmc::Sender::let_receivers_ahead`.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const REFILL_GAP_LOOK_EVERY: u32 = 16;

/// The slots of `slot_bytes` each in `bytes`, at least 1, as a distance
/// along a ring of `capacity` slots; 0 (none) on a ring of fewer than four
/// times that many slots, where the distance would be a good part of the
/// ring. Sizes the refill gaps of both rings and the MPMC take-ahead.
pub(crate) fn slots_in(bytes: usize, slot_bytes: usize, capacity: usize) -> usize {
    let slots = (bytes / slot_bytes.max(1)).max(1);
    if slots.saturating_mul(4) <= capacity {
        slots
    } else {
        0
    }
}

/// `Park`: retries spun before a wait first reads the clock (see the
/// adaptive policy in `wait.rs`); a short wait ends within them and pays no
/// clock read. Under loom: one.
#[cfg(not(loom))]
pub(crate) const PARK_INLINE_SPINS: u32 = 64;
#[cfg(loom)]
pub(crate) const PARK_INLINE_SPINS: u32 = 1;

/// `Park`: a learned spin budget below this (ns) turns spinning off: a
/// wait that begins then skips its remaining inline retries and the clocked
/// spin and goes on to yielding. On a shared core every spin step only
/// delays the peer (one `spin_loop` hint took 27 ns on the 2-vCPU EPYC VM,
/// so the inline retries alone held the core ~2 µs per wait).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const PARK_SPIN_OFF_NS: u32 = 1_000;

/// "Not known" for [`current_cpu`].
pub(crate) const NO_CPU: u32 = u32::MAX;

/// The CPU this thread runs on now (it may move at any time), or `NO_CPU`
/// where that is not known cheaply. Linux: the C library's `sched_getcpu`,
/// which calls the vDSO (3 ns on the 2-vCPU EPYC VM), or makes the system
/// call where there is none. Not rustix's: it finds the vDSO by parsing it
/// itself, and under valgrind, which maps none, that read crashed every
/// program whose thread or task waited on a `Park` channel
/// (rustix #1559; `scripts/check.sh valgrind` runs every example under it since,
/// in CI).
#[cfg_attr(loom, allow(dead_code))]
#[inline]
pub(crate) fn current_cpu() -> u32 {
    #[cfg(all(target_os = "linux", not(loom), not(miri)))]
    {
        // SAFETY: `sched_getcpu` takes no arguments and touches no memory of
        // ours; it returns the CPU number or -1 (then `NO_CPU`).
        let cpu = unsafe { libc::sched_getcpu() };
        u32::try_from(cpu).unwrap_or(NO_CPU)
    }
    #[cfg(not(all(target_os = "linux", not(loom), not(miri))))]
    {
        NO_CPU
    }
}

/// The [`thread_token`] of every thread started after the counter ran out:
/// shared, so never trusted as a home thread.
#[cfg(not(loom))]
pub(crate) const SHARED_TOKEN: usize = usize::MAX;

/// A number that tells the calling thread apart from every other thread of
/// the process, ever: drawn from a process-wide counter at the thread's
/// first call and kept in a thread-local (nonzero). Unique, so a registry
/// may trust a match (its home thread, "Home threads" in `wait.rs`),
/// except [`SHARED_TOKEN`], which the counter stops at (reached only by a
/// 32-bit process that started 2^32 - 2 threads) and no registry trusts.
/// (It was the address of a thread-local before, which a thread that exits
/// hands to the next one started: glibc reuses thread stacks, and ten
/// threads spawned and joined one after another all had the same number.)
/// One thread-local load and a branch after the first call.
#[cfg(not(loom))]
#[inline]
pub(crate) fn thread_token() -> usize {
    // A `Cell<usize>` has no destructor, so this works during thread
    // teardown as well (no access error).
    TOKEN.with(|token| match token.get() {
        0 => first_thread_token(token),
        mine => mine,
    })
}

#[cfg(not(loom))]
std::thread_local! {
    /// The calling thread's [`thread_token`], 0 until its first call.
    static TOKEN: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// The calling thread's [`thread_token`] if it has drawn one, 0 if not
/// (no token is 0): for a comparison with a token some thread drew, which
/// a thread without one cannot match. A thread-local load and nothing
/// else.
#[cfg(not(loom))]
#[inline]
pub(crate) fn thread_token_if_drawn() -> usize {
    TOKEN.with(core::cell::Cell::get)
}

/// [`thread_token`] at the thread's first call: draws its number. Out of
/// line, so that the per-call path stays a load and a branch where it is
/// inlined.
#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn first_thread_token(token: &core::cell::Cell<usize>) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    // Relaxed: only uniqueness matters, which the counter's single
    // modification order gives. Saturating (a compare-exchange loop, as
    // `fence_pair_off` in `wait.rs` explains), so that it never wraps to a
    // number a live thread holds.
    let mut n = NEXT.load(Ordering::Relaxed);
    let mine = loop {
        if n == SHARED_TOKEN {
            break SHARED_TOKEN;
        }
        match NEXT.compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break n,
            Err(now) => n = now,
        }
    };
    token.set(mine);
    mine
}

/// What [`move_elsewhere`] did. (Only Linux moves threads: elsewhere, and
/// under loom and Miri, `NotMoved` is never made.)
#[cfg_attr(not(all(target_os = "linux", not(loom), not(miri))), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Move {
    /// The thread now runs on another CPU of its affinity mask, and the mask
    /// is what it was.
    Moved,
    /// The mask holds one CPU (the thread is pinned), or the CPU or the mask
    /// is not known here: nothing was changed.
    Stay,
    /// The mask allows other CPUs, but the thread was not moved: moving is
    /// off (`allowed` is `false`, or [`moves_on`] says no), the thread runs
    /// under a seccomp filter, or setting the mask was refused (then moving
    /// is off from now on). The mask was not changed; a CPU passed to
    /// `announce` is stale, and the caller notes the thread's own again.
    NotMoved,
}

/// Process-wide switch for [`move_elsewhere`]: on unless
/// [`crate::set_move_threads`] turned it off or a `sched_setaffinity` call
/// failed. A plain `std` atomic also under loom: it is no part of a
/// modelled protocol (waits under loom never move).
static MOVES_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Sets the process-wide switch ([`crate::set_move_threads`]).
pub(crate) fn set_moves(on: bool) {
    MOVES_ON.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether moving is on for the process (see [`MOVES_ON`]).
#[cfg_attr(not(all(target_os = "linux", not(loom), not(miri))), allow(dead_code))]
fn moves_on() -> bool {
    MOVES_ON.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether the calling thread may run under a seccomp filter: its
/// `/proc/thread-self/status` does not say `Seccomp: 0` (or cannot be
/// read). Read once per thread, on the first move it would make, into a
/// buffer on the stack (no allocation). A filter may kill the process on a
/// system call it does not allow (systemd's `SystemCallFilter=` does by
/// default), and no call tells what a filter does with a system call short
/// of making it, so a thread under any filter never moves. (A filter
/// installed by the thread after that first read is not seen.)
#[cfg(all(target_os = "linux", not(loom), not(miri)))]
fn under_seccomp() -> bool {
    use std::cell::Cell;
    use std::io::Read;
    thread_local! {
        /// Whether this thread may run under a filter; `None`: not read yet.
        static SECCOMP: Cell<Option<bool>> = const { Cell::new(None) };
    }
    if let Some(filtered) = SECCOMP.with(Cell::get) {
        return filtered;
    }
    let mut buf = [0u8; 4096];
    let mut len = 0;
    if let Ok(mut f) = std::fs::File::open("/proc/thread-self/status") {
        while len < buf.len() {
            match f.read(&mut buf[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
    }
    let none = buf[..len]
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Seccomp:"))
        .is_some_and(|v| v.trim_ascii() == b"0");
    SECCOMP.with(|c| c.set(Some(!none)));
    !none
}

/// If `allowed` (and moving is on, see [`Move::NotMoved`]), moves the
/// calling thread to another CPU that its affinity mask allows (the next
/// one after the CPU it is on, in CPU number order, wrapping), after
/// passing that CPU to `announce`, and keeps the mask: it sets the mask to
/// that one CPU (Linux migrates the calling thread before
/// `sched_setaffinity` returns), then sets the mask it read back. Up to
/// three system calls (`sched_getaffinity`, `sched_setaffinity` twice),
/// and once per thread a read of `/proc/thread-self/status`. Called only
/// by `wait::Waiter::begin`, on evidence that this thread and the one it
/// waits for take turns on one CPU.
///
/// What a caller may notice is documented on
/// [`Builder::move_threads`](crate::Builder::move_threads). If setting the
/// mask back fails (a cpuset changed in between), the thread asks for
/// every CPU instead, which the kernel restricts to its cpuset, and moving
/// is off from then on; if that fails too (seen only with failures
/// injected by `strace`), the thread stays pinned to the CPU it moved to.
#[cfg_attr(loom, allow(dead_code))]
#[cold]
#[inline(never)]
pub(crate) fn move_elsewhere(allowed: bool, announce: impl FnOnce(u32)) -> Move {
    #[cfg(all(target_os = "linux", not(loom), not(miri)))]
    {
        use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
        let Ok(mask) = sched_getaffinity(None) else { return Move::Stay };
        let here = current_cpu();
        if mask.count() < 2 || here == NO_CPU {
            return Move::Stay;
        }
        if !allowed || !moves_on() || under_seccomp() {
            return Move::NotMoved;
        }
        let here = here as usize;
        let all = CpuSet::MAX_CPU;
        let Some(there) = (1..all).map(|k| (here + k) % all).find(|&c| mask.is_set(c)) else {
            return Move::Stay;
        };
        let mut one = CpuSet::new();
        one.set(there);
        announce(there as u32);
        if sched_setaffinity(None, &one).is_err() {
            set_moves(false);
            return Move::NotMoved;
        }
        if sched_setaffinity(None, &mask).is_err() {
            set_moves(false);
            let mut every = CpuSet::new();
            (0..all).for_each(|c| every.set(c));
            let _ = sched_setaffinity(None, &every);
        }
        Move::Moved
    }
    #[cfg(not(all(target_os = "linux", not(loom), not(miri))))]
    {
        let _ = (allowed, announce);
        Move::Stay
    }
}

/// Pins the calling thread to `cpu` (tests).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn pin_to(cpu: u32) -> rustix::io::Result<()> {
    let mut one = rustix::thread::CpuSet::new();
    one.set(cpu as usize);
    rustix::thread::sched_setaffinity(None, &one)
}

/// `Park`: one wait in this many that begins on a core shared with the
/// other side is a probe: it times its first yield, and if that ran
/// another thread the next such wait moves its thread to another CPU (or,
/// where moving is off, sleeps at once) instead of yielding, so that the
/// pair runs on two cores; see `wait::Waiter::begin`.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const SHARED_CORE_PROBE_EVERY: u32 = 16;

/// `Park`: a wait's `yield_now` that takes at least this long (ns) ran
/// another thread on this core (on the 2-vCPU EPYC VM a yield with nothing
/// else to run took ~0.4 µs, p99.9 0.51 µs; one that ran a thread yielding
/// straight back ~2.3 µs). One threshold for both judgments of
/// `wait::yield_ran_another_thread`: a shared-core probe's yield (the
/// sharing is real) and any other timed yield of a wait (the wait is learned
/// as contended: spinning there only delays the thread that needs the
/// core). The second used 3 µs until 2026-12-04: a yield that switched to a
/// thread which yielded straight back then passed as uncontended, and a
/// broadcast receiver sharing a vCPU with another receiver kept spinning
/// 37–50 µs per item through the other's turn (`docs/measurements.md`,
/// 2026-12-04 19:5x–21:xx). The margin is a host's: 1 µs is about twice a
/// bare yield's p99.9 here. Where a bare `sched_yield` takes 1 µs or more
/// (nested virtualisation, a long seccomp filter) every wait that yields
/// counts as contended, and a stream with gaps of tens of µs learns to
/// park instead of spinning through them: more wake-ups, not a lost one.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const YIELD_RAN_ANOTHER_NS: u32 = 1_000;

/// `Park`: retries between two clock reads while spinning on a budget.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const SPIN_CLOCK_EVERY: u32 = 16;

/// Spin-loop hints, calling `look` after each, until it holds (`true`) or
/// `ns` have passed since `began` (`false`), reading the clock every
/// [`SPIN_CLOCK_EVERY`] looks: the loop of a task's spin phase (`look` is
/// the re-check), of its gather and of an SPSC receive's slip (`look` is
/// `|| false`: it does not look; `spsc::Consumer::slip`).
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn spin_until(began: Instant, ns: u32, look: impl Fn() -> bool) -> bool {
    loop {
        for _ in 0..SPIN_CLOCK_EVERY {
            spin_hint();
            if look() {
                return true;
            }
        }
        if began.elapsed().as_nanos() >= u128::from(ns) {
            return false;
        }
    }
}

/// `Park`: the cap on a wait's spin past its inline retries, in ns (kanal
/// spins up to about 25 µs; a gap longer than this is better slept through).
pub(crate) const PARK_SPIN_MAX_NS: u32 = 50_000;

/// `Park`: the spin budget of a new channel, in ns, before anything is learned.
pub(crate) const PARK_SPIN_INITIAL_NS: u32 = 20_000;

/// `Park`: the cap on a task's spin before it registers, in ns
/// (also a new channel's task budget), but for a bridge
/// ([`TASK_BRIDGE_NS`]). The spin holds the executor's worker, so it is
/// kept well under the thread cap.
pub(crate) const TASK_SPIN_MAX_NS: u32 = 10_000;

/// `Park`: the task budget after a spin that missed a wake-up: it spun
/// out, slept, was woken from another thread than the one it ends on, and
/// the operation ended within [`TASK_BRIDGE_WITHIN_NS`] of the spin's start
/// (`future.rs`, "Tasks apart"). Long enough for the next spin to outlast a
/// parked thread's wake-up. On the 2-vCPU Zen 5 VM a thread parked for
/// 100 µs ran again 21 µs (p50), 24 µs (p90) after its unpark, 2 µs when it
/// had slept only 1 µs (`docs/measurements.md`, 2026-12-05 "two tasks on
/// two threads"). At most once between two catches: the next catch brings
/// the budget back under `TASK_SPIN_MAX_NS`, and a missed wake-up before
/// any catch halves it instead.
pub(crate) const TASK_BRIDGE_NS: u32 = 30_000;

/// `Park`: how long (ns) a task spins before it registers when its wait
/// begins on another thread than its registry's home (`future.rs`, "Away
/// from home"). Its registration would end the home with a `membarrier`,
/// which on the 2-vCPU Zen 5 VM took 9.1 µs while the other vCPU ran a
/// thread of the process and 0.34 µs while it did not (scratch program,
/// 20 000 calls; `docs/measurements.md`, 2026-12-05 "away from home"):
/// a spin this long that misses costs about what the barrier would.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_AWAY_SPIN_NS: u32 = 5_000;

/// `Park`: away spins ([`TASK_AWAY_SPIN_NS`]) that missed in a row after
/// which a registry's away waits skip the away spin (and take the task
/// policy's usual decision), but for every [`TASK_AWAY_PROBE_EVERY`]-th,
/// which spins again.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_AWAY_OFF_AFTER: u32 = 2;

/// `Park`: see [`TASK_AWAY_OFF_AFTER`].
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_AWAY_PROBE_EVERY: u32 = 16;

/// `Park`: a task spin that missed, then slept and was woken from another
/// thread, counts as having missed a wake-up (the peer was parked, not
/// idle) if the operation ended within this many ns of the spin's start:
/// the spin (at most [`TASK_SPIN_MAX_NS`]: a bridge that misses never
/// bridges again), the peer's wake-up and the task's own, each about
/// 20–25 µs on the VM above. Longer: the peer was idle, and the budget
/// halves as before.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_BRIDGE_WITHIN_NS: u32 = 60_000;

/// `Park`: after this many sleeps in a row of a side's sole-handle task
/// that ended on another thread than the one that woke it, its streaming
/// waits spin instead of gathering and registering (`future.rs`, "Tasks
/// apart"): its executor does not bring it next to its peer.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_APART_AFTER: u32 = 4;

/// `Park`: while a side's task is apart from its peer, one streaming wait
/// in this many registers as before, as a probe: if it sleeps, an executor
/// that can bring the two tasks together (a tokio worker's LIFO slot) does
/// so, and the sleep ends on the waking thread (a probe whose re-check
/// finds the item learns nothing).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_APART_PROBE_EVERY: u32 = 1024;

/// `Park`: a task budget below this (ns) means spinning is off for tasks
/// (three spins in a row that caught nothing, from the cap).
pub(crate) const TASK_SPIN_ON_NS: u32 = 2_000;

/// `Park`: while task spinning is off, one wait in this many spins the cap
/// anyway, as a probe.
pub(crate) const TASK_SPIN_PROBE_EVERY: u32 = 16;

/// `Park`: how long (ns) a streaming task operation (a receive or a send
/// after a batch) lets items (room) gather before it looks
/// again, while gathering is on (`future.rs`, "Gathering before
/// registering"). Measured with `benches/async.rs` (1p1c SPSC, `--quick`
/// runs alternated, ratio to kanal): vCPUs close together 1 500 / 3 000 /
/// 6 000 ns gave 3.99× / 3.40× / 2.28× (11, 11, 10 runs), far apart 1.28× /
/// 1.41× / 1.44× (5, 5, 6 runs), against 1.02× and 1.08× without gathering.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_GATHER_NS: u32 = 3_000;

/// `Park`: a task's gather lasts at most this long (ns) per slot of its
/// ring (up to `TASK_GATHER_NS`): a ring of capacity 16 gathers for 400 ns,
/// one of 120 or more for the whole `TASK_GATHER_NS`. A gather of 3 µs on a
/// ring of capacity 1 let one item through per gather (3.6 µs per item
/// with the tasks on two workers). The value is a choice, not a
/// measurement of a per-item cost: 25 and 50 ns measured alike at
/// capacities 16 and 64 (`docs/measurements.md`, "small rings").
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_GATHER_SLOT_NS: u32 = 25;

/// `Park`: a wait that registered in a registry and lasted at least this
/// long (ns) counts as *paced* (with `PACED_MAX_MOVED`) for that
/// registry's choice of barrier pair
/// (`wait.rs`, "Paced registries"): items (room) come further apart than a
/// `membarrier` costs while the peer's core is busy (11–15 µs measured on
/// the 2-vCPU EPYC VM), so a registration per item is the common case.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const PACED_WAIT_NS: u32 = 50_000;

/// `Park`: a wait counts as paced only if its side moved at most this many
/// items since the previous wait that registered there: the fence pair
/// costs every notify a fence, which pays only where a registration (and
/// its `membarrier`) comes every few items. A fast stream that now and then
/// stalls long moves thousands.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const PACED_MAX_MOVED: usize = 16;

/// `Park`: the task's form of `PACED_MAX_MOVED`, for a wait of a side's
/// only task that did not spin (`future.rs`, `TaskSpin::sleeps_pace`): its
/// sleep counts as paced, however short, if its side moved at most this
/// many items since the previous sleep there. A task registration on the
/// `membarrier` pair costs 0.5 µs with the other vCPU idle and 9–15 µs
/// with it busy, a notification on the fence pair a fence (5–22 ns): the
/// fence pair pays wherever a task sleeps every few hundred items, as on a
/// small ring or with both tasks on one worker (`docs/measurements.md`,
/// "small rings": with 16 here, a 1p1c stream at capacity 64 on a 2-worker
/// runtime spent 73 % of its samples in `membarrier`). Spinning waits keep
/// the threads' rule: counting their short sleeps too put the async
/// ping-pong out of its spinning equilibrium in 4 of 6 runs (rounds of
/// 4–32 µs).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const TASK_PACED_MAX_MOVED: usize = 256;

/// `Park`: paced waits in a row after which a registry switches to the
/// fence pair.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const FENCE_AFTER_PACED: u32 = 3;

/// `Park`: task registrations in a row on a registry on the fence pair, by
/// the task of a side with one handle, each on the thread that last woke
/// a task there, after which the registry takes that thread as its home:
/// notifications made on it skip the fence (`wait.rs`, "Home threads").
/// One registration from elsewhere ends it (and pays a `membarrier`), so
/// it waits for a few in a row (16 and 64 measured alike).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const HOME_AFTER: u32 = 4;

/// `Park`: brisk waits in a row (ended without sleeping, or slept but were
/// not paced: shorter than `PACED_WAIT_NS` or more than `PACED_MAX_MOVED`
/// items on) after which a registry on the fence pair switches back to the
/// `membarrier` pair.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const UNFENCE_AFTER_BRISK: u32 = 8;

/// `Park`: notifications in a row that ran the fence of a registry on the
/// fence pair and found nobody registered, after which the notifier
/// switches that registry back to the `membarrier` pair. Between two paced
/// waits their side moves at most `PACED_MAX_MOVED` items
/// (`TASK_PACED_MAX_MOVED` for tasks), so a side that still waits paced
/// leaves fewer unheard notifications in a row than this (it was 64 until
/// tasks' waits counted up to 256 items apart: a task stream over a ring of
/// 64 then switched on and off again every few hundred items, a
/// `membarrier` each time);
/// a side that stopped waiting altogether (a consumer that blocks while idle
/// and polls with `try_recv` or the batch calls while busy) never ends a
/// wait, brisk or paced, and only the notifier can see it.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const UNFENCE_AFTER_UNHEARD: u32 = 1_024;

/// The asymmetric store/load barrier used by the sleeper protocol in
/// `wait.rs`.
///
/// A waiter (already on a slow path) publishes "I am about to sleep" and then
/// runs [`heavy`](barrier::heavy); a notifier (on the fast path) publishes its
/// data and then runs [`light`](barrier::light) before looking for sleepers.
/// The pair gives the same guarantee as `fence(SeqCst)` on both sides: at
/// least one of the two threads sees the other's store.
///
/// On Linux the heavy side is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`,
/// which makes every running thread of the process execute a full memory
/// barrier before the call returns, so the light side only has to stop the
/// *compiler* from reordering (the technique of folly's
/// `asymmetricHeavyBarrier` and of userspace RCU). Registration happens once per
/// process; if it fails (old kernel, seccomp, another OS) both sides fall back
/// to `fence(SeqCst)`. The choice is made once and stored in the channel, so
/// every handle of a process agrees. Only `Park` channels use the
/// `membarrier` pair: a channel that never parks uses the `Fence` pair for
/// its congestion flag too, so none of its calls enters the kernel (the
/// promise `BusySpin` / `SpinYield` make), at the price of a real fence on
/// the receiver's side of that protocol.
///
/// Under Miri (which has no `membarrier` syscall), under loom, and when built
/// with `--cfg ringflow_no_membarrier` (used by the
/// ThreadSanitizer run, because TSan does not understand standalone fences or
/// IPIs), both sides are `fence(SeqCst)`: loom cannot model `membarrier`, and
/// a SeqCst fence on both sides is the stand-in it can check.
pub(crate) mod barrier {
    use super::Ordering;

    /// Which light/heavy pair this process uses.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Kind {
        /// Light side: compiler fence. Heavy side: `membarrier`. (Never
        /// chosen under loom or Miri, hence the `allow`.)
        #[cfg_attr(any(loom, miri, ringflow_no_membarrier, not(target_os = "linux")), allow(dead_code))]
        Membarrier,
        /// Both sides: `fence(SeqCst)`.
        Fence,
    }

    /// Decides, once per process, which barrier pair to use.
    pub(crate) fn kind() -> Kind {
        #[cfg(all(target_os = "linux", not(loom), not(miri), not(ringflow_no_membarrier)))]
        {
            static KIND: std::sync::OnceLock<Kind> = std::sync::OnceLock::new();
            *KIND.get_or_init(|| {
                use rustix::thread::{membarrier, membarrier_query, MembarrierCommand, MembarrierQuery};
                let supported = membarrier_query();
                if supported.contains(MembarrierQuery::PRIVATE_EXPEDITED)
                    && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
                {
                    Kind::Membarrier
                } else {
                    Kind::Fence
                }
            })
        }
        #[cfg(not(all(target_os = "linux", not(loom), not(miri), not(ringflow_no_membarrier))))]
        {
            Kind::Fence
        }
    }

    /// The notifier's side: cheap, run on every operation of a `Park` channel.
    #[inline(always)]
    pub(crate) fn light(kind: Kind) {
        // A loom model of `wait::Settled` takes the notifier's fence away
        // (the production light barrier is a compiler fence), so that only
        // the settled check can make a sleep safe there.
        #[cfg(all(loom, feature = "__test-hooks"))]
        if probe::light_barrier_is_off() {
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
            return;
        }
        match kind {
            Kind::Membarrier => core::sync::atomic::compiler_fence(Ordering::SeqCst),
            Kind::Fence => super::fence(Ordering::SeqCst),
        }
    }

    /// The heavy side: expensive, run only by a thread already on a slow
    /// path (about to sleep, or raising the congestion flag).
    ///
    /// Returns `false` if the barrier could not be run (`membarrier` failed
    /// after a successful registration, which needs a kernel bug or a
    /// seccomp change at run time; or a failure injected by a test). The
    /// caller must then act as if the other side may not have seen its
    /// store: a waiter does not sleep, a raise is undone. It never panics,
    /// so a failed barrier can never surface as a panic from an operation
    /// that already succeeded.
    #[cold]
    #[must_use]
    pub(crate) fn heavy(kind: Kind) -> bool {
        #[cfg(feature = "__test-hooks")]
        if !probe::count_heavy(kind) {
            return false;
        }
        match kind {
            Kind::Membarrier => {
                #[cfg(all(target_os = "linux", not(loom), not(miri), not(ringflow_no_membarrier)))]
                {
                    use rustix::thread::{membarrier, MembarrierCommand};
                    // Registration succeeded, so this fails only on a kernel
                    // bug. A full fence here alone would not be enough (the
                    // light side is only a compiler fence), so report it.
                    membarrier(MembarrierCommand::PrivateExpedited).is_ok()
                }
                #[cfg(not(all(target_os = "linux", not(loom), not(miri), not(ringflow_no_membarrier))))]
                unreachable!("membarrier barrier kind on a build without membarrier");
            }
            Kind::Fence => {
                super::fence(Ordering::SeqCst);
                true
            }
        }
    }

    /// Test-only instrumentation of the heavy barrier (feature
    /// `__test-hooks`): a per-thread count of `membarrier` system calls,
    /// and injected failures. Per thread, so that tests running in parallel
    /// in one process do not see each other's barriers.
    #[cfg(feature = "__test-hooks")]
    pub(crate) mod probe {
        use std::cell::Cell;

        std::thread_local! {
            static HEAVY: Cell<u64> = const { Cell::new(0) };
            static FAIL: Cell<u64> = const { Cell::new(0) };
        }

        /// Counts one heavy barrier on this thread (if it is a system call);
        /// `false` if an injected failure consumes it.
        pub(crate) fn count_heavy(kind: super::Kind) -> bool {
            if kind == super::Kind::Membarrier {
                HEAVY.with(|h| h.set(h.get() + 1));
            }
            FAIL.with(|f| {
                let left = f.get();
                if left > 0 {
                    f.set(left - 1);
                    false
                } else {
                    true
                }
            })
        }

        /// `membarrier` system calls made by this thread so far (heavy
        /// barriers of the `Membarrier` kind; `Fence`-kind heavy barriers
        /// enter no kernel and are not counted).
        pub fn membarrier_calls_on_this_thread() -> u64 {
            HEAVY.with(Cell::get)
        }

        /// Whether this process's `Park` channels use `membarrier` (it is
        /// not used under Miri, loom, `--cfg ringflow_no_membarrier`, or
        /// where the kernel refuses it).
        pub fn park_channels_use_membarrier() -> bool {
            super::kind() == super::Kind::Membarrier
        }

        /// Registries switched to the fence pair (`wait.rs`, "Paced
        /// registries"), process-wide, ever.
        static FENCE_PAIR_SWITCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

        /// Counts one switch of a registry to the fence pair.
        #[cfg_attr(loom, allow(dead_code))]
        pub(crate) fn count_fence_pair_switch() {
            FENCE_PAIR_SWITCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }

        /// How many times a registry of this process switched to the fence
        /// pair so far (tests running in parallel add theirs: compare
        /// before / after, expecting growth, not an exact count).
        pub fn fence_pair_switches() -> u64 {
            FENCE_PAIR_SWITCHES.load(std::sync::atomic::Ordering::Relaxed)
        }

        /// Makes the next `n` heavy barriers on this thread fail, as a
        /// failed `membarrier` would.
        pub fn fail_next_heavy_barriers(n: u64) {
            FAIL.with(|f| f.set(n));
        }

        /// Under loom: the light barrier is a compiler fence only (as the
        /// production `membarrier` pair's is) while this is set, process-wide
        /// (loom's `SeqCst` fence otherwise stands in for it). For the model
        /// of `wait::Settled` (`loom-tests/tests/mpmc_settled.rs`), which
        /// runs in its own test binary.
        #[cfg(loom)]
        static LIGHT_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

        /// Sets [`light_barrier_is_off`].
        #[cfg(loom)]
        pub fn set_light_barrier_off(off: bool) {
            LIGHT_OFF.store(off, std::sync::atomic::Ordering::Relaxed);
        }

        /// Whether a loom model has taken the light barrier away.
        #[cfg(loom)]
        pub(crate) fn light_barrier_is_off() -> bool {
            LIGHT_OFF.load(std::sync::atomic::Ordering::Relaxed)
        }
    }
}
