//! AFL++ target: [`lookout_fuzz::detections`] on every input (see `fuzz/src/lib.rs`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        lookout_fuzz::detections(data);
    });
}
