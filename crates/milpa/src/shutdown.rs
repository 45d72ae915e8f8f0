//! Runtime-independent signalling for shutdown: a one-way latch many tasks can
//! watch, and a count of live connections the server can wait to reach zero.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A flag that goes from unset to set once and wakes everyone watching it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latch {
    inner: Arc<LatchInner>,
}

#[derive(Debug, Default)]
struct LatchInner {
    set: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Latch {
    pub(crate) fn set(&self) {
        self.inner.set.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Ready once set; otherwise registers `cx` to be woken then.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.set.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut wakers = self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner());
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        drop(wakers);
        // Set between the first check and the registration: do not miss it.
        if self.inner.set.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Like [`poll`](Self::poll) for a task that keeps one waker: registers only
    /// on the first call (tracked in `registered`), then costs one atomic load.
    pub(crate) fn poll_once_registered(&self, cx: &mut Context<'_>, registered: &mut bool) -> Poll<()> {
        if self.inner.set.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if *registered {
            return Poll::Pending;
        }
        *registered = true;
        self.poll(cx)
    }

    pub(crate) async fn wait(&self) {
        std::future::poll_fn(|cx| self.poll(cx)).await;
    }
}

/// Counts live connections; the server waits for it to drain on shutdown.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tracker {
    live: Arc<AtomicUsize>,
    drained: Latch,
}

/// Held by a connection task; dropping it counts the connection out.
#[derive(Debug)]
pub(crate) struct Token {
    tracker: Tracker,
}

impl Tracker {
    pub(crate) fn enter(&self) -> Token {
        self.live.fetch_add(1, Ordering::AcqRel);
        Token { tracker: self.clone() }
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Resolves when no connection is live.
    pub(crate) async fn drained(&self) {
        std::future::poll_fn(|cx| {
            if self.live() == 0 {
                return Poll::Ready(());
            }
            let poll = self.drained.poll(cx);
            if self.live() == 0 { Poll::Ready(()) } else { poll }
        })
        .await;
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        if self.tracker.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Wake the waiter but leave the latch unset, reusable for the next drain.
            let wakers = std::mem::take(
                &mut *self.tracker.drained.inner.wakers.lock().unwrap_or_else(|p| p.into_inner()),
            );
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

/// Polls two futures together and returns whichever finishes first.
pub(crate) async fn race<A, B, T>(a: A, b: B) -> T
where
    A: std::future::Future<Output = T>,
    B: std::future::Future<Output = T>,
{
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = a.as_mut().poll(cx) {
            return Poll::Ready(value);
        }
        b.as_mut().poll(cx)
    })
    .await
}
