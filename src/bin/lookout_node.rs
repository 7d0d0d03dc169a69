//! The ROS 2 node. (Scaffold.)
fn main() {}
