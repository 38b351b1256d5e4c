# qaprune: one plain Makefile.  Override CC, CFLAGS, LDLIBS on the command line.
#   make          build bin/sweep and build/libqacore.a
#   make test     install missing packages, build and run every test (tests/test_*.c), then
#                 the same tests under ASan/UBSan (make debug), then make fuzz-smoke when
#                 clang has libFuzzer; CI runs exactly this
#   make check    build and run the tests once, in $(B) (no package install, no sanitizers)
#   make run      install missing packages, build, run the embedded default (configs/grid.json)
#   make bench    run the engine benchmarks (slow; not part of make test)
#   make debug    build with ASan/UBSan into build/debug and run the tests there
#   make fuzz     run every libFuzzer harness (tests/fuzz/fuzz_*.c) for FUZZ_SECONDS each
#   make fuzz-smoke  the same for 3 s each (the end of make test)
#   make clean

CC      ?= cc
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT) -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp
CPPFLAGS += -I. -I/usr/include/x86_64-linux-gnu/openblas-pthread
LDFLAGS ?= -fopenmp
LDLIBS  ?= -ldnnl -lopenblas -lsqlite3 -lcjson -lutf8proc -lxxhash -lprotobuf-c -lz -lm -lpthread

B       ?= build
BIN     ?= bin
# ONNX's own schema (Debian libonnx-dev); protoc-c turns it into C under $(B)/gen at build time.
ONNX_PROTO ?= $(firstword $(shell dpkg -L libonnx-dev 2>/dev/null | grep '/onnx\.proto$$') \
                          /usr/include/onnx/onnx.proto)
GEN     := $(B)/gen
CPPFLAGS += -I$(GEN)
# ONNX Runtime for the export tests and bench: npm's onnxruntime-node, installed on demand
# outside the repository (tests/ort_setup.sh); without it those checks say "skipped".
ORT_DIR ?= $(abspath ../ort)

CORE_SRC  := $(sort $(wildcard core/*/*.c))
DB_SRC    := $(sort $(wildcard db/*.c))
PLOTS_SRC := $(sort $(wildcard plots/*.c))
SWEEP_SRC := $(sort $(wildcard sweep/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))

CORE_OBJ  := $(CORE_SRC:%.c=$(B)/%.o) $(GEN)/onnx.pb-c.o
LIB_OBJ   := $(DB_SRC:%.c=$(B)/%.o) $(PLOTS_SRC:%.c=$(B)/%.o)
SWEEP_OBJ := $(SWEEP_SRC:%.c=$(B)/%.o)
SWEEP_LIB_OBJ := $(filter-out $(B)/sweep/main.o,$(SWEEP_OBJ))
TESTS     := $(TEST_SRC:tests/%.c=$(B)/tests/%)

.PHONY: all test check run bench debug clean fuzz fuzz-smoke fuzz-bins
all: $(BIN)/sweep $(B)/libqacore.a $(TESTS)

$(B)/libqacore.a: $(CORE_OBJ)
	ar rcs $@ $^

$(BIN)/sweep: $(SWEEP_OBJ) $(LIB_OBJ) $(B)/libqacore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(SWEEP_OBJ) $(LIB_OBJ) $(B)/libqacore.a $(LDLIBS)

$(B)/tests/%: tests/%.c $(wildcard tests/*.h) $(SWEEP_LIB_OBJ) $(LIB_OBJ) $(B)/libqacore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(SWEEP_LIB_OBJ) $(LIB_OBJ) $(B)/libqacore.a $(LDLIBS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# AdamW's loop takes sqrtf of v >= 0: without errno to set it vectorises (the same results)
$(B)/core/model/optim.o: CFLAGS += -fno-math-errno

$(GEN)/onnx.pb-c.c: $(ONNX_PROTO)
	@mkdir -p $(GEN)
	cp $< $(GEN)/onnx.proto
	protoc-c --proto_path=$(GEN) --c_out=$(GEN) $(GEN)/onnx.proto
$(GEN)/onnx.pb-c.h: $(GEN)/onnx.pb-c.c
$(GEN)/onnx.pb-c.o: $(GEN)/onnx.pb-c.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -w -c -o $@ $<
$(B)/core/export/onnx_graph.o: $(GEN)/onnx.pb-c.h
# sweep/ort_latency.js compiled into bin/sweep as one C string (sweep/ort.c runs it with node).
$(GEN)/ort_latency_js.h: sweep/ort_latency.js
	@mkdir -p $(GEN)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@.tmp && mv $@.tmp $@
$(B)/sweep/ort.o: $(GEN)/ort_latency_js.h

# A helper (not a test) that writes random-weight checkpoints for the ONNX bench.
$(B)/tests/onnx_fixture: tests/onnx_fixture.c $(B)/libqacore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libqacore.a $(LDLIBS)

-include $(CORE_OBJ:.o=.d) $(LIB_OBJ:.o=.d) $(SWEEP_OBJ:.o=.d)

# Every test binary runs from the project root with SWEEP_BIN naming the CLI under test.
# .ci/deps first installs what a fresh machine lacks (instant when nothing is missing).
test:
	@sh .ci/deps
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory debug
	@if [ -n "$(HAVE_LIBFUZZER)" ]; then $(MAKE) --no-print-directory fuzz-smoke; \
	 else echo "skipped: fuzz-smoke (clang/libFuzzer not installed)"; fi

check:
	@$(MAKE) --no-print-directory all
	@ORT_DIR=$(ORT_DIR) sh tests/ort_setup.sh
	@SWEEP_BIN=$(BIN)/sweep ORT_DIR=$(ORT_DIR) sh tests/run_all.sh $(TESTS)

# The embedded default: installs what is missing, builds, runs configs/grid.json.
run:
	@sh .ci/deps
	@$(MAKE) --no-print-directory all
	$(BIN)/sweep run configs/grid.json --jobs 2

bench: all $(B)/tests/onnx_fixture
	@ORT_DIR=$(ORT_DIR) sh tests/ort_setup.sh
	@ORT_DIR=$(ORT_DIR) sh tests/bench.sh $(BIN)/sweep $(B)/tests/onnx_fixture
	@ORT_DIR=$(ORT_DIR) sh tests/bench_onnx.sh $(BIN)/sweep $(B)/tests/onnx_fixture

debug:
	$(MAKE) B=build/debug BIN=build/debug/bin \
	  OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fopenmp -fsanitize=address,undefined" check

# Fuzzing (tests/fuzz/fuzz.h): each tests/fuzz/fuzz_NAME.c with its seeds tests/fuzz/corpus/NAME,
# the library built again by clang with libFuzzer's coverage, ASan and UBSan into build/fuzz;
# the harnesses run one at a time. FUZZ_ONLY=NAME runs one.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_B       := build/fuzz
FUZZ_NAMES   := $(or $(FUZZ_ONLY),$(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c))))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
HAVE_LIBFUZZER = $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | \
                   $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null && echo yes)

fuzz:
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=$(FUZZ_CC) LDFLAGS="-fopenmp $(FUZZ_SAN)" \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-bins
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_B) $(FUZZ_NAMES)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=3

fuzz-bins: $(FUZZ_NAMES:%=$(B)/tests/fuzz/fuzz_%)

$(B)/tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(SWEEP_LIB_OBJ) $(LIB_OBJ) $(B)/libqacore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(SWEEP_LIB_OBJ) $(LIB_OBJ) \
	  $(B)/libqacore.a $(LDLIBS)

clean:
	rm -rf build bin
