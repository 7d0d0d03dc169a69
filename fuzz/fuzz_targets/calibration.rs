//! AFL++ target: [`lookout_fuzz::calibration`] on every input (see `fuzz/src/lib.rs`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        lookout_fuzz::calibration(data);
    });
}
