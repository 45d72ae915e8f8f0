//! Runtime-independent signalling for shutdown: a one-way latch many tasks can
//! watch, and a count of live connections the server can wait to reach zero.

use std::collections::HashMap;
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
    waiters: Mutex<Waiters>,
}

/// Registered wakers by key, so a watcher that goes away takes its waker with it.
#[derive(Debug, Default)]
struct Waiters {
    next_key: u64,
    wakers: HashMap<u64, Waker>,
}

impl Latch {
    fn waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self) {
        self.inner.set.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut self.waiters().wakers);
        wakers.into_values().for_each(Waker::wake);
    }

    pub(crate) fn is_set(&self) -> bool {
        self.inner.set.load(Ordering::Acquire)
    }

    /// A registration for one long-lived task: it holds at most one waker in the
    /// latch and removes it when dropped.
    pub(crate) fn watch(&self) -> Watch {
        Watch { latch: self.clone(), key: None, registered: None }
    }

    /// Resolves once set.
    pub(crate) async fn wait(&self) {
        let mut watch = self.watch();
        std::future::poll_fn(|cx| watch.poll(cx)).await;
    }
}

/// One task's interest in a [`Latch`].
#[derive(Debug)]
pub(crate) struct Watch {
    latch: Latch,
    key: Option<u64>,
    /// The waker registered under `key`, to tell without locking whether the
    /// task's current waker is already there.
    registered: Option<Waker>,
}

impl Watch {
    /// Ready once the latch is set. Registers the task's waker on the first call
    /// (and again only if the task's waker changed); afterwards it costs one atomic load.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.latch.is_set() {
            return Poll::Ready(());
        }
        if self.registered.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let mut waiters = self.latch.waiters();
        let key = *self.key.get_or_insert_with(|| {
            waiters.next_key += 1;
            waiters.next_key
        });
        waiters.wakers.insert(key, cx.waker().clone());
        drop(waiters);
        self.registered = Some(cx.waker().clone());
        // Set between the first check and the registration: do not miss it.
        if self.latch.is_set() { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.latch.waiters().wakers.remove(&key);
        }
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
        let mut watch = self.drained.watch();
        std::future::poll_fn(|cx| {
            if self.live() == 0 {
                return Poll::Ready(());
            }
            let poll = watch.poll(cx);
            if self.live() == 0 { Poll::Ready(()) } else { poll }
        })
        .await;
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        if self.tracker.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Wake the waiter but leave the latch unset, reusable for the next drain.
            let wakers = std::mem::take(&mut self.tracker.drained.waiters().wakers);
            wakers.into_values().for_each(Waker::wake);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_take_their_wakers_with_them() {
        let latch = Latch::default();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..1000 {
            let mut watch = latch.watch();
            assert!(watch.poll(&mut cx).is_pending());
            assert!(watch.poll(&mut cx).is_pending());
        }
        assert!(latch.waiters().wakers.is_empty(), "a finished connection must not stay registered");
        let mut watch = latch.watch();
        assert!(watch.poll(&mut cx).is_pending());
        latch.set();
        assert!(watch.poll(&mut cx).is_ready());
    }
}
