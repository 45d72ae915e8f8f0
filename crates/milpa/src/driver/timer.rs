//! A connection's one timer: a runtime sleep re-armed only when its deadline
//! moves earlier. A deadline that moved later (the keep-alive clock restarting
//! after every response) leaves it be: the early wake-up finds nothing expired
//! and re-arms then, so a busy connection touches its timer about once per
//! timeout instead of once per request. Nor is the sleep polled on every wake-up:
//! once it holds the task's waker it is left alone until its deadline nears.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::Runtime;

/// How long before its deadline an armed sleep is polled again. Runtimes fire
/// sleeps at their deadline or after it; the margin covers one that rounds down.
const POLL_MARGIN: Duration = Duration::from_millis(10);

pub(crate) struct Timer<R: Runtime> {
    sleep: Option<R::Sleep>,
    /// The deadline the sleep is set for, until it fires.
    armed: Option<Instant>,
    /// The waker the pending sleep holds.
    waker: Option<Waker>,
}

impl<R: Runtime> Timer<R> {
    pub(crate) fn new() -> Self {
        Self { sleep: None, armed: None, waker: None }
    }

    /// Ready when the timer fires: at `deadline`, or earlier if an earlier one was
    /// armed before. The caller checks what expired (possibly nothing) and polls
    /// again with its next deadline. `now` is the caller's current time.
    pub(crate) fn poll(&mut self, rt: &R, deadline: Instant, now: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let rearm = self.armed.is_none_or(|armed| deadline < armed);
        let far = self.armed.is_some_and(|armed| now + POLL_MARGIN < armed);
        if !rearm && far && self.waker.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if rearm {
                    rt.reset_sleep(sleep, deadline);
                }
                sleep
            }
            None => self.sleep.insert(rt.sleep_until(deadline)),
        };
        if rearm {
            self.armed = Some(deadline);
        }
        if Pin::new(sleep).poll(cx).is_pending() {
            if !self.waker.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
                self.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        self.armed = None;
        Poll::Ready(())
    }

    /// Ready only once `deadline` has passed.
    pub(crate) fn poll_until(&mut self, rt: &R, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            std::task::ready!(self.poll(rt, deadline, Instant::now(), cx));
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
        }
    }
}
