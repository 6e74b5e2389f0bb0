# The course's commands. `make book` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# tests/nbval_kernel_start.py: a kernel that dies while it starts (before any cell) is started again.
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider \
          -p tests.nbval_kernel_start

.PHONY: help setup book serve lab test execute test-unit test-notebooks test-book test-browser test-frontends test-download test-matrix classic-env lint test-gpu bench clean pdf test-pdf

help:
	@echo "make book   set up and build the book (from the stored, executed notebooks) into _build/html, then open it"
	@echo "make test   set up, then lint, unit tests, nbval over every notebook, the book build with -W,"
	@echo "            every page of the built book in headless Chromium (make test-browser) and the explorers"
	@echo "            in JupyterLab, Notebook 7 and classic Notebook (make test-frontends)"
	@echo "make lab    JupyterLab on the notebooks"
	@echo "make execute  re-run the notebooks in place (NOTEBOOKS=notebooks/03_*.ipynb for some)"
	@echo "make test-frontends  the explorers of notebooks 3 and 6 in JupyterLab, Notebook 7 and classic Notebook"
	@echo "            (builds .venv-classic the first time: 1-2 min with a warm pip cache, ~8 min without)"
	@echo "make test-download  a notebook downloaded from the book, run in a fresh venv (.ci/run runs it after make test)"
	@echo "make test-matrix  nbval over every notebook under each CPU kernel (avx512, avx2, default) and 1 or 2 threads,"
	@echo "            and the reference solutions graded under each (.ci/run runs it after make test)"
	@echo "make serve  serve the built book on http://127.0.0.1:8000"
	@echo "make test-gpu  the notebook suite with MHA_DEVICE=cuda"
	@echo "make bench  the attention benchmarks"
	@echo "make pdf    the whole book as one PDF, _build/pdf/book.pdf (make pdf SOLUTIONS=0: without the solutions)"
	@echo "make test-pdf  build the PDF and check it (pages, figures, solutions, no blank page)"

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

# The tests sit in folders by where they run (tests/conftest.py): unit/ and grading/ here, notebooks/ and browser/
# in the targets below.
# Tests marked "alone" (attacks that write into the package in the grader's fallback) run after the others, alone.
test-unit: $(STAMP)
	$(PY) -m pytest tests/unit tests/grading -q -n 2 -m "not alone"
	$(PY) -m pytest tests/unit tests/grading -q -m alone

# Two notebooks at a time (pytest-xdist), each one whole on one worker, its cells in order, compared as strictly.
test-notebooks: $(STAMP)
	$(PY) -m pytest $(NBVAL) -n 2 --dist loadfile notebooks -q

test-book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W --keep-going

# Every page of the freshly built book in headless Chromium (/usr/bin/chromium; skipped with the reason where
# it is missing, a failure with MHA_REQUIRE_BROWSER=1). Screenshots: _build/screenshots/.
test-browser: test-book
	$(PY) -m pytest tests/browser/test_book_browser.py tests/browser/test_figure_pane.py -q

# Classic Notebook 6.5 with Colab's widget stack (ipywidgets 7.7.1, plotly 5.24) in its own environment, for
# make test-frontends (part of make test). widgetsnbextension is pinned to 3.6.1: with 3.6.10, ipywidgets 7's
# Output widget cannot be created in classic Notebook ("n._deserialize_state is not a function"), so no explorer
# could show a figure.
# ipykernel is pinned to 6.17.1 (Colab's): with ipykernel 6.18 and later, ipywidgets 7 sends every widget with an
# empty model id (ipython/ipykernel#1050), so classic Notebook shows no widget at all.
# Built once (about 8 minutes on 2 cores downloading from PyPI, 76 s with a warm pip cache; torch is the CPU
# build), again when this Makefile changes.
CLASSIC     ?= .venv-classic
CLASSIC_STAMP := $(CLASSIC)/.installed

classic-env: $(CLASSIC_STAMP)

$(CLASSIC_STAMP): pyproject.toml Makefile
	test -x $(CLASSIC)/bin/python || $(PYTHON) -m venv $(CLASSIC)
	$(CLASSIC)/bin/python -m pip install -q --upgrade pip
	$(CLASSIC)/bin/python -m pip install -q "notebook==6.5.*" "ipywidgets==7.7.1" "widgetsnbextension==3.6.1" \
		"plotly==5.24.*" "torch==2.13.*" numpy "ipykernel==6.17.1"
	$(CLASSIC)/bin/python -m pip install -q --no-deps -e .
	touch $(CLASSIC_STAMP)

# A Jupyter server with a kernel on 127.0.0.1 per front end, notebooks 3 and 6 in headless Chromium: every
# explorer drawn, moved by mouse and keyboard, its message, training progress and head switches; latencies in
# _build/frontends/. Without Chromium it is skipped with the reason; MHA_REQUIRE_BROWSER=1 (.ci/run) makes a missing
# Chromium or environment a failure.
test-frontends: $(STAMP) $(CLASSIC_STAMP)
	$(PY) -m pytest tests/browser/test_frontends.py -q

# A notebook downloaded from the book, run in a fresh venv whose setup cell installs mha
# (tests/notebooks/test_downloaded_notebook.py); MHA_REQUIRE_REGISTRY=1: an unreachable package index fails it.
test-download: $(STAMP)
	MHA_REQUIRE_REGISTRY=1 $(PY) -m pytest tests/notebooks/test_downloaded_notebook.py -q

# The stored outputs under every CPU kernel PyTorch can pick (ATEN_CPU_CAPABILITY=avx512, avx2, default) with 1 and
# 2 threads: nbval over every notebook, and the reference solutions graded (tests/notebooks/test_nbval_matrix.py).
test-matrix: $(STAMP)
	$(PY) -m pytest tests/notebooks/test_nbval_matrix.py -v

test: lint test-unit test-notebooks test-book test-browser test-frontends

# Re-run notebooks in place, top to bottom (their stored outputs are what nbval compares and the book shows):
# make execute [NOTEBOOKS="notebooks/03_*.ipynb"]. No widget state is stored: ipywidgets 7 (classic Notebook,
# Colab) cannot load ipywidgets 8's, and without it every front end shows "Run this cell to start the explorer".
NOTEBOOKS ?= notebooks/[0-9][0-9]_*.ipynb
execute: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=600 \
		--ExecutePreprocessor.store_widget_state=False $(NOTEBOOKS)

# The whole book as one PDF (Chromium prints each built page, pypdf merges them): scripts/build_pdf.py.
SOLUTIONS ?= 1
pdf: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W --keep-going
	$(PY) scripts/build_pdf.py $(if $(filter 0 no false,$(SOLUTIONS)),--no-solutions,--solutions)

# Builds the PDF with and without solutions and checks it; renders of its first pages: _build/pdf/pages/.
test-pdf: test-book
	$(PY) -m pytest tests/browser/test_pdf.py -q

test-gpu: $(STAMP)
	@$(PY) -c "import torch, sys; torch.cuda.is_available() or sys.exit('make test-gpu needs a CUDA device, and PyTorch sees none here')"
	MHA_DEVICE=cuda $(PY) -m pytest $(NBVAL) notebooks -q

bench: $(STAMP)
	$(PY) -m benchmarks.bench_attention

clean:
	rm -rf _build
