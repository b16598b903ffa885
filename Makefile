# make demo: train + evaluate the default job on embedded data.
# make test: the whole test suite (what .ci/run runs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo

.PHONY: demo test bench wheel clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(PY) train.py --config=configs/demo.py --workdir=$(WORKDIR)
	rm -rf $(WORKDIR)/export
	$(PY) eval.py --config=configs/demo.py --workdir=$(WORKDIR) \
	  --export_dir=$(WORKDIR)/export --format=markdown
	@echo "pictures: $(WORKDIR)/pictures  SavedModel: $(WORKDIR)/export"

test: $(VENV)/.installed
	$(PY) -m pytest -n 2 -q --durations=20 tests

wheel: $(VENV)/.installed
	$(PY) -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) dist build *.egg-info runs
