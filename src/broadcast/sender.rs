//! The sending half of the broadcast ring.

use crossbeam_utils::CachePadded;

use super::{ahead, behind, busy, idle, lock, Cursor, CursorRef, Policy, Receiver, Registry, Shared};
use crate::buffer::each_catching_panics;
use crate::flow::Control;
use crate::sync::{barrier, Arc, Mutex, MutexGuard, Ordering};
use crate::wait::{send_after_try, send_attempt, Blocking, WaitOn, Waiter};
use crate::{SendError, SendTimeoutError, Stats, TrySendError, WaitStrategy};
#[cfg(not(loom))]
use std::sync::TryLockError;

/// The sending half of a broadcast ring. There is one: it is not `Clone`,
/// and its sending methods take `&mut self`. `Send` and `Sync` when
/// `T: Send + Sync` (receivers clone one value from several threads).
///
/// ```compile_fail
/// fn assert_send<S: Send>(_: &S) {}
/// let (tx, _rx) = ringflow::broadcast::channel::<std::rc::Rc<u8>>(1);
/// assert_send(&tx);
/// ```
// Aligned to 128 bytes for the reason given on `spsc::Producer`.
#[repr(align(128))]
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
    /// The next position to write; the sender is the only writer of
    /// `shared.tail`, so this private copy is always exact.
    tail: usize,
    /// Slot index of `tail`: always `< capacity`.
    tail_idx: usize,
    /// A lower bound of every live receiver's position (and of every future
    /// one's: clones start at an existing receiver's position, subscriptions
    /// at `tail`). Invariant: `tail - cached_min <= capacity` on Block rings.
    /// Refreshed by a rescan only when it says the ring is full.
    cached_min: usize,
    /// The registry's published list, refreshed when `generation` differs
    /// from `snapshot_gen`. May hold cursors of dropped receivers (their
    /// `live` flag is `false`: skipped).
    snapshot: Arc<Vec<CursorRef>>,
    snapshot_gen: usize,
    /// `Some` on `Park` channels: wake sleeping receivers after each send.
    park: Option<barrier::Kind>,
}

// SAFETY: the sender moves values of `T` into the ring, where receivers on
// other threads clone them through `&T` and the sender (or the last handle)
// drops them: `T: Send + Sync`. The shared state is atomics, a mutex, and
// slots whose access the publication / cursor protocol serialises (module
// docs).
unsafe impl<T: Send + Sync> Send for Sender<T> {}
// SAFETY: `&Sender` only reads the sender's private fields (`subscribe`,
// queries) and takes the registry mutex; everything that writes needs
// `&mut self`.
unsafe impl<T: Send + Sync> Sync for Sender<T> {}

impl<T> Sender<T> {
    pub(super) fn new(shared: Arc<Shared<T>>, start: usize, park: Option<barrier::Kind>) -> Self {
        let (snapshot, snapshot_gen) = {
            let registry = lock(&shared.cold.registry);
            (registry.published.clone(), shared.cold.generation.load(Ordering::Relaxed))
        };
        Sender { shared, tail: start, tail_idx: 0, cached_min: start, snapshot, snapshot_gen, park }
    }

    /// Sends `value` to every live receiver if there is room, without
    /// waiting.
    ///
    /// Block: fails `Full` while the slowest live receiver is `capacity`
    /// items behind. Lossy: never `Full`; it overwrites the oldest item, and
    /// may wait for a receiver that is cloning exactly that item to finish
    /// its clone (spinning on `BusySpin` channels; spinning, then yielding
    /// the thread on `SpinYield` and `Park` ones; never parking). That wait
    /// lasts as long as the clone runs: a `T::clone` that waits for
    /// something the sending thread holds while it sends (a lock it took
    /// around the send) never returns, and the send waits for ever. Apart
    /// from that wait's yields, never enters the kernel on `BusySpin` /
    /// `SpinYield` channels; on `Park` it may wake parked receivers.
    ///
    /// After a receiver joined or left, the first send that looks at the
    /// receivers (on `Park` every send; on Block one that finds the ring
    /// full; on Lossy one that overwrites) takes the list of receivers that
    /// receiver published, under the registry's lock: no allocation, no
    /// free. A joining or leaving receiver holds that lock for a moment; a
    /// send that meets it waits as the strategy says (spinning on
    /// `BusySpin`; spinning, then yielding on `SpinYield`; on `Park` in the
    /// lock). Every other send never touches the lock.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if there is no room (Block only);
    /// [`TrySendError::Disconnected`] if no receiver is alive (even if there
    /// is room). The value is handed back either way.
    ///
    /// # Panics
    ///
    /// If dropping the item this send overwrites panics (after the new item
    /// was sent: the panic is the old item's `Drop`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringflow::TrySendError;
    /// let (mut tx, rx) = ringflow::broadcast::channel(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
    /// ```
    #[inline(always)]
    pub fn try_send(&mut self, value: T) -> Result<(), TrySendError<T>> {
        if self.shared.cold.receivers.load(Ordering::Relaxed) == 0 {
            return Err(TrySendError::Disconnected(value));
        }
        let t = self.tail;
        let cap = self.shared.capacity;
        if t.wrapping_sub(self.cached_min) >= cap {
            // The cached bound says full: look at the receivers.
            match self.shared.policy {
                Policy::Block => {
                    self.rescan();
                    if t.wrapping_sub(self.cached_min) >= cap {
                        return Err(TrySendError::Full(value));
                    }
                }
                Policy::Lossy => self.evict(),
            }
            // The room may have come from the last receiver leaving (it
            // leaves the count before it releases its cursor, and the rescan
            // loads the cursor with `Acquire`): then nobody would ever read
            // this item, so hand it back (found by Miri's scheduling in
            // `last_receiver_drop_wakes_the_blocked_sender_with_its_value`).
            if self.shared.cold.receivers.load(Ordering::Acquire) == 0 {
                return Err(TrySendError::Disconnected(value));
            }
        }
        let shared = &*self.shared;
        // Room: every receiver is past `t - capacity`, the position this
        // slot held, and its clones of it happen-before this point (the
        // `Acquire` loads of the rescan that established `cached_min`).
        let idx = self.tail_idx;
        let had_old = t.wrapping_sub(shared.start) >= cap;
        // SAFETY: `tail_idx < capacity` (the field's invariant); no receiver
        // reads this slot until `write` publishes position `t` (none is at
        // or before `t - capacity`, see above), and the sender is the only
        // writer.
        let old = unsafe { shared.write(idx, t, value) };
        // SAFETY: with `had_old` the slot had been written before, so `old`
        // is the initialised item of position `t - capacity`, now owned here
        // (every receiver that was going to clone it has, or was evicted
        // past it). Owned as a local from here on, so that it is dropped
        // once whatever happens next, also when a receiver's waker panics
        // in the notification below (the unwinding drops it).
        let old = had_old.then(|| unsafe { old.assume_init() });
        self.tail = t.wrapping_add(1);
        self.tail_idx = if idx + 1 == cap { 0 } else { idx + 1 };
        if let Some(kind) = self.park {
            self.notify_receivers(kind);
        }
        drop(old);
        Ok(())
    }

    /// After a publication on a `Park` channel: wake every receiver that
    /// sleeps (each on its own registry; see "Blocking" in the module docs).
    /// While nobody sleeps: the light barrier, one load of `generation` and
    /// one load of each receiver's sleeper count.
    #[inline]
    fn notify_receivers(&mut self, kind: barrier::Kind) {
        // The barrier comes first: a receiver that joined and then
        // registered as a sleeper (with the heavy barrier) either sees our
        // publication (stamp or `tail`) in its re-check, or is in the
        // registry generation we load next.
        barrier::light(kind);
        Self::refresh_snapshot(&self.shared, &mut self.snapshot, &mut self.snapshot_gen);
        // One barrier for every receiver's registry (above). While nobody
        // sleeps, one load of each count; from the first registry with a
        // sleeper on, out of line, every one of them is notified even if a
        // waker woken in one of them panics.
        let mut cursors = self.snapshot.iter();
        while let Some(c) = cursors.next() {
            if c.sleepers.may_have_sleepers() {
                Self::notify_from(c, cursors.as_slice());
                return;
            }
        }
    }

    /// The out-of-line part of [`notify_receivers`](Sender::notify_receivers):
    /// notifies `first`'s registry and each of `rest`'s (each notification
    /// loads its count again, which serves the barrier's argument as well
    /// as the first load did).
    #[cold]
    #[inline(never)]
    fn notify_from(first: &CursorRef, rest: &[CursorRef]) {
        each_catching_panics(core::iter::once(first).chain(rest), |c| c.sleepers.notify_n_after_barrier(1));
    }

    /// Refreshes `snapshot` from the registry if its generation moved. The
    /// check is inline (every send on a `Park` channel makes it); the copy,
    /// rare, is not.
    #[inline(always)]
    fn refresh_snapshot(shared: &Shared<T>, snapshot: &mut Arc<Vec<CursorRef>>, snapshot_gen: &mut usize) {
        if shared.cold.generation.load(Ordering::Acquire) != *snapshot_gen {
            Self::copy_registry(shared, snapshot, snapshot_gen);
        }
    }

    /// The copy of [`refresh_snapshot`](Sender::refresh_snapshot): a
    /// clone of the registry's published list (the receiver that changed
    /// the registry built it), so no allocation and no free here: the
    /// registry keeps the list dropped here until a later change finds the
    /// sender done with it. The mutex is taken without entering the kernel
    /// on `BusySpin` (spinning) and `SpinYield` (yielding) channels; a
    /// receiver holds it only while it joins or leaves.
    #[cold]
    #[inline(never)]
    fn copy_registry(shared: &Shared<T>, snapshot: &mut Arc<Vec<CursorRef>>, snapshot_gen: &mut usize) {
        let cold = &shared.cold;
        let registry = lock_on(&cold.registry, &cold.ctl);
        // Under the mutex: exactly the registrations the copy holds.
        *snapshot_gen = cold.generation.load(Ordering::Relaxed);
        // Never the last reference: the registry retired this list with
        // one of its own when it published the next.
        drop(core::mem::replace(snapshot, registry.published.clone()));
    }

    /// Block: recomputes `cached_min` from every live cursor. Repeats if a
    /// receiver joined meanwhile (see "Joining while the sender rescans" in
    /// the module docs).
    #[cold]
    #[inline(never)]
    fn rescan(&mut self) {
        let t = self.tail;
        loop {
            Self::refresh_snapshot(&self.shared, &mut self.snapshot, &mut self.snapshot_gen);
            let mut slowest = 0;
            for c in self.snapshot.iter() {
                if c.live.load(Ordering::Acquire) {
                    // Acquire: the receiver's clones of every position
                    // before the one it published happen-before our
                    // reuse of their slots.
                    slowest = slowest.max(behind(t, c.state.load(Ordering::Acquire)));
                }
            }
            if self.shared.cold.generation.load(Ordering::Acquire) == self.snapshot_gen {
                self.cached_min = t.wrapping_sub(slowest);
                return;
            }
        }
    }

    /// Lossy: makes the slot of `q = tail - capacity` free to overwrite.
    /// Every live cursor at or before `q` is evicted to `q + 1` (idle) or
    /// waited for (busy cloning `q`); then `cached_min` is recomputed.
    #[cold]
    #[inline(never)]
    fn evict(&mut self) {
        let shared = &*self.shared;
        let t = self.tail;
        let q = t.wrapping_sub(shared.capacity);
        let oldest = idle(q.wrapping_add(1));
        // Waiting for an in-flight clone never parks: the receiver is
        // running it (as `force_send` on the MPMC ring).
        let strategy = match shared.cold.ctl.strategy {
            WaitStrategy::Park => WaitStrategy::SpinYield,
            other => other,
        };
        loop {
            Self::refresh_snapshot(shared, &mut self.snapshot, &mut self.snapshot_gen);
            let mut slowest = 0;
            for c in self.snapshot.iter() {
                if !c.live.load(Ordering::Acquire) {
                    continue;
                }
                let mut waiter = Waiter::new(strategy, None);
                let mut state = c.state.load(Ordering::Acquire);
                loop {
                    if ahead(state, idle(q)) > 0 {
                        // Past `q`: its clones of `q` (if any) happen-before
                        // this point (the Acquire load that saw its store).
                        slowest = slowest.max(behind(t, state));
                        break;
                    }
                    if state & 1 == 1 {
                        // Cloning: only ever the item at `q` (an older
                        // position was overwritten by an earlier send, which
                        // moved this cursor past it). Wait for the clone.
                        debug_assert_eq!(state, busy(q), "a receiver cloning an already overwritten item");
                        let _ = waiter.pause(&shared.cold.ctl.send_waiters, None, None, None, || true);
                        state = c.state.load(Ordering::Acquire);
                        continue;
                    }
                    // Idle at or before `q`: move it to the oldest position
                    // held after this send. The receiver reads the slot only
                    // after its own CAS idle -> busy, which now fails, and it
                    // learns the new position from this word (after that
                    // failure, or, stamped layout, after seeing the later
                    // stamp we store with Release after this CAS). Acquire:
                    // if this CAS reads a clone's RMW of this cursor, the
                    // clone's registration must be visible to our closing
                    // load of `generation` (with Relaxed, loom model
                    // `lossy_clone_while_evicting` finds the clone missed and
                    // its item overwritten under it).
                    match c.state.compare_exchange(state, oldest, Ordering::Acquire, Ordering::Acquire) {
                        Ok(_) => {
                            slowest = slowest.max(behind(t, oldest));
                            break;
                        }
                        Err(now) => state = now,
                    }
                }
            }
            if shared.cold.generation.load(Ordering::Acquire) == self.snapshot_gen {
                self.cached_min = t.wrapping_sub(slowest);
                return;
            }
        }
    }

    /// Sends `value`, waiting for room as the channel's [`WaitStrategy`]
    /// says (Block). On a Lossy ring this is [`try_send`](Sender::try_send),
    /// which never finds the ring full.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if no receiver is alive, before the call
    /// or while waiting.
    ///
    /// # Panics
    ///
    /// As [`try_send`](Sender::try_send).
    // Always inline, as the SPSC ring's `send` (see `spsc::Producer::send`).
    #[inline(always)]
    pub fn send(&mut self, value: T) -> Result<(), SendError<T>> {
        send_after_try(self.try_send(value), |v| self.send_until(v, None, false))
    }

    timed_forms!(send, mut;
        /// Sends `value`, waiting at most `timeout` for room. A timeout too large
        /// to add to the current time means no deadline.
        ///
        /// # Errors
        ///
        /// [`SendTimeoutError::Timeout`] if there was no room in time;
        /// [`SendTimeoutError::Disconnected`] if no receiver is alive. The value
        /// is handed back either way.
        ///
        /// # Panics
        ///
        /// As [`try_send`](Sender::try_send).
        ;
        /// Sends `value`, waiting for room until `deadline`. A deadline already
        /// past means exactly one attempt.
        ///
        /// # Errors
        ///
        /// As [`send_timeout`](Sender::send_timeout).
        ///
        /// # Panics
        ///
        /// As [`try_send`](Sender::try_send).
    );

    /// A new receiver that sees only items sent from now on. Revives a
    /// channel whose receivers were all dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::broadcast::channel::<u32>(4);
    /// tx.send(1).unwrap();
    /// let mut late = tx.subscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(late.try_recv(), Ok(2)); // 1 was sent before it joined
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        // A send cannot run now (it needs `&mut self`), so the sender's
        // cached minimum stays a lower bound: the new cursor is at `tail`.
        let cursor = Arc::new(CachePadded::new(Cursor::new(idle(self.tail))));
        self.shared.register(&cursor);
        Receiver::new(self.shared.clone(), cursor, self.tail, self.tail_idx, self.park)
    }

    /// How many items the slowest live receiver has not read yet (0 without
    /// receivers), from the receivers' published positions: at most the
    /// capacity, since on a Lossy ring a send first moves any receiver it
    /// would overwrite to the oldest item held (that receiver's own
    /// [`Receiver::lag`] still counts what it missed, until its next
    /// receive reports `Lagged`). Takes the registry mutex; possibly stale
    /// by the time it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::broadcast::channel::<u32>(4);
    /// let mut fast = rx.clone();
    /// for i in 0..3 { tx.send(i).unwrap(); }
    /// while fast.try_recv().is_ok() {}
    /// assert_eq!(tx.slowest_lag(), 3); // `rx` has read nothing
    /// rx.try_recv().unwrap();
    /// assert_eq!(tx.slowest_lag(), 2);
    /// ```
    pub fn slowest_lag(&self) -> usize {
        self.shared.slowest_behind(self.tail)
    }

    /// Number of live receivers. Possibly stale by the time it returns.
    pub fn receiver_count(&self) -> usize {
        self.shared.cold.receivers.load(Ordering::Relaxed)
    }

    /// Items the slowest live receiver can still read: [`slowest_lag`]
    /// (0 without receivers; at most the capacity). On a Block ring,
    /// `len() == capacity()` means the next `try_send` fails `Full`.
    ///
    /// [`slowest_lag`]: Sender::slowest_lag
    pub fn len(&self) -> usize {
        self.slowest_lag().min(self.shared.capacity)
    }

    broadcast_introspection!();

    /// Counters of the channel's slow paths, shared by every handle (see
    /// [`Stats`]; `evictions` and `congestion_transitions` stay 0 here;
    /// `parks` / `wakeups` count the sender's side, each receiver's parks
    /// are in [`Receiver::stats`]).
    pub fn stats(&self) -> Stats {
        self.shared.cold.ctl.stats()
    }

    /// `true` while no receiver is alive: sends fail. Unlike the other rings
    /// this can become `false` again, through [`subscribe`](Sender::subscribe).
    pub fn is_disconnected(&self) -> bool {
        self.shared.cold.receivers.load(Ordering::Acquire) == 0
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let cold = &self.shared.cold;
        // Release: a receiver that sees `false` sees every item we published
        // (stamps and `tail`).
        cold.sender_alive.store(false, Ordering::Release);
        // Each receiver sleeps on its own registry. A receiver that joins
        // after the copy below sees `sender_alive == false` (the registry
        // mutex orders it) and never sleeps. Woken after the mutex is
        // released: a waker may drop the last reference to its task, whose
        // future may own a receiver, whose drop takes that mutex (this
        // thread held it here once, and hung).
        let receivers = lock(&cold.registry).cursors.clone();
        // The sender's own registries first (`None`: leaked pending sends,
        // watermark waiters), then every receiver's, each even if a waker
        // woken in an earlier one panics: a receiver blocked in `recv` must
        // learn that the sender is gone whatever a leaked send's waker does.
        let everyone = core::iter::once(None).chain(receivers.into_iter().map(Some));
        each_catching_panics(everyone, |registry| match registry {
            None => cold.ctl.wake_everyone(),
            Some(c) => c.sleepers.wake_all(),
        });
    }
}

/// The registry's mutex for the sender's refresh: on `BusySpin` and
/// `SpinYield` channels taken as their waits go (spinning; then yielding
/// the thread on `SpinYield`) while a joining or leaving receiver holds it,
/// never by sleeping in the kernel; on `Park` channels as [`lock`] does.
/// As with any spinning wait, a `BusySpin` sender with a real-time priority
/// that shares its core with a receiver preempted while it joins or leaves
/// spins until that receiver runs again (a sleeping lock would have let it
/// run at once).
fn lock_on<'a>(m: &'a Mutex<Registry>, ctl: &Control) -> MutexGuard<'a, Registry> {
    #[cfg(not(loom))]
    if ctl.strategy != WaitStrategy::Park {
        let mut waiter = Waiter::new(ctl.strategy, None);
        loop {
            match m.try_lock() {
                Ok(registry) => return registry,
                // Consistent anyway: see `lock`.
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
            // Never registers: only `Park` waits sleep.
            let _ = waiter.pause(&ctl.send_waiters, None, None, None, || true);
        }
    }
    #[cfg(loom)]
    let _ = ctl;
    lock(m)
}

/// A blocking send, for the driver in `wait.rs`.
impl<T> Blocking for Sender<T> {
    type Carry = T;
    type Output = ();
    type Error = T;

    #[inline(always)]
    fn attempt(&mut self, value: T) -> Result<Result<(), T>, T> {
        send_attempt(self.try_send(value))
    }

    /// Scans the registry with fresh loads: every receive on a Block `Park`
    /// channel publishes its cursor and then notifies `send_waiters`, and a
    /// leaving receiver wakes them all.
    fn ready(&self) -> bool {
        self.shared.send_may_proceed(self.tail)
    }

    #[inline(always)]
    fn wait_on(&self) -> WaitOn<'_> {
        self.shared.cold.ctl.send_side(self.park, false, None)
    }
}

handle_debug!(Sender);
