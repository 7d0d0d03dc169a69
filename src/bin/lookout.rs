//! The `lookout` command line. (Scaffold.)
fn main() {}
