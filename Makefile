# ebm: flat Makefile. Every library comes through pkg-config; MPI through mpicc.
#   make            build build/ebm
#   make test       deps + build + every test (cmocka, MPI at 1/2/4 ranks)
#   make run        deps + build + data + a 2-rank MNIST training job
#   make bench      throughput as a fraction of this machine's SGEMM rate
#   make SANITIZE=1 ASan + UBSan build (into build-san/)

CC       = mpicc
PKGS     = hdf5-openmpi openblas scalapack-openmpi inih libpng zlib
BUILD   ?= build
CFLAGS   = -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -D_DEFAULT_SOURCE -Iinclude \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS   = $(shell pkg-config --libs $(PKGS)) -lm
TEST_LDLIBS = $(shell pkg-config --libs cmocka)

ifeq ($(SANITIZE),1)
BUILD    = build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
# Open MPI's plugins are unloaded before exit, so LeakSanitizer reports what
# they keep as leaks of unknown modules that no suppression can name.
export ASAN_OPTIONS = detect_leaks=0
endif

LIB_SRC  = $(filter-out src/main.c,$(wildcard src/*/*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TESTS    = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
MPI_TESTS = $(patsubst tests/mpi/%.c,$(BUILD)/tests/mpi/%,$(wildcard tests/mpi/test_*.c))
BENCH    = $(BUILD)/bench/bench_rbm $(BUILD)/bench/bench_grid_train

.PHONY: all deps data run test test-build bench clean
all: $(BUILD)/ebm

$(BUILD)/obj/%.o: %.c $(wildcard include/ebm/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The fused sigmoid/sampling kernels only vectorise at -O3 (GCC 12).
$(BUILD)/obj/src/core/kernels.o: CFLAGS += -O3

$(BUILD)/libebm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ebm: $(BUILD)/obj/src/main.o $(BUILD)/libebm.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h tests/mpi/*.h) $(BUILD)/libebm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) $< $(BUILD)/libebm.a $(LDLIBS) $(TEST_LDLIBS) -o $@

# Counts ebm's own allocations around training steps.
$(BUILD)/tests/test_hotloop $(BUILD)/tests/mpi/test_grid_train_mpi: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

$(BUILD)/bench/%: bench/%.c $(BUILD)/libebm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/libebm.a $(LDLIBS) -o $@

deps:
	@scripts/deps.sh

data: data/mnist.h5

data/mnist.h5: scripts/fetch-mnist.sh | $(BUILD)/ebm
	@EBM=$(BUILD)/ebm scripts/fetch-mnist.sh data

# Fashion-MNIST from Debian's dataset-fashion-mnist (installed when missing, as root).
.PHONY: data-fashion
data-fashion: data/fashion.h5

data/fashion.h5: scripts/fetch-fashion.sh | $(BUILD)/ebm
	@EBM=$(BUILD)/ebm scripts/fetch-fashion.sh data

test-build: $(BUILD)/ebm $(TESTS) $(MPI_TESTS)

# The MNIST-slice test needs data/mnist.h5 (fetched once, then cached).
test: deps
	@$(MAKE) --no-print-directory test-build data
	@BUILD=$(BUILD) scripts/run-tests.sh $(TESTS) -- $(MPI_TESTS)

run: deps
	@$(MAKE) --no-print-directory all data
	@scripts/run-mnist.sh $(BUILD)/ebm configs/mnist-rbm.ini

bench: deps
	@$(MAKE) --no-print-directory $(BENCH) data
	@scripts/bench.sh $(BENCH)

clean:
	rm -rf build build-san

# The job scripts under a real single-node SLURM on loopback: a training job
# stopped with SIGUSR1 must requeue, resume and end bit-identical to an
# uninterrupted run. Needs root (installs slurm-wlm, munge); else it skips.
.PHONY: test-slurm
test-slurm: deps
	@$(MAKE) --no-print-directory all
	@EBM=$(BUILD)/ebm bash tests/slurm/test_slurm.sh

# Strong and weak scaling at 1, 2 and 4 ranks with configs/scaling.ini, the
# MPI_Allreduce benchmark with its alpha-beta fit, and a projection to 8-1024
# nodes: CSVs and PNGs in runs/scaling-DATE (docs/scaling.md). A few minutes.
.PHONY: scaling
scaling: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/bench_allreduce data
	@EBM=$(BUILD)/ebm EBM_BENCH=$(BUILD)/bench/bench_allreduce scripts/scaling.sh \
	    --ranks 1,2,4 --mode strong,weak --out runs/scaling-$$(date +%Y%m%d-%H%M%S) configs/scaling.ini
