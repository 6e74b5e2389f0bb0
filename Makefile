# The course's commands. `make book` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

.PHONY: help setup book serve lab test test-unit test-notebooks test-book test-browser lint test-gpu bench clean

help:
	@echo "make book   set up, execute the notebooks and build the book into _build/html, then open it"
	@echo "make test   set up, then lint, unit tests, nbval over every notebook, the book build with -W and"
	@echo "            every page of the built book in headless Chromium (make test-browser)"
	@echo "make lab    JupyterLab on the notebooks"
	@echo "make serve  serve the built book on http://127.0.0.1:8000"
	@echo "make test-gpu  the notebook suite with MHA_DEVICE=cuda"
	@echo "make bench  the attention benchmarks"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html (or run: make serve)"
	-@$(PY) -c "import os, webbrowser; os.environ.get('CI') or webbrowser.open('file://$(CURDIR)/_build/html/index.html')"

serve:
	$(PY) -m http.server --bind 127.0.0.1 --directory _build/html 8000

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

lint: $(STAMP)
	$(VENV)/bin/ruff check mha tests notebooks benchmarks _ext
	$(VENV)/bin/ruff format --check mha tests benchmarks _ext
	$(VENV)/bin/lint-imports --no-cache   # the package's layers, from pyproject.toml

test-unit: $(STAMP)
	$(PY) -m pytest tests -q --ignore=tests/test_book_browser.py

test-notebooks: $(STAMP)
	$(PY) -m pytest $(NBVAL) notebooks -q

test-book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W --keep-going

# Every page of the freshly built book in headless Chromium (/usr/bin/chromium; skipped with the reason where
# it is missing, a failure with MHA_REQUIRE_BROWSER=1). Screenshots: _build/screenshots/.
test-browser: test-book
	$(PY) -m pytest tests/test_book_browser.py -q

test: lint test-unit test-notebooks test-book test-browser

test-gpu: $(STAMP)
	@$(PY) -c "import torch, sys; torch.cuda.is_available() or sys.exit('make test-gpu needs a CUDA device, and PyTorch sees none here')"
	MHA_DEVICE=cuda $(PY) -m pytest $(NBVAL) notebooks -q

bench: $(STAMP)
	$(PY) -m benchmarks.bench_attention

clean:
	rm -rf _build
