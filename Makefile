# Two commands for a newcomer:  make run  (execute the notebook course)  and  make test  (the whole test suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# OpenMP threads wait passively: much faster when other programs share the cores (see ehfusion/__init__.py).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: run answers course test bench browser-deps data clean-outputs help

help:
	@echo "make run           create .venv, install, execute the notebook course (student version) into outputs/"
	@echo "make answers       execute the with-answers version of the course into outputs/answers/"
	@echo "make course        write the student and with-answers notebooks to outputs/course/"
	@echo "make test          create/update .venv, run the whole test suite"
	@echo "make bench         run the benchmarks and write benchmarks/results.md"
	@echo "make browser-deps  install Debian's chromium for the end-to-end browser test (needs root or sudo)"
	@echo "make data          rebuild the embedded dataset from the DeepMimic clips (needs the pybullet extra)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,video]'
	$(BIN)/python -m pip install --quiet --no-deps mediapipe==0.10.21  # BlazePose for ehfusion.video (see pyproject.toml)
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m ehfusion.course run

answers: $(STAMP)
	$(BIN)/python -m ehfusion.course run --answers

course: $(STAMP)
	$(BIN)/python -m ehfusion.course build

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

data: $(STAMP)
	$(BIN)/python -m ehfusion.data.embedded --out data

browser-deps:
	@if [ -x /usr/bin/chromium ]; then echo "chromium is already installed"; \
	else SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	     $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; fi

clean-outputs:
	rm -rf outputs
