# samplescope — every set-up step lives here. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: venv demo test bench bench-trees bench-torch evidence bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## the main job on bundled real data (Open Bandit Dataset clicks): scores + HTML report in out/demo
demo: venv
	$(BIN)/samplescope demo --out out/demo

## the whole test suite (one BLAS thread: the tests' matrices are small, and threads thrash on a busy 2-core box)
test: venv
	OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q

## benchmarks against the peers (pyDVL, OpenDataVal in their own venvs under .bench/); writes docs/benchmarks.md
bench: venv
	bash benchmarks/setup_peers.sh
	$(BIN)/python benchmarks/run_linear.py --sizes 1000 10000 100000 --out docs/benchmarks.md
	$(MAKE) bench-trees
	$(MAKE) bench-torch

## trees and ranking: fidelity vs tree-influence (own venv .bench/venv-treeinf), MSLR ranking effect, 1M-row scale;
## writes docs/benchmarks-trees.md
bench-trees: venv
	bash benchmarks/setup_tree_peers.sh
	$(BIN)/python benchmarks/run_trees.py --out docs/benchmarks-trees.md

## torch models: Captum, dattri, traker, pyDVL influence in .bench/venv-torchpeers; writes docs/benchmarks-torch.md
bench-torch: venv
	mkdir -p .bench && echo torch==2.13.0 > .bench/torch-pin.txt
	test -x .bench/venv-torchpeers/bin/python || (python3 -m venv .bench/venv-torchpeers \
	  && .bench/venv-torchpeers/bin/pip install -q torch==2.13.0 \
	  && .bench/venv-torchpeers/bin/pip install -q -c .bench/torch-pin.txt captum dattri traker "pydvl[influence]==0.10.0")
	$(BIN)/python benchmarks/run_torch.py --sizes 2000 10000 --out docs/benchmarks-torch.md
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/run_torch_memory.py --sizes 10000 100000 1000000 \
	  --methods grad_norm tracin trak --out docs/benchmarks-torch.md
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/run_torch_loo.py --n 400 --lam 1 --out docs/benchmarks-torch.md

## the use-case and method-selection evidence: docs/use-cases.md (cleanlab in .bench/venv-cleanlab), docs/selection.md
evidence: venv
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/use_cases.py --out docs/use-cases.md
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/selection.py --out docs/selection.md

bench-quick: venv
	$(BIN)/python benchmarks/run_linear.py --sizes 1000 --no-peers --out /tmp/samplescope-bench.md

clean:
	rm -rf out build dist .pytest_cache
