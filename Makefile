# make demo: train + evaluate the default job on embedded data.
# make test: the whole test suite (what .ci/run runs).
# make docs: the documentation site into site/, warnings as errors.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo

.PHONY: demo test docs bench wheel clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# The docs extra goes into the same venv, behind its own stamp, so a fresh
# clone's `make docs` (and .ci/run) installs it and `make test` needn't.
$(VENV)/.installed-docs: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e ".[docs]"
	touch $@

demo: $(VENV)/.installed
	$(PY) train.py --config=configs/demo.py --workdir=$(WORKDIR)
	rm -rf $(WORKDIR)/export
	$(PY) eval.py --config=configs/demo.py --workdir=$(WORKDIR) \
	  --export_dir=$(WORKDIR)/export --format=markdown
	@echo "pictures: $(WORKDIR)/pictures  SavedModel: $(WORKDIR)/export"

test: $(VENV)/.installed
	$(PY) -m pytest -n 2 -q --durations=20 tests

# --strict: a broken link or cross-reference, a page outside the nav or a
# public name without a docstring (tools/docs_site.py) fails the build
# (not with --quiet: MkDocs then no longer counts the warnings). The
# variable hides a theme banner about MkDocs 2.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

wheel: $(VENV)/.installed
	$(PY) -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) dist build *.egg-info runs site
