//! The pongs a client's pings call for: each ping of a read is answered with
//! its own payload, in order, once the read is handled. The queue is bounded
//! (`MAX_QUEUED_PONGS`): past it the oldest ping goes unanswered, which RFC
//! 6455 allows, so a flood of pings cannot grow a session's memory.

use std::collections::VecDeque;

use crate::defaults::MAX_QUEUED_PONGS;

/// A control frame's payload: at most 125 bytes.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// One pong's payload.
pub(super) struct Pong {
    payload: [u8; MAX_CONTROL_PAYLOAD],
    len: usize,
}

impl Pong {
    /// The answer to a ping with `payload` (cut to 125 bytes, which the
    /// decoder already enforces).
    pub(super) fn to(payload: &[u8]) -> Self {
        let len = payload.len().min(MAX_CONTROL_PAYLOAD);
        let mut pong = Pong {
            payload: [0; MAX_CONTROL_PAYLOAD],
            len,
        };
        pong.payload[..len].copy_from_slice(&payload[..len]);
        pong
    }

    /// The payload to send back.
    pub(super) fn payload(&self) -> &[u8] {
        &self.payload[..self.len]
    }
}

/// Pongs owed, oldest first. Empty (and unallocated) for a client that never pings.
#[derive(Default)]
pub(super) struct Pongs(VecDeque<Pong>);

impl Pongs {
    /// Owes `pong`, dropping the oldest owed one when full.
    pub(super) fn push(&mut self, pong: Pong) {
        if self.0.len() >= MAX_QUEUED_PONGS {
            self.0.pop_front();
        }
        self.0.push_back(pong);
    }

    /// The oldest owed pong, taken.
    pub(super) fn next(&mut self) -> Option<Pong> {
        self.0.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owed(pongs: &mut Pongs) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| pongs.next())
            .map(|p| p.payload().to_vec())
            .collect()
    }

    #[test]
    fn each_ping_is_answered_in_order_up_to_the_bound() {
        let mut pongs = Pongs::default();
        for i in 0..10u8 {
            pongs.push(Pong::to(&[i]));
        }
        assert_eq!(
            owed(&mut pongs),
            (0..10u8).map(|i| vec![i]).collect::<Vec<_>>()
        );
        for i in 0..100u8 {
            pongs.push(Pong::to(&[i; 125]));
        }
        let want: Vec<Vec<u8>> = (100 - MAX_QUEUED_PONGS as u8..100)
            .map(|i| vec![i; 125])
            .collect();
        assert_eq!(owed(&mut pongs), want, "the newest are answered");
    }
}
