//! Darknet letterbox preprocessing. (Scaffold: filled in by the detector work.)
