# brainstem — the two commands of the README, and their helpers.
SHELL := /bin/bash
ENV := . scripts/env.sh
TEST_PATHS := $(wildcard tests ab_interfaces/test node_kit/test ab_bridge/test embedded_brain/test detector_node/test pilot_hw/test rl_agents/test robot_bringup/test)

.PHONY: setup run test lint bench clean

setup:
	@scripts/setup.sh

## The main job: the embedded demo (Ctrl-C stops it; ARGS="--duration 60" etc.).
run: setup
	@$(ENV) && python -m robot_bringup.demo $(ARGS)

## Every test, lint included.
test: setup
	@$(ENV) && python -m pytest $(TEST_PATHS) $(PYTEST_ARGS)

lint: setup
	@$(ENV) && ruff check .

## Every benchmark, one after the other.
bench: setup
	@$(ENV) && for b in bench/*.py; do echo "== $$b"; python "$$b" || exit 1; done

clean:
	rm -rf build install log
