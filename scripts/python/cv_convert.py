#!/usr/bin/env python3
"""OpenCV reference for lookout's image_codec: converts a raw buffer with cv2.cvtColor.

Usage: cv_convert.py CODE WIDTH HEIGHT IN OUT
  CODE: an OpenCV constant name without the COLOR_ prefix, e.g. YUV2RGB_UYVY, YUV2RGB_YUY2,
        BayerBG2RGB. 4:2:2 input is HEIGHT x WIDTH x 2 bytes, Bayer input HEIGHT x WIDTH.
  OUT receives HEIGHT x WIDTH x 3 RGB bytes.
"""

import sys

import cv2
import numpy as np


def main():
    code, width, height, src, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    data = np.fromfile(src, np.uint8)
    if code.startswith("YUV2"):
        img = data.reshape(height, width, 2)
    else:
        img = data.reshape(height, width)
    rgb = cv2.cvtColor(img, getattr(cv2, "COLOR_" + code))
    np.ascontiguousarray(rgb).tofile(dst)


if __name__ == "__main__":
    main()
