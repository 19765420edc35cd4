//! The batch calls of the [`Stamped`] layout: `send_slice`, `send_iter` and
//! `recv_into`, one slot at a time (its values are not contiguous, so it
//! has no slice views: no `write_chunk_uninit` / `read_chunk`), each batch
//! published with one store of `tail` (after a stamp per item) or `head`.
//!
//! Not compiled under loom, as the default layout's batch API.

use super::{Consumer, Producer, Stamped};

impl<T> Producer<T, Stamped> {
    /// Copies as many items from the front of `items` as there is room for,
    /// publishes them at once, and returns how many were sent (0 if the
    /// ring is full or the consumer is gone). As
    /// [`Producer::send_slice`](super::Producer::send_slice).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::Builder::new(4).spsc_stamped::<u8>();
    /// assert_eq!(tx.send_slice(b"hello"), 4); // only 4 fit
    /// let mut out = [0u8; 8];
    /// assert_eq!(rx.recv_into(&mut out), 4);
    /// assert_eq!(&out[..4], b"hell");
    /// ```
    #[must_use = "the items past the count returned were not sent"]
    pub fn send_slice(&mut self, items: &[T]) -> usize
    where
        T: Copy,
    {
        self.send_iter(&mut items.iter().copied())
    }

    /// Moves items out of `iter` into the ring until it has sent as many as
    /// the ring had room for when the call began or `iter` ends, publishes
    /// them at once, and returns how many were sent. Never pulls an item it
    /// has no room for; if `iter` panics, the items written so far are
    /// still sent. As [`Producer::send_iter`](super::Producer::send_iter).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ringflow::Builder::new(2).spsc_stamped::<String>();
    /// let mut words = ["a", "b", "c"].map(String::from).into_iter();
    /// assert_eq!(tx.send_iter(&mut words), 2);
    /// assert_eq!(words.next().as_deref(), Some("c")); // not lost
    /// ```
    #[must_use = "the count says how many items the iterator gave up"]
    pub fn send_iter<I: Iterator<Item = T>>(&mut self, iter: &mut I) -> usize {
        if self.is_disconnected() {
            return 0;
        }
        // The whole capacity, so that a cached view showing only some room
        // is refreshed (a stamped ring is flat: its free slots are all in
        // its one buffer).
        let room = self.free_slots(self.capacity);
        struct Publish<'p, T> {
            producer: &'p mut Producer<T, Stamped>,
            written: usize,
        }
        impl<T> Drop for Publish<'_, T> {
            fn drop(&mut self) {
                // On success and on unwind alike: stamp and publish what was
                // written, so no value is leaked or left half-sent.
                self.producer.publish_tail(self.written);
            }
        }
        let mut guard = Publish { producer: self, written: 0 };
        while guard.written < room {
            let Some(item) = iter.next() else { break };
            let p = &*guard.producer;
            // `written < room <= seg_len`, as `wrap_add` needs.
            let idx = crate::buffer::wrap_add(p.tail_idx(), guard.written, p.seg_len);
            // SAFETY: `idx < seg_len`; the slot is among the `room` free ones
            // before `limit`, which the consumer does not read until the
            // guard publishes them.
            unsafe { p.cell(idx).with_mut(|slot| (*slot).write(item)) };
            guard.written += 1;
        }
        guard.written
    }
}

impl<T> Consumer<T, Stamped> {
    /// Copies up to `out.len()` queued items into `out`, frees their slots
    /// at once, and returns how many. As
    /// [`Consumer::recv_into`](super::Consumer::recv_into).
    #[must_use = "only the first count entries of `out` were received"]
    pub fn recv_into(&mut self, out: &mut [T]) -> usize
    where
        T: Copy,
    {
        let n = self.available(out.len()).min(out.len());
        self.read_ahead_past(n);
        let first = self.head_idx();
        for (k, v) in out[..n].iter_mut().enumerate() {
            // `k < n <= seg_len`, as `wrap_add` needs.
            let idx = crate::buffer::wrap_add(first, k, self.seg_len);
            // SAFETY: `idx < seg_len`, and the slot is one of the `n` queued
            // items `available` saw published, which the producer does not
            // touch until `head` moves past them.
            *v = unsafe { self.cell(idx).with(|p| (*p).assume_init_read()) };
        }
        // `T: Copy` has no drop glue: freeing the slots is just publishing.
        self.publish_head(n);
        n
    }
}
