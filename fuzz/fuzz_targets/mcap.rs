//! AFL++ target: [`lookout_fuzz::mcap`] on every input (see `fuzz/src/lib.rs`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        lookout_fuzz::mcap(data);
    });
}
