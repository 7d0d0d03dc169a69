# lookout: the two commands a newcomer needs, and the pieces they are made of.
#
#   make demo   set up (assets, oracles) and replay the PETS09-S2L1 recording through the detector
#   make test   set up (assets, oracles, ROS 2 from PyPI) and run every test tier
#
# Everything is cached under $(LOOKOUT_CACHE) (default ~/.cache/lookout), the cargo build too.

SHELL := /bin/bash
export LOOKOUT_CACHE ?= $(HOME)/.cache/lookout
export CARGO_TARGET_DIR ?= $(LOOKOUT_CACHE)/target
CARGO ?= cargo
LOOKOUT := $(CARGO_TARGET_DIR)/release/lookout
DEMO_IN := recordings/pets09-s2l1.mcap
DEMO_OUT := out/pets09-s2l1.detections.mcap

.PHONY: demo test setup setup-ros build lint test-rust test-ros test-hosts test-fleet check-cuda gpu-check record-demo clean-out fuzz fuzz-corpus

DEMO_FRAMES := out/pets09-s2l1.frames
DEMO_SUMMARY := out/pets09-s2l1.summary.json
DEMO_REPORT := out/pets09-s2l1.report
# MOTChallenge ground truth of PETS09-S2L1 (MOT15 train/PETS09-S2L1/gt/gt.txt), to score the
# demo. Without it the report still shows the latency, boxes per frame, counts and frames.
DEMO_GT ?=
# Ground-plane objects in the demo: an approximate calibration of PETS09-S2L1 View_001 derived
# from MOT15's ground truth (scripts/python/pets09_calibration.py), laid over the defaults; the
# report then gains a bird's-eye plot of the tracks. `make demo DEMO_OVERLAY=` turns it off.
DEMO_OVERLAY ?= configs/pets09-view001.param.yaml

demo: setup build $(DEMO_IN)
	$(LOOKOUT) replay $(DEMO_IN) --out $(DEMO_OUT) --with-images --render $(DEMO_FRAMES) --summary-json $(DEMO_SUMMARY) \
	  $(if $(DEMO_OVERLAY),--overlay $(DEMO_OVERLAY))
	$(LOOKOUT) eval --replay $(DEMO_OUT) $(if $(DEMO_GT),--gt $(DEMO_GT)) --summary-json $(DEMO_SUMMARY) \
	  --frames $(DEMO_FRAMES) --report $(DEMO_REPORT)
	@echo "results (open in Foxglove, see README): $(DEMO_OUT)"
	@echo "annotated frames: $(DEMO_FRAMES)/"
	@echo "report: $(DEMO_REPORT)/report.html"
	@if [ -z "$(DEMO_GT)" ]; then echo "(not scored: pass DEMO_GT=path/to/PETS09-S2L1/gt/gt.txt for MOTA, IDF1, AP50)"; fi

test: setup setup-ros lint test-rust test-ros test-hosts test-fleet check-cuda

setup:
	scripts/setup.sh

setup-ros:
	scripts/setup-ros.sh

build:
	$(CARGO) build --release --locked --bin lookout

$(DEMO_IN): | build
	$(LOOKOUT) record $(LOOKOUT_CACHE)/data/vtest.avi --fps 7 --out $(DEMO_IN)

record-demo: build
	$(LOOKOUT) record $(LOOKOUT_CACHE)/data/vtest.avi --fps 7 --out $(DEMO_IN)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test-rust:
	$(CARGO) test --locked
	@# The MOT15 tests (the tracker's bar against SORT; lookout eval against motmetrics on the
	@# whole PETS09 pipeline) need research-licensed data that a fresh machine lacks; run them
	@# whenever the data sits beside the checkout (as on CI), say so otherwise.
	@# The camera-motion estimator against the known motion of the crop-panned PETS09 sequence
	@# (scripts/python/make_moving_camera.py needs PETS09-S2L1's gt.txt; ~15 s, 320 MB, removed).
	@if [ -d "$${LOOKOUT_MOT15_DIR:-../shared/data/mot15}" ]; then \
	  mot15="$${LOOKOUT_MOT15_DIR:-../shared/data/mot15}"; moving=$$(mktemp -d) && \
	  trap 'rm -rf "$$moving"' EXIT && \
	  $(LOOKOUT_CACHE)/venv-oracle/bin/python scripts/python/make_moving_camera.py \
	    --video $(LOOKOUT_CACHE)/data/vtest.avi --gt "$$mot15/PETS09-S2L1/gt.txt" \
	    --ffmpeg $(LOOKOUT_CACHE)/bin/ffmpeg --out "$$moving" && \
	  LOOKOUT_MOVING_CAMERA_DIR="$$moving" $(CARGO) test --locked --release --test track_mot15 \
	    --test eval_motmetrics --test track_camera_motion -- --ignored; \
	else \
	  echo "test-rust: MOT15 data not found (LOOKOUT_MOT15_DIR): MOT15 tests not run"; \
	fi
	@# tests/yolox_parity.rs (YOLOX against onnxruntime) ran above when the YOLOX-Nano ONNX
	@# file (test data, never committed) sits beside the checkout; it skips itself otherwise.
	@if [ ! -f "$${LOOKOUT_YOLOX_ONNX:-../shared/models/yolox_nano.onnx}" ]; then \
	  echo "test-rust: YOLOX ONNX file not found (LOOKOUT_YOLOX_ONNX): YOLOX parity tests skipped"; \
	fi

test-ros:
	scripts/test-ros.sh

# The Ray fleet driver (fleet/): a quick in-process cluster and a real two-node cluster, each in
# network namespaces of its own (Ray never on the host network); sets up venv-fleet first.
# One ROS 2 graph across two hosts: two network namespaces joined by a veth pair (after test-ros:
# it uses that tier's colcon install space).
test-hosts:
	scripts/test-hosts.sh

test-fleet:
	scripts/test-fleet.sh

# --features cuda builds, lints and fails clearly without a GPU (nvcc from PyPI; no GPU needed).
check-cuda:
	scripts/check-cuda.sh

# On a machine with an NVIDIA GPU: GPU parity tests and the GPU benchmark (out/gpu-check/).
gpu-check:
	scripts/gpu-check.sh

# Coverage-guided fuzzing (AFL++ through cargo-afl, stable toolchain) of every decoder of outside
# data, FUZZ_SECONDS per target (default 60); prints inputs tried and crashes per target. Not part
# of `make test`: tests/fuzz_corpus.rs replays the seeds and saved crashes there instead.
FUZZ_SECONDS ?= 60
fuzz: fuzz-corpus
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# Seeds from real files (vtest.avi) for the fuzz targets, in $(LOOKOUT_CACHE)/fuzz-corpus.
fuzz-corpus: setup build
	LOOKOUT=$(LOOKOUT) scripts/fuzz-corpus.sh

clean-out:
	rm -rf out $(DEMO_IN)
