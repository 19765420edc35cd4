//! The SPSC batch API: claim many slots, publish the position once.
//!
//! One `Release` store of `tail` (or `head`) per batch instead of per item,
//! and one refresh of the other side's position at most, is what makes
//! batches cheaper than a loop of `try_send` / `try_recv`.
//!
//! Both layouts have the chunks; the slice views (`as_mut_slices`,
//! `as_slices`) and the slice copies (`send_slice`, `recv_into`) here are
//! the default layout's, whose values are contiguous (the stamped layout's
//! `send_slice` and `recv_into` are in `stamped.rs`). Not compiled under
//! loom: the slice views need the std `UnsafeCell`'s transparent layout,
//! which loom's tracked cell does not have.

use core::mem::MaybeUninit;

use super::layout::{cell_at, Layout};
use super::{Consumer, Packed, Producer};
use crate::buffer::{drop_each, wrap_add};

impl<T, L: Layout> Producer<T, L> {
    /// Grants up to `n` free slots to write in place; the chunk holds fewer
    /// if fewer are free, and none if the consumer is gone. Nothing is
    /// visible to the consumer until the chunk is committed, and then all of
    /// it is published with one store.
    ///
    /// On a ring large enough to keep its items in segments (see the
    /// [module docs](crate::spsc)), a chunk also ends where the producer's
    /// segment does: it may hold fewer than there is room for, and the next
    /// call grants the rest. It holds at least one slot whenever the ring
    /// has room.
    ///
    /// On a [`Stamped`](super::Stamped) ring the slots are written one by
    /// one ([`get_mut`](WriteChunkUninit::get_mut),
    /// [`fill_from_iter`](WriteChunkUninit::fill_from_iter)): its values
    /// are not contiguous, so only the default layout has
    /// [`as_mut_slices`](WriteChunkUninit::as_mut_slices). Committing
    /// stamps each slot, then stores `tail` once.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::spsc::channel::<u32>(8);
    /// let mut chunk = tx.write_chunk_uninit(5);
    /// assert_eq!(chunk.len(), 5);
    /// let (first, second) = chunk.as_mut_slices();
    /// for (i, slot) in first.iter_mut().chain(second).enumerate() {
    ///     slot.write(i as u32 * 10);
    /// }
    /// // SAFETY: all 5 granted slots were initialised above.
    /// unsafe { chunk.commit_all() };
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 10, 20, 30, 40]);
    /// ```
    #[inline]
    pub fn write_chunk_uninit(&mut self, n: usize) -> WriteChunkUninit<'_, T, L> {
        let granted = if self.is_disconnected() { 0 } else { self.free_slots(n).min(n) };
        self.write_ahead_past(granted);
        WriteChunkUninit { producer: self, len: granted }
    }

    /// Moves items out of `iter` into the ring until it has sent as many as
    /// the ring had room for when the call began (it is full then, unless
    /// the consumer took some meanwhile) or `iter` ends, and returns how
    /// many were sent. They are published at once (on a ring whose items
    /// live in segments, once per segment they fill). Takes the iterator by
    /// reference and never pulls an item it has no room for, so whatever
    /// was not sent is still in `iter`. One call sends at most `capacity`
    /// items, however fast the consumer drains.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ringflow::spsc::channel::<String>(2);
    /// let mut words = ["a", "b", "c"].map(String::from).into_iter();
    /// assert_eq!(tx.send_iter(&mut words), 2);
    /// assert_eq!(words.next().as_deref(), Some("c")); // not lost
    /// ```
    #[must_use = "the count says how many items the iterator gave up"]
    pub fn send_iter<I: Iterator<Item = T>>(&mut self, iter: &mut I) -> usize {
        let mut sent = 0;
        // Ask for the whole capacity so that a cached view showing only
        // some room is refreshed: the batch must reach a full ring. That
        // also refreshes `cached_head` (unless the cache already showed the
        // whole capacity free), so the ring's room when the call began is
        // known, and it bounds the call: a flat ring's one chunk is that
        // room; a segmented ring's chunks end at segment boundaries, and
        // without the bound a consumer that kept up would keep one call
        // going for ever (found by a review).
        let mut free = self.free_slots(self.capacity);
        let mut left = self.capacity - self.tail.wrapping_sub(self.cached_head);
        loop {
            let n = free.min(left);
            let written = self.write_chunk_uninit(n).fill_from_iter(iter);
            sent += written;
            left -= written;
            // Done when the iterator ended (it filled less than granted),
            // the room the call began with is used up, or (flat ring) its
            // one chunk was all the room.
            if written == 0 || written < n || left == 0 || !self.sizing.segmented {
                return sent;
            }
            free = self.free_slots(self.capacity);
        }
    }
}

impl<T> Producer<T, Packed> {
    /// Copies as many items from the front of `items` as there is room for,
    /// publishes them at once (once per segment on a segmented ring), and
    /// returns how many were sent (0 if the ring is full or the consumer is
    /// gone).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::spsc::channel::<u8>(4);
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
        let mut sent = 0;
        loop {
            let rest = &items[sent..];
            let mut chunk = self.write_chunk_uninit(rest.len());
            let n = chunk.len();
            let (first, second) = chunk.as_mut_slices();
            for (slot, item) in first.iter_mut().chain(second.iter_mut()).zip(&rest[..n]) {
                slot.write(*item);
            }
            // SAFETY: the loop above initialised all `n` granted slots.
            unsafe { chunk.commit_all() };
            sent += n;
            // One chunk is all the room of a flat ring; a segmented one may
            // have more in its next segment.
            if n == 0 || sent == items.len() || !self.sizing.segmented {
                return sent;
            }
        }
    }
}

/// Free slots granted by [`Producer::write_chunk_uninit`], written in place
/// and published together by [`commit`](WriteChunkUninit::commit) or
/// [`fill_from_iter`](WriteChunkUninit::fill_from_iter). Dropping it without
/// committing publishes nothing (and drops nothing: values written but not
/// committed are leaked, not dropped).
pub struct WriteChunkUninit<'a, T, L: Layout = Packed> {
    producer: &'a mut Producer<T, L>,
    /// Granted slots: at most the free slots seen when it was created, which
    /// stay free until committed (only this producer fills slots).
    len: usize,
}

impl<T, L: Layout> WriteChunkUninit<'_, T, L> {
    /// Number of granted slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if no slot was granted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th granted slot, in send order, to write in place (`None`
    /// past the grant). Both layouts; on the default one
    /// [`as_mut_slices`](WriteChunkUninit::as_mut_slices) gives them all at
    /// once.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut MaybeUninit<T>> {
        if i >= self.len {
            return None;
        }
        let p = &*self.producer;
        // `i < len <= seg_len`, as `wrap_add` needs.
        let idx = wrap_add(p.tail_idx(), i, p.seg_len);
        // SAFETY: `idx < seg_len`; the slot is one of the granted free slots
        // (before `limit`), which the consumer does not read before `tail`
        // is published, and `&mut self` makes this the only reference to
        // it.
        Some(unsafe { &mut *p.cell(idx).with_mut(|slot| slot) })
    }

    /// Publishes the first `n` granted slots.
    ///
    /// # Safety
    ///
    /// The first `n` slots, in the order of
    /// [`as_mut_slices`](WriteChunkUninit::as_mut_slices), must have been
    /// initialised.
    ///
    /// # Panics
    ///
    /// If `n > self.len()`.
    #[inline]
    pub unsafe fn commit(self, n: usize) {
        assert!(n <= self.len, "ringflow: commit({n}) exceeds the {} granted slots", self.len);
        self.producer.publish_tail(n);
    }

    /// Publishes every granted slot.
    ///
    /// # Safety
    ///
    /// Every granted slot must have been initialised.
    #[inline]
    pub unsafe fn commit_all(self) {
        let n = self.len;
        // SAFETY: forwarded to the caller.
        unsafe { self.commit(n) }
    }

    /// Moves items from `iter` into the granted slots until they are full or
    /// `iter` ends, then publishes them; returns how many. Never pulls more
    /// items than it has slots for. If `iter` panics, the items written so
    /// far are still published.
    pub fn fill_from_iter<I: Iterator<Item = T>>(mut self, iter: &mut I) -> usize {
        struct Publish<'c, 'a, T, L: Layout> {
            chunk: &'c mut WriteChunkUninit<'a, T, L>,
            written: usize,
        }
        impl<T, L: Layout> Drop for Publish<'_, '_, T, L> {
            fn drop(&mut self) {
                // Runs on success and on unwind alike: publish what was
                // written, so no value is leaked or left half-sent.
                self.chunk.producer.publish_tail(self.written);
            }
        }
        let len = self.len;
        let mut guard = Publish { chunk: &mut self, written: 0 };
        while guard.written < len {
            let Some(item) = iter.next() else { break };
            let i = guard.written;
            guard.chunk.get_mut(i).expect("`i` is below the grant").write(item);
            guard.written += 1;
        }
        guard.written
    }
}

impl<T> WriteChunkUninit<'_, T, Packed> {
    /// The granted slots as two slices (the second is non-empty only when
    /// the chunk wraps around the end of the buffer), in send order.
    #[inline]
    pub fn as_mut_slices(&mut self) -> (&mut [MaybeUninit<T>], &mut [MaybeUninit<T>]) {
        let p = &*self.producer;
        let start = p.tail_idx();
        let first_len = self.len.min(p.seg_len - start);
        let base = p.buffer.as_ptr().cast::<MaybeUninit<T>>();
        // SAFETY: the std `UnsafeCell<MaybeUninit<T>>` is `repr(transparent)`,
        // so the buffer is an array of `MaybeUninit<T>`. Slots
        // `start..start + first_len` and `0..len - first_len` are inside the
        // producer's segment (`first_len <= seg_len - start`, `len <=
        // seg_len`), do not overlap, are free (the grant stayed below
        // `limit`), and the consumer will not read them before `tail` is
        // published; `&mut self` makes these the only references to them.
        unsafe {
            (
                core::slice::from_raw_parts_mut(base.add(start), first_len),
                core::slice::from_raw_parts_mut(base, self.len - first_len),
            )
        }
    }
}

impl<T, L: Layout> Consumer<T, L> {
    /// Grants up to `n` queued items to read in place (fewer if fewer are
    /// queued). Release them with [`ReadChunk::release`] or move them out with
    /// its iterator; either publishes the new position once for the batch.
    ///
    /// On a segmented ring (see the [module docs](crate::spsc)) a chunk also
    /// ends where the consumer's segment does, and the next call grants the
    /// rest; it holds at least one item whenever one is queued.
    ///
    /// On a [`Stamped`](super::Stamped) ring the items are read one by one
    /// ([`get`](ReadChunk::get), [`iter`](ReadChunk::iter), the owning
    /// iterator): only the default layout has
    /// [`as_slices`](ReadChunk::as_slices).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ringflow::spsc::channel::<u64>(8);
    /// tx.send_slice(&[1, 2, 3]);
    /// let chunk = rx.read_chunk(10);
    /// let (a, b) = chunk.as_slices();
    /// assert_eq!(a.iter().chain(b).sum::<u64>(), 6);
    /// chunk.release(2); // drops the first two, keeps the third
    /// assert_eq!(rx.try_recv(), Ok(3));
    /// ```
    #[inline]
    pub fn read_chunk(&mut self, n: usize) -> ReadChunk<'_, T, L> {
        let granted = self.available(n).min(n);
        self.read_ahead_past(granted);
        ReadChunk { consumer: self, len: granted }
    }
}

impl<T> Consumer<T, Packed> {
    /// Copies up to `out.len()` queued items into `out`, frees their slots
    /// at once (once per segment on a segmented ring), and returns how many.
    #[must_use = "only the first count entries of `out` were received"]
    pub fn recv_into(&mut self, out: &mut [T]) -> usize
    where
        T: Copy,
    {
        let mut got = 0;
        loop {
            let rest = &mut out[got..];
            let chunk = self.read_chunk(rest.len());
            let n = chunk.len;
            let (first, second) = chunk.as_slices();
            rest[..first.len()].copy_from_slice(first);
            rest[first.len()..n].copy_from_slice(second);
            // `T: Copy` has no drop glue: freeing the slots is just publishing.
            chunk.consumer.publish_head(n);
            got += n;
            if n == 0 || got == out.len() || !self.segmented {
                return got;
            }
        }
    }
}

/// Queued items granted by [`Consumer::read_chunk`]. Dropping it without
/// releasing leaves the items queued.
pub struct ReadChunk<'a, T, L: Layout = Packed> {
    consumer: &'a mut Consumer<T, L>,
    /// Granted items: at most what was published when it was created, which
    /// stay in place until released (only this consumer frees slots).
    len: usize,
}

impl<'a, T, L: Layout> ReadChunk<'a, T, L> {
    /// Number of granted items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if no item was granted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th granted item, oldest first (`None` past the grant). Both
    /// layouts; on the default one [`as_slices`](ReadChunk::as_slices) gives
    /// them all at once.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        let c = &*self.consumer;
        // `i < len <= seg_len`, as `wrap_add` needs.
        let idx = wrap_add(c.head_idx(), i, c.seg_len);
        // SAFETY: `idx < seg_len`; the slot is one of the granted items in
        // `head..cached_tail`, initialised, and the producer does not touch
        // it until `head` is published past it, which needs `&mut self`.
        Some(unsafe { c.cell(idx).with(|p| (*p).assume_init_ref()) })
    }

    /// The granted items by reference, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        (0..self.len).map(move |i| self.get(i).expect("`i` is below the grant"))
    }

    /// Drops the oldest `n` granted items and frees their slots with one
    /// store. If one of their `Drop`s panics, the others are still dropped
    /// and all `n` slots are still freed.
    ///
    /// # Panics
    ///
    /// If `n > self.len()`.
    #[inline]
    pub fn release(self, n: usize) {
        assert!(n <= self.len, "ringflow: release({n}) exceeds the {} granted items", self.len);
        struct Publish<'c, T, L: Layout> {
            consumer: &'c mut Consumer<T, L>,
        }
        impl<T, L: Layout> Drop for Publish<'_, T, L> {
            fn drop(&mut self) {
                self.consumer.store_head();
            }
        }
        let (start, seg_len, base) = (self.consumer.head_idx(), self.consumer.seg_len, self.consumer.buffer);
        // Move the private position past the `n` items *before* dropping
        // them: if anything below is leaked or unwinds, those items are no
        // longer reachable through the consumer, so none is dropped or read
        // twice. `Publish` stores the position once every drop has run (on
        // unwind too).
        self.consumer.advance_head(n);
        let _publish = Publish { consumer: self.consumer };
        drop_each(n, |i| {
            let idx = wrap_add(start, i, seg_len);
            // SAFETY: `idx < seg_len` and the slot is one of the granted,
            // initialised items, no longer reachable through the consumer
            // (its position moved past them above); `drop_each` visits it
            // once, and the producer cannot reuse it before `Publish` stores
            // `head`, after every drop has run.
            unsafe { cell_at::<T, L::Slot<T>>(base, idx).with_mut(|p| (*p).assume_init_drop()) };
        });
    }
}

impl<T> ReadChunk<'_, T, Packed> {
    /// The granted items as two slices, oldest first (the second is
    /// non-empty only when the chunk wraps around the end of the buffer).
    #[inline]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let c = &*self.consumer;
        let start = c.head_idx();
        let first_len = self.len.min(c.seg_len - start);
        let base = c.buffer.as_ptr().cast::<T>();
        // SAFETY: the buffer is an array of `MaybeUninit<T>` (transparent
        // cells); the granted slots lie in `head..cached_tail`, initialised
        // slots of the consumer's segment, and the producer does not touch
        // them until `head` is published past them, which needs `&mut self`.
        unsafe {
            (
                core::slice::from_raw_parts(base.add(start), first_len),
                core::slice::from_raw_parts(base, self.len - first_len),
            )
        }
    }
}

impl<'a, T, L: Layout> IntoIterator for ReadChunk<'a, T, L> {
    type Item = T;
    type IntoIter = ReadChunkIntoIter<'a, T, L>;

    /// Moves the granted items out, oldest first. The slots of the items
    /// taken are freed (with one store) when the iterator is dropped; items
    /// not taken stay queued. Leaking the iterator (`mem::forget`) only
    /// delays freeing those slots until the consumer next publishes its
    /// position (a receive, a [`ReadChunk::release`], a poll that finds the
    /// ring empty, or its drop; `peek` and `len` do not): an item moved out
    /// is never received again.
    fn into_iter(self) -> ReadChunkIntoIter<'a, T, L> {
        ReadChunkIntoIter { consumer: self.consumer, len: self.len, taken: 0 }
    }
}

/// Owning iterator over a [`ReadChunk`].
pub struct ReadChunkIntoIter<'a, T, L: Layout = Packed> {
    /// Its private position moves past each item as it is moved out; the
    /// shared position is stored once, on drop.
    consumer: &'a mut Consumer<T, L>,
    len: usize,
    /// Items moved out so far (the consumer's position is already past
    /// them); their slots are published free on drop.
    taken: usize,
}

impl<T, L: Layout> Iterator for ReadChunkIntoIter<'_, T, L> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.taken == self.len {
            return None;
        }
        let c = &mut *self.consumer;
        // SAFETY: `head_idx() < seg_len`; the slot at the consumer's private
        // position is a granted, initialised item not yet taken (each one
        // taken moved the position past it). The position moves past this
        // one right below, before the value can leave this function, so it
        // is read once even if the iterator is leaked; the producer may
        // reuse the slot only after the position is stored (in `Drop`, or
        // when the consumer next publishes it).
        let value = unsafe { c.cell(c.head_idx()).with(|p| (*p).assume_init_read()) };
        c.advance_head(1);
        self.taken += 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.taken;
        (left, Some(left))
    }
}

impl<T, L: Layout> ExactSizeIterator for ReadChunkIntoIter<'_, T, L> {}

impl<T, L: Layout> Drop for ReadChunkIntoIter<'_, T, L> {
    fn drop(&mut self) {
        // The private position is already past every item taken.
        self.consumer.store_head();
    }
}

impl<T, L: Layout> core::fmt::Debug for WriteChunkUninit<'_, T, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WriteChunkUninit").field("len", &self.len).finish()
    }
}

impl<T, L: Layout> core::fmt::Debug for ReadChunk<'_, T, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadChunk").field("len", &self.len).finish()
    }
}

impl<T, L: Layout> core::fmt::Debug for ReadChunkIntoIter<'_, T, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadChunkIntoIter").field("len", &self.len).field("taken", &self.taken).finish()
    }
}
