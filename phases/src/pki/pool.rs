//! Keys generated ahead of need on background threads.

use std::collections::HashMap;
use std::sync::{Condvar, LazyLock, Mutex};

use anyhow::Result;

use super::key::{KeyAlgorithm, PrivateKey};

/// Keys generated ahead of need on background threads, shared by every phase of the process.
///
/// Phases run one after another, each needing one key; the first phase of a group asks for the
/// keys the whole group will need so they are generated on every core while earlier ones are
/// signed and written. Keys are interchangeable, so any taker gets any ready key of its algorithm.
struct KeyPool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

#[derive(Default)]
struct PoolState {
    keys: HashMap<KeyAlgorithm, Vec<PrivateKey>>,
    /// Keys ordered but not yet generated.
    pending: HashMap<KeyAlgorithm, usize>,
    /// Keys ordered that no worker has started.
    queued: Vec<KeyAlgorithm>,
    workers: usize,
}

static POOL: LazyLock<KeyPool> = LazyLock::new(|| KeyPool {
    state: Mutex::default(),
    ready: Condvar::new(),
});

fn pool_state() -> std::sync::MutexGuard<'static, PoolState> {
    POOL.state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts generating `count` keys of `alg` in the background, on up to one thread per core.
pub fn prefetch_keys(alg: KeyAlgorithm, count: usize) {
    if count == 0 {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut state = pool_state();
    *state.pending.entry(alg).or_default() += count;
    state.queued.extend(std::iter::repeat_n(alg, count));
    let wanted = cores.min(state.queued.len());
    while state.workers < wanted {
        state.workers += 1;
        let spawned = std::thread::Builder::new()
            .name("keygen".into())
            .spawn(key_worker);
        if spawned.is_err() {
            // Without a worker the takers generate their own keys.
            state.workers -= 1;
            state.pending.clear();
            state.queued.clear();
            break;
        }
    }
}

fn key_worker() {
    loop {
        let alg = {
            let mut state = pool_state();
            match state.queued.pop() {
                Some(alg) => alg,
                None => {
                    state.workers -= 1;
                    return;
                }
            }
        };
        // A panic must still count the key as done, or a taker would wait for it forever.
        let key = std::panic::catch_unwind(|| PrivateKey::generate(alg));
        let mut state = pool_state();
        if let Some(n) = state.pending.get_mut(&alg) {
            *n = n.saturating_sub(1);
        }
        // A failed generation is retried by the taker, which reports the error.
        if let Ok(Ok(key)) = key {
            state.keys.entry(alg).or_default().push(key);
        }
        POOL.ready.notify_all();
    }
}

/// A fresh key: a prefetched one if any is ready or on its way, else one generated now.
pub fn new_key(alg: KeyAlgorithm) -> Result<PrivateKey> {
    let mut state = pool_state();
    loop {
        if let Some(key) = state.keys.get_mut(&alg).and_then(Vec::pop) {
            return Ok(key);
        }
        if state.pending.get(&alg).copied().unwrap_or(0) == 0 {
            break;
        }
        state = POOL
            .ready
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    drop(state);
    PrivateKey::generate(alg)
}
