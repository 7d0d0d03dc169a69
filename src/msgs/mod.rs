//! ROS 2 messages as serde structs, their CDR encoding and their `ros2msg` definitions.
//! (Scaffold: filled in by the MCAP work.)
