//! The receive errors of the broadcast ring. Send errors are the crate-root
//! [`TrySendError`](crate::TrySendError), [`SendError`](crate::SendError)
//! and [`SendTimeoutError`](crate::SendTimeoutError): a failed send hands
//! the value back, as on the other rings.
//!
//! Each receive error adds `Lagged(n)` to the std vocabulary: on a
//! [`broadcast_lossy`](crate::Builder::broadcast_lossy) channel, a receiver
//! that fell more than `capacity` items behind missed `n` of them; it is told
//! so once, and its next receive returns the oldest item still held. A
//! `Block` channel never returns `Lagged`.

use core::fmt;

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// Nothing new for this receiver yet.
    Empty,
    /// This receiver has seen every item and the sender is gone.
    Disconnected,
    /// (Lossy channels only.) The sender overwrote `n` items this receiver
    /// had not read; the receiver now continues from the oldest item still
    /// held.
    Lagged(u64),
}

/// Why [`Receiver::recv`](super::Receiver::recv) returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// This receiver has seen every item and the sender is gone.
    Disconnected,
    /// (Lossy channels only.) `n` items were overwritten before this
    /// receiver read them; see [`TryRecvError::Lagged`].
    Lagged(u64),
}

/// Why [`Receiver::recv_timeout`](super::Receiver::recv_timeout) /
/// [`recv_deadline`](super::Receiver::recv_deadline) returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvTimeoutError {
    /// Nothing new arrived before the deadline.
    Timeout,
    /// This receiver has seen every item and the sender is gone.
    Disconnected,
    /// (Lossy channels only.) `n` items were overwritten before this
    /// receiver read them; see [`TryRecvError::Lagged`].
    Lagged(u64),
}

impl RecvTimeoutError {
    /// The error of a receive without a deadline (`recv`, `recv_async`,
    /// the stream): its failure for good. `Timeout` cannot happen there and
    /// maps to `Disconnected`.
    pub(crate) fn untimed(self) -> RecvError {
        match self {
            RecvTimeoutError::Lagged(n) => RecvError::Lagged(n),
            RecvTimeoutError::Disconnected | RecvTimeoutError::Timeout => RecvError::Disconnected,
        }
    }
}

impl TryRecvError {
    /// `true` for [`TryRecvError::Empty`].
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// `true` for [`TryRecvError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TryRecvError::Disconnected)
    }

    /// `Some(n)` for [`TryRecvError::Lagged`].
    pub fn lagged(&self) -> Option<u64> {
        match self {
            TryRecvError::Lagged(n) => Some(*n),
            _ => None,
        }
    }
}

impl RecvError {
    /// `true` for [`RecvError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvError::Disconnected)
    }

    /// `Some(n)` for [`RecvError::Lagged`].
    pub fn lagged(&self) -> Option<u64> {
        match self {
            RecvError::Lagged(n) => Some(*n),
            RecvError::Disconnected => None,
        }
    }
}

impl RecvTimeoutError {
    /// `true` for [`RecvTimeoutError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }

    /// `true` for [`RecvTimeoutError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvTimeoutError::Disconnected)
    }

    /// `Some(n)` for [`RecvTimeoutError::Lagged`].
    pub fn lagged(&self) -> Option<u64> {
        match self {
            RecvTimeoutError::Lagged(n) => Some(*n),
            _ => None,
        }
    }
}

fn lagged(f: &mut fmt::Formatter<'_>, n: u64) -> fmt::Result {
    write!(f, "receiver lagged behind: {n} items were overwritten before it read them")
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => f.write_str("receiving on an empty and disconnected channel"),
            TryRecvError::Lagged(n) => lagged(f, *n),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Disconnected => f.write_str("receiving on an empty and disconnected channel"),
            RecvError::Lagged(n) => lagged(f, *n),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting on receive operation"),
            RecvTimeoutError::Disconnected => f.write_str("receiving on an empty and disconnected channel"),
            RecvTimeoutError::Lagged(n) => lagged(f, *n),
        }
    }
}

impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvError {}
impl std::error::Error for RecvTimeoutError {}

impl From<RecvError> for TryRecvError {
    fn from(e: RecvError) -> Self {
        match e {
            RecvError::Disconnected => TryRecvError::Disconnected,
            RecvError::Lagged(n) => TryRecvError::Lagged(n),
        }
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(e: RecvError) -> Self {
        match e {
            RecvError::Disconnected => RecvTimeoutError::Disconnected,
            RecvError::Lagged(n) => RecvTimeoutError::Lagged(n),
        }
    }
}
