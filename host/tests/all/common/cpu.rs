//! Which tests may share a two-core CI machine. Tests that load it (minutes-long loads,
//! many workers, a whole environment destroyed and restored) run alone among the tests
//! that hold a class; tests that burn the CPU for a minute (compiling a component or a
//! crate) run beside each other only; tests whose verdict hangs on a few seconds'
//! deadline run beside each other only. CI saw a chaos deadline missed beside a crate
//! being compiled, and a load's rerun judged a regression beside a heavy test.

use std::sync::{Condvar, Mutex, PoisonError};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Heavy,
    Busy,
    Timed,
}

/// The class running now and how many of its tests hold it.
static HELD: Mutex<Option<(Class, usize)>> = Mutex::new(None);
static FREED: Condvar = Condvar::new();

/// A test's hold on the machine; let go when dropped.
#[must_use = "the class is held only while the guard lives"]
pub struct Guard(());

fn take(class: Class) -> Guard {
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        match *held {
            None => {
                *held = Some((class, 1));
                return Guard(());
            }
            Some((now, ref mut n)) if now == class && class != Class::Heavy => {
                *n += 1;
                return Guard(());
            }
            _ => held = FREED.wait(held).unwrap_or_else(PoisonError::into_inner),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        *held = match *held {
            Some((class, n)) if n > 1 => Some((class, n - 1)),
            _ => None,
        };
        FREED.notify_all();
    }
}

/// Held by a test that loads the machine: alone.
pub fn heavy() -> Guard {
    take(Class::Heavy)
}

/// Held by a test that compiles or benchmarks for a minute or more: beside its kind.
pub fn busy() -> Guard {
    take(Class::Busy)
}

/// Held by a test whose verdict hangs on a short deadline: beside its kind.
pub fn timed() -> Guard {
    take(Class::Timed)
}
