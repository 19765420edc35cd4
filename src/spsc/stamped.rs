//! The slice copies of the [`Stamped`] layout, `send_slice` and `recv_into`,
//! one slot at a time (its values are not contiguous, so it has no slice
//! views), each batch published with one store of `tail` (after a stamp per
//! item) or `head`: written with the generic `send_iter` and read chunk of
//! `chunks.rs`.
//!
//! Not compiled under loom, as the default layout's batch API.

use super::{Consumer, Producer, Stamped};

impl<T> Producer<T, Stamped> {
    /// Copies as many items from the front of `items` as there is room for,
    /// publishes them at once, and returns how many were sent (0 if the
    /// ring is full or the consumer is gone). As
    /// [`Producer::send_slice`](super::Producer::send_slice), a slot at a
    /// time.
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
        // The generic chunk, a slot at a time: `release` publishes `head`
        // once (and drops nothing: `T: Copy` has no drop glue).
        let chunk = self.read_chunk(out.len());
        let n = chunk.len();
        for (v, item) in out.iter_mut().zip(chunk.iter()) {
            *v = *item;
        }
        chunk.release(n);
        n
    }
}
