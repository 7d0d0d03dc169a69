//! YOLO output decoding, class-aware NMS, class mapping, and the `Detector` stage.
//! (Scaffold: filled in by the detector work.)
