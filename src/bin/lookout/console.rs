//! What the binary prints, without ever panicking on it: `println!` panics when stdout is a
//! closed pipe (`lookout replay ... | head -1`) or a full device (`> /dev/full`), which would
//! take the process down (exit 101) with outputs still to write. Here a closed pipe silently
//! ends printing; any other stdout error is kept and reported once at exit (exit 1), after
//! every output is written. Messages to stderr ignore errors: there is nowhere left to say them.

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;

/// The first stdout error other than a closed pipe.
static STDOUT_ERROR: Mutex<Option<io::Error>> = Mutex::new(None);
/// Set once stdout has failed: nothing more is tried.
static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes to stdout (use [`out!`](crate::out) / [`outln!`](crate::outln)).
pub fn out(args: fmt::Arguments<'_>) {
    use std::sync::atomic::Ordering;
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.flush());
    if let Err(e) = written {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            if let Ok(mut slot) = STDOUT_ERROR.lock() {
                slot.get_or_insert(e);
            }
        }
    }
}

/// Writes to stderr, ignoring errors.
pub fn err(args: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_fmt(args);
}

/// The stdout error to report at exit, if any (a closed pipe is not one).
pub fn stdout_error() -> Option<io::Error> {
    STDOUT_ERROR.lock().ok().and_then(|mut slot| slot.take())
}

/// Makes sure file descriptors 0, 1 and 2 are open (on `/dev/null` when closed). Otherwise
/// the first file lookout opens would get number 1 and everything printed would go into it,
/// into an output file.
pub fn ensure_std_fds() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only queries the descriptor; no memory is passed.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        // SAFETY: a NUL-terminated static path; open returns the lowest free descriptor,
        // which is `fd` since every lower one is open (checked in order).
        let opened = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if opened >= 0 && opened != fd {
            // SAFETY: both are descriptors this process owns.
            unsafe {
                libc::dup2(opened, fd);
                libc::close(opened);
            }
        }
    }
}
