//! The app's clocks and waits: WASI's `clock_time_get` and `poll_oneoff`, in place of
//! wasmtime-wasi's, so a wait never outlives the run's wall-time budget.
//!
//! The budget is enforced by epoch interruption, which stops wasm code but not a host call
//! in progress: with the stock `poll_oneoff`, `time.sleep(1e9)` would block the runtime's
//! thread past any deadline. Here a wait sleeps at most until the deadline, then traps as
//! an interrupt (`APP_TIMEOUT`). The monotonic clock is ours too, so an absolute deadline an
//! app computes from it (CPython sleeps that way) is read on the same clock.
//!
//! Nothing here can reach a file or a socket: an app has no sockets, and its files are
//! always ready, so a subscription on a descriptor is answered at once.

use std::time::{Duration, Instant, SystemTime};

use wasmtime::{Caller, Extern, Linker, Trap};

/// WASI errno values used here.
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const SUBSCRIPTION_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
/// More subscriptions than any libc asks for at once: a bound on what one call reads.
const MAX_SUBSCRIPTIONS: usize = 4096;

/// One run's time: where its monotonic clock starts, and when its budget ends.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    origin: Instant,
    deadline: Instant,
}

impl RunClock {
    /// A clock whose monotonic time starts at zero now, and whose budget ends `budget`
    /// from now.
    pub fn starting_now(budget: Duration) -> RunClock {
        let origin = Instant::now();
        RunClock {
            origin,
            deadline: origin + budget,
        }
    }

    /// When the run's wall-time budget ends: no wait of the app's goes past it.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Nanoseconds on `clock`, or `None` for a clock an app cannot read (CPU time).
    fn now(&self, clock: u32) -> Option<u64> {
        match clock {
            CLOCK_REALTIME => SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_nanos() as u64),
            CLOCK_MONOTONIC => Some(self.origin.elapsed().as_nanos() as u64),
            _ => None,
        }
    }
}

/// Shadows WASI's `clock_time_get` and `poll_oneoff` in `linker` (defined after WASI).
pub fn add_to_linker<T: 'static>(linker: &mut Linker<T>, clock: fn(&T) -> RunClock) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "clock_time_get",
        move |mut caller: Caller<'_, T>, id: i32, _precision: i64, out: i32| -> i32 {
            let Some(now) = clock(caller.data()).now(id as u32) else {
                return ERRNO_BADF;
            };
            match write(&mut caller, out, &now.to_le_bytes()) {
                Some(()) => ERRNO_SUCCESS,
                None => ERRNO_FAULT,
            }
        },
    )?;
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "poll_oneoff",
        move |mut caller: Caller<'_, T>, subscriptions: i32, events: i32, count: i32, written: i32| {
            let run = clock(caller.data());
            poll_oneoff(&mut caller, run, subscriptions, events, count, written)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// One subscription as read from the app's memory.
struct Subscription {
    userdata: [u8; 8],
    tag: u8,
    /// For a clock: how long from now until it fires (`None`: a clock it cannot read).
    wait: Option<Duration>,
}

fn poll_oneoff<T>(
    caller: &mut Caller<'_, T>,
    run: RunClock,
    subscriptions: i32,
    events: i32,
    count: i32,
    written: i32,
) -> wasmtime::Result<i32> {
    let Ok(count) = usize::try_from(count) else {
        return Ok(ERRNO_INVAL);
    };
    if count == 0 || count > MAX_SUBSCRIPTIONS {
        return Ok(ERRNO_INVAL);
    }
    let Some(raw) = read(caller, subscriptions, count * SUBSCRIPTION_SIZE) else {
        return Ok(ERRNO_FAULT);
    };
    let parsed: Vec<Subscription> = raw.chunks_exact(SUBSCRIPTION_SIZE).map(|s| parse(s, run)).collect();
    // Descriptors are always ready: answer them (and clocks already due) without waiting.
    let waits: Vec<Duration> = parsed
        .iter()
        .filter_map(|s| (s.tag == EVENTTYPE_CLOCK).then_some(s.wait).flatten())
        .collect();
    let immediate = parsed.iter().any(|s| s.tag != EVENTTYPE_CLOCK || s.wait.is_none());
    let slept = if immediate {
        Duration::ZERO
    } else {
        let wanted = waits.iter().min().copied().unwrap_or(Duration::ZERO);
        let started = Instant::now();
        if started + wanted > run.deadline {
            std::thread::sleep(run.deadline.saturating_duration_since(started));
            return Err(Trap::Interrupt.into());
        }
        std::thread::sleep(wanted);
        wanted
    };
    let mut out = Vec::new();
    for subscription in &parsed {
        let due = match (subscription.tag, subscription.wait) {
            (EVENTTYPE_CLOCK, Some(wait)) => wait <= slept,
            _ => true,
        };
        if due {
            out.extend_from_slice(&event(subscription));
        }
    }
    let fired = (out.len() / EVENT_SIZE) as u32;
    if write(caller, events, &out).is_none() || write(caller, written, &fired.to_le_bytes()).is_none() {
        return Ok(ERRNO_FAULT);
    }
    Ok(ERRNO_SUCCESS)
}

fn parse(raw: &[u8], run: RunClock) -> Subscription {
    let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
    let mut userdata = [0u8; 8];
    userdata.copy_from_slice(&raw[..8]);
    let tag = raw[8];
    let wait = (tag == EVENTTYPE_CLOCK)
        .then(|| {
            let id = u32::from_le_bytes(raw[16..20].try_into().expect("4 bytes"));
            let timeout = u64_at(24);
            let flags = u16::from_le_bytes(raw[40..42].try_into().expect("2 bytes"));
            let nanos = if flags & SUBCLOCKFLAGS_ABSTIME != 0 {
                timeout.saturating_sub(run.now(id)?)
            } else {
                run.now(id)?;
                timeout
            };
            Some(Duration::from_nanos(nanos))
        })
        .flatten();
    Subscription { userdata, tag, wait }
}

/// The event answering `subscription`: a clock fired, a descriptor ready (or a clock it
/// cannot read, refused).
fn event(subscription: &Subscription) -> [u8; EVENT_SIZE] {
    let mut event = [0u8; EVENT_SIZE];
    event[..8].copy_from_slice(&subscription.userdata);
    let error = if subscription.tag == EVENTTYPE_CLOCK && subscription.wait.is_none() {
        ERRNO_INVAL as u16
    } else {
        0
    };
    event[8..10].copy_from_slice(&error.to_le_bytes());
    event[10] = subscription.tag;
    event
}

fn memory<T>(caller: &mut Caller<'_, T>) -> Option<wasmtime::Memory> {
    match caller.get_export("memory")? {
        Extern::Memory(memory) => Some(memory),
        _ => None,
    }
}

fn read<T>(caller: &mut Caller<'_, T>, at: i32, len: usize) -> Option<Vec<u8>> {
    let memory = memory(caller)?;
    let mut bytes = vec![0u8; len];
    memory.read(&*caller, at as u32 as usize, &mut bytes).ok()?;
    Some(bytes)
}

fn write<T>(caller: &mut Caller<'_, T>, at: i32, bytes: &[u8]) -> Option<()> {
    let memory = memory(caller)?;
    memory.write(caller, at as u32 as usize, bytes).ok()
}
