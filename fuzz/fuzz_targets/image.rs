//! AFL++ target: [`lookout_fuzz::image`] on every input (see `fuzz/src/lib.rs`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        lookout_fuzz::image(data);
    });
}
