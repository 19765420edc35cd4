//! Code the handle types of both rings share, written once as macros: the
//! introspection methods every handle has, the `Debug` impls, and the
//! receiving iterators.

/// Inside `impl<T> Handle<T>`: `is_empty`, `is_full`, `capacity`,
/// `wait_strategy`, `stats` and `congestion`. Everything it needs from the
/// handle is passed in, so the dependency is visible at the call site: the
/// handle's own `len()` (a method the handle must have), and three
/// expressions of `this` (the handle): its capacity, its channel's
/// [`Control`](crate::flow::Control) block, and its cached
/// `Option<Marks>` watermarks.
macro_rules! handle_introspection {
    (
        capacity: |$this:ident| $capacity:expr,
        control: |$this_c:ident| $control:expr,
        marks: |$this_m:ident| $marks:expr $(,)?
    ) => {
        /// `true` if [`len`](Self::len) is 0. Possibly stale by the time it
        /// returns: the other side keeps working.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// `true` if [`len`](Self::len) equals the capacity. Possibly stale
        /// by the time it returns: the other side keeps working.
        pub fn is_full(&self) -> bool {
            self.len() == self.capacity()
        }

        /// The number of items the ring holds, exactly as requested.
        pub fn capacity(&self) -> usize {
            let $this = self;
            $capacity
        }

        /// The channel's wait strategy.
        pub fn wait_strategy(&self) -> $crate::WaitStrategy {
            let $this_c = self;
            let control: &$crate::flow::Control = $control;
            control.strategy
        }

        /// Counters of the channel's slow paths, shared by every handle of
        /// the channel (see [`Stats`](crate::Stats)).
        pub fn stats(&self) -> $crate::Stats {
            let $this_c = self;
            let control: &$crate::flow::Control = $control;
            control.stats()
        }

        /// The channel's congestion state (see
        /// [`Builder::watermarks`](crate::Builder::watermarks)). This query
        /// also applies the transition the current length calls for. Always
        /// [`Congestion::Clear`](crate::Congestion::Clear) without
        /// watermarks.
        pub fn congestion(&self) -> $crate::Congestion {
            let control: &$crate::flow::Control = {
                let $this_c = self;
                $control
            };
            let marks: Option<$crate::flow::Marks> = {
                let $this_m = self;
                $marks
            };
            control.observe(marks, || self.len())
        }
    };
}

/// `Debug` for a handle: its length, capacity and disconnection, never the
/// items (so `T: Debug` is not needed).
macro_rules! handle_debug {
    ($($handle:ident),+) => {$(
        handle_debug!([] $handle<T>);
    )+};
    // One handle with generic parameters besides `T` (the SPSC layout):
    // `[, L: Layout]`.
    ([$($gen:tt)*] $handle:ident<$($arg:ident),+>) => {
        impl<T $($gen)*> core::fmt::Debug for $handle<$($arg),+> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($handle))
                    .field("len", &self.len())
                    .field("capacity", &self.capacity())
                    .field("disconnected", &self.is_disconnected())
                    .finish()
            }
        }
    };
}

/// The receiving iterators of a ring whose receiver type is `$rx`: `TryIter`
/// (from `try_iter`), `Iter` (from `iter`), `IntoIter`, and `IntoIterator`
/// for the receiver and for a reference to it (`&mut` for the SPSC
/// consumer, whose methods take `&mut self`).
macro_rules! receiver_iterators {
    ($rx:ident $(, $mut:ident)?) => {
        receiver_iterators!($rx [] [] [] $(, $mut)?);
    };
    // With generic parameters besides `T` (the SPSC layout), each list with
    // its leading comma: as declared (with defaults), as bounded in impls,
    // as arguments.
    ($rx:ident [$($decl:tt)*] [$($imp:tt)*] [$($arg:tt)*] $(, $mut:ident)?) => {
        #[doc = concat!("Iterator returned by [`", stringify!($rx), "::try_iter`]: receives what is there, without waiting.")]
        pub struct TryIter<'a, T $($decl)*> {
            rx: &'a $($mut)? $rx<T $($arg)*>,
        }

        impl<T $($imp)*> Iterator for TryIter<'_, T $($arg)*> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.try_recv().ok()
            }
        }

        #[doc = concat!("Iterator returned by [`", stringify!($rx), "::iter`]: waits for each item, ends at disconnection.")]
        pub struct Iter<'a, T $($decl)*> {
            rx: &'a $($mut)? $rx<T $($arg)*>,
        }

        impl<T $($imp)*> Iterator for Iter<'_, T $($arg)*> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.recv().ok()
            }
        }

        // `recv` fails only once every sender is gone and nothing is left,
        // and no sender can come back: after the first `None`, only `None`.
        impl<T $($imp)*> core::iter::FusedIterator for Iter<'_, T $($arg)*> {}

        #[doc = concat!("Owning blocking iterator, from `", stringify!($rx), "::into_iter`.")]
        pub struct IntoIter<T $($decl)*> {
            rx: $rx<T $($arg)*>,
        }

        impl<T $($imp)*> Iterator for IntoIter<T $($arg)*> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.recv().ok()
            }
        }

        // As for `Iter`.
        impl<T $($imp)*> core::iter::FusedIterator for IntoIter<T $($arg)*> {}

        impl<T $($imp)*> IntoIterator for $rx<T $($arg)*> {
            type Item = T;
            type IntoIter = IntoIter<T $($arg)*>;
            fn into_iter(self) -> IntoIter<T $($arg)*> {
                IntoIter { rx: self }
            }
        }

        impl<'a, T $($imp)*> IntoIterator for &'a $($mut)? $rx<T $($arg)*> {
            type Item = T;
            type IntoIter = Iter<'a, T $($arg)*>;
            fn into_iter(self) -> Iter<'a, T $($arg)*> {
                self.iter()
            }
        }

        impl<T $($imp)*> core::fmt::Debug for TryIter<'_, T $($arg)*> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct("TryIter").field("rx", &self.rx).finish()
            }
        }

        impl<T $($imp)*> core::fmt::Debug for Iter<'_, T $($arg)*> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct("Iter").field("rx", &self.rx).finish()
            }
        }

        impl<T $($imp)*> core::fmt::Debug for IntoIter<T $($arg)*> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct("IntoIter").field("rx", &self.rx).finish()
            }
        }
    };
}

/// [`Blocking`](crate::wait::Blocking), the driver's view of one direction
/// of a handle, for the handles whose attempt is a `try_send` / `try_recv`
/// (named by `attempt:`; the MPMC handles name a variant that may yield
/// under contention), whose fresh re-check is `room_or_gone` /
/// `item_or_gone` and whose place to wait is `waiting()` (the SPSC and MPMC
/// handles): written once here. A receive may name a method to run before
/// each pause (`while_waiting: method`), a send one to run once after a
/// thread's first pause, if that wait spins (`first_pause: method`).
/// Generic parameters besides `T` go in brackets after the direction
/// (`send[L: Layout]: Producer<T, L>`, the SPSC layout).
macro_rules! handle_blocking {
    (send $([$($gen:tt)*])?: $tx:ty, attempt: $attempt:ident $(, first_pause: $first:ident)?) => {
        impl<T $(, $($gen)*)?> $crate::wait::Blocking for $tx {
            type Carry = T;
            type Output = ();
            type Error = T;

            $(
                #[inline(always)]
                fn first_pause(&self) {
                    self.$first()
                }
            )?

            #[inline(always)]
            fn attempt(&mut self, value: T) -> Result<Result<(), T>, T> {
                $crate::wait::send_attempt(self.$attempt(value))
            }

            fn ready(&self) -> bool {
                self.room_or_gone()
            }

            #[inline(always)]
            fn wait_on(&self) -> $crate::wait::WaitOn<'_> {
                self.waiting()
            }
        }
    };
    (recv $([$($gen:tt)*])?: $rx:ty, attempt: $attempt:ident $(, while_waiting: $hint:ident)?) => {
        impl<T $(, $($gen)*)?> $crate::wait::Blocking for $rx {
            type Carry = ();
            type Output = T;
            type Error = $crate::RecvTimeoutError;

            #[inline(always)]
            fn attempt(&mut self, (): ()) -> Result<Result<T, $crate::RecvTimeoutError>, ()> {
                $crate::wait::recv_attempt(self.$attempt())
            }

            fn ready(&self) -> bool {
                self.item_or_gone()
            }

            #[inline(always)]
            fn wait_on(&self) -> $crate::wait::WaitOn<'_> {
                self.waiting()
            }

            $(
                #[inline(always)]
                fn while_waiting(&self) {
                    self.$hint()
                }
            )?
        }
    };
}

/// The timed forms of a blocking send or receive (`send_timeout` /
/// `send_deadline`, or `recv_timeout` / `recv_deadline`) and the cold
/// waiting path they and the plain form share (`send_until` /
/// `recv_until`: the driver of `wait.rs` with a deadline), written once for
/// every handle. The handle passes its own docs for the two public methods,
/// and `mut` if its operations take `&mut self`. `SendTimeoutError` /
/// `RecvTimeoutError` are the invoking module's (the broadcast ring has its
/// own `RecvTimeoutError`, with `Lagged`).
macro_rules! timed_forms {
    (send, $($mut_:ident)?; $(#[$timeout_doc:meta])*; $(#[$deadline_doc:meta])*) => {
        $(#[$timeout_doc])*
        pub fn send_timeout(
            &$($mut_)? self,
            value: T,
            timeout: std::time::Duration,
        ) -> Result<(), SendTimeoutError<T>> {
            self.send_until(value, $crate::wait::deadline_after(timeout), false)
        }

        $(#[$deadline_doc])*
        pub fn send_deadline(
            &$($mut_)? self,
            value: T,
            deadline: std::time::Instant,
        ) -> Result<(), SendTimeoutError<T>> {
            self.send_until(value, Some(deadline), false)
        }

        /// The waiting path of every blocking send form, out of line;
        /// `counted`: the call comes from a short wait (`wait::short_wait`,
        /// SPSC only), which counted the wait.
        #[cold]
        #[inline(never)]
        fn send_until(
            &$($mut_)? self,
            value: T,
            deadline: Option<std::time::Instant>,
            counted: bool,
        ) -> Result<(), SendTimeoutError<T>> {
            let mut op = self;
            $crate::wait::send_outcome($crate::wait::block(&mut op, value, deadline, counted))
        }
    };
    (recv, $($mut_:ident)?; $(#[$timeout_doc:meta])*; $(#[$deadline_doc:meta])*) => {
        $(#[$timeout_doc])*
        pub fn recv_timeout(&$($mut_)? self, timeout: std::time::Duration) -> Result<T, RecvTimeoutError> {
            self.recv_until($crate::wait::deadline_after(timeout), false)
        }

        $(#[$deadline_doc])*
        pub fn recv_deadline(&$($mut_)? self, deadline: std::time::Instant) -> Result<T, RecvTimeoutError> {
            self.recv_until(Some(deadline), false)
        }

        /// The waiting path of every blocking receive form, out of line;
        /// `counted`: the call comes from a short wait (`wait::short_wait`,
        /// SPSC only), which counted the wait.
        #[cold]
        #[inline(never)]
        fn recv_until(
            &$($mut_)? self,
            deadline: Option<std::time::Instant>,
            counted: bool,
        ) -> Result<T, RecvTimeoutError> {
            let mut op = self;
            $crate::wait::block(&mut op, (), deadline, counted).unwrap_or(Err(RecvTimeoutError::Timeout))
        }
    };
}
