//! AFL++ target: [`lookout_fuzz::onnx`] on every input (see `fuzz/src/lib.rs`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        lookout_fuzz::onnx(data);
    });
}
