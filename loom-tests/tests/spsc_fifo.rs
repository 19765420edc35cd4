//! Try-path models of the SPSC ring: strict FIFO across wrap-around, and
//! send happens-before recv for a non-atomic payload.
//!
//! These use `BusySpin` channels, which never register sleepers or notify,
//! so the only synchronisation under test is the head/tail Release/Acquire
//! hand-over of `spsc.rs`. Every slot is a loom `UnsafeCell`, so on top of the
//! explicit assertions loom checks that the producer never writes a slot the
//! consumer may still read (and vice versa) — the wrap-around reuses slots.
//!
//! A flat ring's buffer has a slack of two cache lines beyond its capacity
//! by default (`src/spsc/segment.rs`), more slots than these models send
//! items; so they set its length with `__segment_slots`: exactly the
//! capacity (as before the slack), or one slot more (a slack the producer
//! refills into while the ring is full, then wraps).
#![cfg(loom)]

mod common;

use common::{model, SpscLayout};
use loom::cell::UnsafeCell;
use loom::thread;
use ringflow::spsc::{Consumer, Producer};
use ringflow::{Builder, TryRecvError, TrySendError, WaitStrategy};

/// A `BusySpin` ring of `capacity` in a buffer of `slots` slots, on the
/// layout under test.
fn busy_ring<T>(capacity: usize, slots: usize) -> (Producer<T, SpscLayout>, Consumer<T, SpscLayout>) {
    Builder::new(capacity)
        .wait_strategy(WaitStrategy::BusySpin)
        .__segment_slots(slots)
        .spsc_with_layout::<T, SpscLayout>()
}

/// Producer thread pushes `0..items` with `try_send`, yielding on `Full`;
/// the model thread pops with `try_recv`, yielding on `Empty`, and checks
/// strict FIFO, then `Disconnected` once the producer is gone. The ring's
/// buffer has `slots` slots (at least `capacity`).
fn fifo(capacity: usize, slots: usize, start: usize, items: u32) {
    let (mut tx, mut rx) = Builder::new(capacity)
        .wait_strategy(WaitStrategy::BusySpin)
        .__start_position(start)
        .__segment_slots(slots)
        .spsc_with_layout::<u32, SpscLayout>();
    assert_eq!(tx.__segment_len(), slots, "a flat buffer of `slots` slots");
    let producer = thread::spawn(move || {
        for i in 0..items {
            let mut v = i;
            loop {
                match tx.try_send(v) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        assert_eq!(back, i, "Full must hand back the same value");
                        v = back;
                        thread::yield_now();
                    }
                    Err(TrySendError::Disconnected(_)) => panic!("consumer is alive"),
                }
            }
        }
    });
    let mut expected = 0;
    while expected < items {
        match rx.try_recv() {
            Ok(v) => {
                assert_eq!(v, expected, "strict FIFO");
                expected += 1;
            }
            Err(TryRecvError::Empty) => thread::yield_now(),
            Err(TryRecvError::Disconnected) => panic!("Disconnected before every item arrived"),
        }
    }
    producer.join().unwrap();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

/// Model 1a: capacity 1, three items — every send after the first reuses
/// slot 0 and has to wait for the consumer's `head` store.
#[test]
fn fifo_wrap_capacity_1() {
    model("fifo_wrap_capacity_1", 4, || fifo(1, 1, 0, 3));
}

/// Model 1b: capacity 2, four items — two full laps of the ring.
#[test]
fn fifo_wrap_capacity_2() {
    model("fifo_wrap_capacity_2", 4, || fifo(2, 2, 0, 4));
}

/// Model 1c: capacity 2, positions starting at `usize::MAX - 1`, three items:
/// `tail` and `head` overflow to 0 while items are in flight.
#[test]
fn fifo_wrap_across_usize_max() {
    model("fifo_wrap_across_usize_max", 4, || fifo(2, 2, usize::MAX - 1, 3));
}

/// Model 1d: capacity 1 in two slots (a slack of one), four items: the
/// ring is full after each send, the next send goes to the other slot
/// while the consumer may still be reading the first, and the slot
/// indices wrap around the buffer twice (FIFO and the loom cells catch a
/// slot written while it is read, or an item read from the wrong slot).
/// That the capacity stays exact is for the unit tests (`tests/spsc.rs`,
/// the doc examples): one thread, no interleaving to explore.
#[test]
fn fifo_wrap_capacity_1_with_slack() {
    model("fifo_wrap_capacity_1_with_slack", 4, || fifo(1, 2, 0, 4));
}

/// Model 1e: capacity 2 in three slots, positions across `usize::MAX`,
/// five items: the buffer's index wraps at 3 while the positions wrap at
/// `usize::MAX`, at different times.
#[test]
fn fifo_wrap_with_slack_across_usize_max() {
    model("fifo_wrap_with_slack_across_usize_max", 4, || fifo(2, 3, usize::MAX - 1, 5));
}

/// Model 1g: capacity 1 in eight slots, positions from `usize::MAX - 3`,
/// nine items: on the stamped layout (seven slots to a stamped group under
/// loom) the producer fills the first group, moves to the second (a group
/// of one slot, the buffer's end), and wraps to the first group, whose stamp
/// still holds the last lap's position, the positions wrapping across
/// `usize::MAX` on the way; on the default layout, one lap of eight slots
/// and one slot of the next. (Capacity 2 ran 1.8 M executions in 83 s at
/// a preemption bound of 2: a load of a group's one stamp may read any of
/// its earlier stores.)
#[test]
fn fifo_across_groups_and_laps() {
    model("fifo_across_groups_and_laps", 4, || fifo(1, 8, usize::MAX - 3, 9));
}

/// Model 1h: a blocking receive past a whole group. Seven items (a whole
/// stamped group under loom) are queued before the producer thread starts;
/// it sends three more while the model thread takes all ten with `recv`.
/// On the stamped layout the first receive finds its group whole and loads
/// `tail`, racing the producer's stores of the next items, and takes what
/// `tail` shows without a stamp each (`Consumer::stamp_ready`): loom's
/// cells catch a slot read before its write is visible to the consumer,
/// and the FIFO check an item taken past what was published. On the
/// default layout, the plain `tail` hand-over.
#[test]
fn blocking_receive_past_a_whole_group() {
    model("blocking_receive_past_a_whole_group", 3, || {
        let (mut tx, mut rx) = busy_ring::<u32>(10, 14);
        for i in 0..7 {
            tx.try_send(i).unwrap();
        }
        let producer = thread::spawn(move || {
            for i in 7..10 {
                tx.send(i).unwrap();
            }
        });
        for i in 0..10 {
            assert_eq!(rx.recv(), Ok(i), "strict FIFO");
        }
        producer.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// Model 8: send happens-before recv. The payload is a boxed loom
/// `UnsafeCell`, written (non-atomically, as far as loom is concerned) by the
/// producer before `try_send` and read by the consumer after `try_recv`. If
/// the tail store were not Release, or the consumer's load not Acquire, loom
/// would report a causality violation on the read. Two items through
/// capacity 1 also make the second write reuse the slot the consumer just
/// moved out of (head Release → producer Acquire).
#[test]
fn send_happens_before_recv() {
    model("send_happens_before_recv", 4, || {
        let (mut tx, mut rx) = busy_ring::<Box<UnsafeCell<u64>>>(1, 1);
        let producer = thread::spawn(move || {
            for i in 0..2u64 {
                let payload = Box::new(UnsafeCell::new(0));
                // SAFETY: the box is owned by this thread; nobody else can reach it yet.
                payload.with_mut(|p| unsafe { *p = 100 + i });
                let mut v = payload;
                loop {
                    match tx.try_send(v) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => {
                            v = back;
                            thread::yield_now();
                        }
                        Err(TrySendError::Disconnected(_)) => panic!("consumer is alive"),
                    }
                }
            }
        });
        for i in 0..2u64 {
            let payload = recv_yielding(&mut rx);
            // SAFETY: the consumer owns the box now; loom checks that the
            // producer's write happens-before this read.
            let v = payload.with(|p| unsafe { *p });
            assert_eq!(v, 100 + i);
        }
        producer.join().unwrap();
    });
}

/// Model 1f: the consumer's length right after a receive. On the stamped
/// layout a receive can take an item by its stamp before the producer's
/// `tail` store is visible, so `tail` may be behind the consumer's `head`:
/// `len` must then say 0 (and so must the batch calls' view, which
/// `tests/spsc.rs` checks), not `tail - head` wrapped around. (Seeded bug:
/// `len` without that clamp reports the capacity here.)
#[test]
fn len_right_after_a_receive() {
    model("len_right_after_a_receive", 4, || {
        let (mut tx, mut rx) = busy_ring::<u32>(2, 2);
        let producer = thread::spawn(move || {
            tx.try_send(7).unwrap();
            tx
        });
        assert_eq!(recv_yielding(&mut rx), 7);
        assert_eq!(rx.len(), 0, "nothing is queued after the one item");
        let _tx = producer.join().unwrap();
        assert_eq!(rx.len(), 0);
    });
}

/// `try_recv` until an item comes, yielding on `Empty` (the producer is
/// alive until it arrives).
fn recv_yielding<T, L: ringflow::spsc::Layout>(rx: &mut ringflow::spsc::Consumer<T, L>) -> T {
    loop {
        match rx.try_recv() {
            Ok(v) => return v,
            Err(TryRecvError::Empty) => thread::yield_now(),
            Err(TryRecvError::Disconnected) => panic!("Disconnected before the item arrived"),
        }
    }
}
