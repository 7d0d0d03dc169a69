//! AFL++ target: [`lookout_fuzz::cdr`] on every input (see `fuzz/src/lib.rs`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        lookout_fuzz::cdr(data);
    });
}
