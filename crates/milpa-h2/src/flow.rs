//! Flow-control windows (RFC 9113 §5.2, §6.9): the credit we have to send, and the credit
//! we gave the peer.

use crate::frame::MAX_WINDOW_SIZE;

/// The initial window of every stream and of the connection until SETTINGS or
/// WINDOW_UPDATE change it: 65 535 bytes (RFC 9113 §6.9.2).
pub(crate) const DEFAULT_WINDOW: u32 = 65_535;

/// The window exceeded 2^31-1: a FLOW_CONTROL_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

/// Credit to send DATA: decreased by what we send, increased by the peer's WINDOW_UPDATE.
/// May go negative when the peer lowers SETTINGS_INITIAL_WINDOW_SIZE (§6.9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendWindow(i64);

impl SendWindow {
    pub(crate) fn new(initial: u32) -> Self {
        Self(i64::from(initial))
    }

    /// Bytes that may be sent now.
    pub(crate) fn available(self) -> usize {
        usize::try_from(self.0.max(0)).unwrap_or(usize::MAX)
    }

    pub(crate) fn consume(&mut self, len: usize) {
        self.0 -= i64::try_from(len).unwrap_or(i64::MAX);
    }

    /// Applies a WINDOW_UPDATE increment.
    pub(crate) fn increase(&mut self, increment: u32) -> Result<(), Overflow> {
        self.adjust(i64::from(increment))
    }

    /// Applies a change of SETTINGS_INITIAL_WINDOW_SIZE (`new - old`, possibly negative).
    pub(crate) fn adjust(&mut self, delta: i64) -> Result<(), Overflow> {
        let next = self.0 + delta;
        if next > i64::from(MAX_WINDOW_SIZE) {
            return Err(Overflow);
        }
        self.0 = next;
        Ok(())
    }
}

/// Credit we gave the peer, and what the application has consumed since we last extended
/// it. WINDOW_UPDATE goes out once the released bytes reach half of the target window, so
/// a reading application costs one small frame per half window, not one per DATA frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvWindow {
    /// What the peer may still send.
    window: i64,
    /// The window we keep the peer at while the application keeps up.
    target: u32,
    /// Released by the application (or discarded by us), not yet announced.
    pending: u32,
}

impl RecvWindow {
    /// A window the peer believes to be `announced`, which we keep at `target`.
    pub(crate) fn new(announced: u32, target: u32) -> Self {
        Self { window: i64::from(announced), target, pending: 0 }
    }

    /// Charges a received DATA frame's flow-controlled length. `Err` when it is more than
    /// the peer was allowed to send.
    pub(crate) fn receive(&mut self, len: u32) -> Result<(), Overflow> {
        let next = self.window - i64::from(len);
        if next < 0 {
            return Err(Overflow);
        }
        self.window = next;
        Ok(())
    }

    /// The application consumed (or we discarded) `len` received bytes.
    pub(crate) fn release(&mut self, len: u32) {
        self.pending = self.pending.saturating_add(len);
    }

    /// The increment to announce now, if the released bytes are worth a WINDOW_UPDATE.
    /// The window may never exceed 2^31-1.
    pub(crate) fn take_update(&mut self) -> Option<u32> {
        self.take_update_above(self.target / 2)
    }

    /// Like [`take_update`](Self::take_update) with an explicit threshold (0 announces any
    /// pending credit).
    pub(crate) fn take_update_above(&mut self, threshold: u32) -> Option<u32> {
        if self.pending == 0 || self.pending < threshold {
            return None;
        }
        let room = i64::from(MAX_WINDOW_SIZE) - self.window;
        let increment = u32::try_from(i64::from(self.pending).min(room)).unwrap_or(0);
        if increment == 0 {
            return None;
        }
        self.pending -= increment;
        self.window += i64::from(increment);
        Some(increment)
    }

    /// Opens the window up to `target` at once (the connection window after our SETTINGS).
    pub(crate) fn grow_to_target(&mut self) -> Option<u32> {
        let increment = u32::try_from(i64::from(self.target) - self.window).ok().filter(|&n| n > 0)?;
        self.window += i64::from(increment);
        Some(increment)
    }

    /// What the peer may still send.
    pub(crate) fn window(&self) -> i64 {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_window_goes_negative_and_refuses_overflow() {
        let mut window = SendWindow::new(10);
        window.consume(10);
        assert_eq!(window.available(), 0);
        window.adjust(-5).unwrap();
        assert_eq!(window.available(), 0);
        window.increase(6).unwrap();
        assert_eq!(window.available(), 1);
        assert_eq!(window.increase(MAX_WINDOW_SIZE), Err(Overflow));
        assert_eq!(window.available(), 1, "a refused update changes nothing");
    }

    #[test]
    fn recv_window_batches_updates_at_half_the_target() {
        let mut window = RecvWindow::new(100, 100);
        window.receive(60).unwrap();
        assert_eq!(window.receive(41), Err(Overflow));
        window.release(30);
        assert_eq!(window.take_update(), None);
        window.release(20);
        assert_eq!(window.take_update(), Some(50));
        assert_eq!(window.window(), 90);
    }

    #[test]
    fn connection_window_opens_to_its_target() {
        let mut window = RecvWindow::new(DEFAULT_WINDOW, 1 << 20);
        assert_eq!(window.grow_to_target(), Some((1 << 20) - DEFAULT_WINDOW));
        assert_eq!(window.grow_to_target(), None);
    }
}
