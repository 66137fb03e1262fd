//! The simulation's async runtime: one single-threaded tokio runtime on a paused (simulated)
//! clock, with every entropy source openraft could draw from made deterministic.
//!
//! [`SimRuntime`] implements openraft's [`AsyncRuntime`] by delegating to
//! [`DeterministicRng`]`<TokioRuntime>` (its `thread_rng()`, used for election timeouts, is a
//! task-local generator seeded from the simulation seed) except for the watch channel:
//! `tokio::sync::watch` wakes its waiters in an order drawn from tokio's unseeded runtime RNG,
//! so [`SimWatch`] replaces it with a channel that wakes waiters first-come, first-served.
//!
//! Contract: everything that may reach openraft (building a `Raft`, calling its API) must run in
//! a task spawned by [`spawn`] inside [`SimRuntime::block_on_seeded`]; a plain `tokio::spawn`
//! loses the seed scope and openraft's `thread_rng()` panics there.

use std::fmt;
use std::future::Future;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::RwLock;
use std::sync::RwLockReadGuard;
use std::task::Poll;
use std::task::Waker;
use std::time::Duration;

use openraft_rt::AsyncRuntime;
use openraft_rt::OptionalSend;
use openraft_rt::OptionalSync;
use openraft_rt::deterministic_rng::DeterministicRng;
use openraft_rt::watch;
use openraft_rt_tokio::TokioRuntime;

type Inner = DeterministicRng<TokioRuntime>;

/// Locks a mutex, ignoring poisoning: a panic while it was held already fails the simulation
/// (the panic propagates out of `block_on`), so the data behind it is never looked at again.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Spawns a simulation task that inherits the caller's deterministic seed scope.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Inner::spawn(future)
}

/// openraft runtime of the simulation (see the module docs).
pub struct SimRuntime {
    rt: tokio::runtime::Runtime,
    seed: u64,
}

impl fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRuntime")
            .field("seed", &self.seed)
            .finish()
    }
}

impl SimRuntime {
    /// A single-threaded runtime whose clock starts paused: time only moves when every task is
    /// idle, and then jumps straight to the next timer.
    pub fn with_seed(seed: u64) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            // Building a current-thread runtime with only the timer enabled performs no I/O
            // setup that could fail short of the process being out of memory.
            .expect("current-thread tokio runtime builds");
        Self { rt, seed }
    }

    /// Runs `future` to completion inside the seed scope.
    pub fn block_on_seeded<F: Future>(&mut self, future: F) -> F::Output {
        self.rt.block_on(Inner::scope(self.seed, future))
    }
}

impl AsyncRuntime for SimRuntime {
    type JoinError = <Inner as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <Inner as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <Inner as AsyncRuntime>::Sleep;
    type Instant = <Inner as AsyncRuntime>::Instant;
    type TimeoutError = <Inner as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = <Inner as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = <Inner as AsyncRuntime>::ThreadLocalRng;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        Inner::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        Inner::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        Inner::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Inner::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Inner::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        Inner::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        Inner::thread_rng()
    }

    type Mpsc = <Inner as AsyncRuntime>::Mpsc;
    type Watch = SimWatch;
    type Oneshot = <Inner as AsyncRuntime>::Oneshot;
    type Mutex<T: OptionalSend + 'static> = <Inner as AsyncRuntime>::Mutex<T>;

    fn new(_threads: usize) -> Self {
        Self::with_seed(0)
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.block_on_seeded(future)
    }
}

/// A watch channel that wakes waiters in the order they started waiting.
pub struct SimWatch;

struct Shared<T> {
    value: RwLock<T>,
    state: Mutex<WatchState>,
}

struct WatchState {
    /// Bumped by every accepted send.
    version: u64,
    senders: usize,
    /// Tasks waiting in `changed()`, oldest first.
    waiters: Vec<Waker>,
}

impl<T> Shared<T> {
    fn wake_all(&self) {
        let waiters = std::mem::take(&mut lock(&self.state).waiters);
        for w in waiters {
            w.wake();
        }
    }
}

pub struct SimWatchSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for SimWatchSender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared.state).senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for SimWatchSender<T> {
    fn drop(&mut self) {
        let last = {
            let mut st = lock(&self.shared.state);
            st.senders -= 1;
            st.senders == 0
        };
        if last {
            self.shared.wake_all();
        }
    }
}

pub struct SimWatchReceiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
}

impl<T> Clone for SimWatchReceiver<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl watch::Watch for SimWatch {
    type Sender<T: OptionalSend + OptionalSync> = SimWatchSender<T>;
    type Receiver<T: OptionalSend + OptionalSync> = SimWatchReceiver<T>;
    type Ref<'a, T: OptionalSend + 'a> = RwLockReadGuard<'a, T>;

    fn channel<T: OptionalSend + OptionalSync>(init: T) -> (Self::Sender<T>, Self::Receiver<T>) {
        let shared = Arc::new(Shared {
            value: RwLock::new(init),
            state: Mutex::new(WatchState {
                version: 0,
                senders: 1,
                waiters: Vec::new(),
            }),
        });
        (
            SimWatchSender {
                shared: shared.clone(),
            },
            SimWatchReceiver { shared, seen: 0 },
        )
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T> watch::WatchSender<SimWatch, T> for SimWatchSender<T>
where
    T: OptionalSend + OptionalSync,
{
    fn send(&self, value: T) -> Result<(), watch::SendError<T>> {
        self.send_if_modified(|v| {
            *v = value;
            true
        });
        Ok(())
    }

    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        let modified = {
            let mut v = self
                .shared
                .value
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            modify(&mut v)
        };
        if modified {
            lock(&self.shared.state).version += 1;
            self.shared.wake_all();
        }
        modified
    }

    fn borrow_watched(&self) -> RwLockReadGuard<'_, T> {
        read(&self.shared.value)
    }

    fn subscribe(&self) -> SimWatchReceiver<T> {
        let seen = lock(&self.shared.state).version;
        SimWatchReceiver {
            shared: self.shared.clone(),
            seen,
        }
    }
}

impl<T> watch::WatchReceiver<SimWatch, T> for SimWatchReceiver<T>
where
    T: OptionalSend + OptionalSync,
{
    async fn changed(&mut self) -> Result<(), watch::RecvError> {
        poll_fn(|cx| {
            let mut st = lock(&self.shared.state);
            if st.version != self.seen {
                self.seen = st.version;
                return Poll::Ready(Ok(()));
            }
            if st.senders == 0 {
                return Poll::Ready(Err(watch::RecvError(())));
            }
            if !st.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                st.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    fn borrow_watched(&self) -> RwLockReadGuard<'_, T> {
        read(&self.shared.value)
    }

    fn borrow_and_update(&mut self) -> RwLockReadGuard<'_, T> {
        self.seen = lock(&self.shared.state).version;
        read(&self.shared.value)
    }
}
