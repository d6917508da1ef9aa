# Set-up and the two main jobs. Every target creates the virtual environment it needs.
#   make test   - install (first time) and run the test suite, one worker per usable CPU (tests/README.md)
#   make demo   - install, get CIFAR-10 if needed, run the quick study: C1 and C3 for sl, 3 seeds, 2 runs at once
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# PyTorch first, as its own step: the pair below installs from local wheels on the project's
# machines; elsewhere set TORCH_SPEC (e.g. TORCH_SPEC="torch torchvision") to what fits yours.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
SHARED_DATA ?= ../shared/data
export CL_ROBUST_DATA ?= $(CURDIR)/data

.PHONY: venv test lint demo data clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

test: venv
	WANDB_MODE=disabled $(PY) -m pytest -q -n auto --durations=15 --room-times

lint: venv
	$(VENV)/bin/ruff check cl_robust tests benchmarks examples

# Real CIFAR-10 in the image-folder layout under $(CL_ROBUST_DATA), from an offline copy when
# one is beside the repository; otherwise torchvision downloads it on first use.
data: venv
	@if [ -d "$(CL_ROBUST_DATA)/cifar10/train" ] || [ -d "$(CL_ROBUST_DATA)/cifar-10-batches-py" ]; then \
		echo "CIFAR-10 found under $(CL_ROBUST_DATA)"; \
	elif [ -f "$(SHARED_DATA)/unpack_cifar.py" ]; then \
		$(PY) $(SHARED_DATA)/unpack_cifar.py cifar10 "$(CL_ROBUST_DATA)"; \
	else \
		echo "No offline copy; downloading CIFAR-10 with torchvision into $(CL_ROBUST_DATA)"; \
		$(PY) -c "import torchvision, sys; torchvision.datasets.CIFAR10(sys.argv[1], download=True)" "$(CL_ROBUST_DATA)"; \
	fi

demo: venv data
	$(VENV)/bin/cl-robust study --config examples/study/quick.yaml --jobs 2

clean:
	rm -rf $(VENV) runs results lightning_logs
