# glance-cobrowse: build, demo and test entry points.
#   make build   tools + dist/cobrowse (wasm engine, glue, loader) + target/release/cobrowse-server
#   make demo    build, then serve the demo on http://127.0.0.1:8080/
#   make test    every test layer (fmt, clippy, native, wasm-in-browser, loader, e2e)
#   make e2e     only the end-to-end layer (builds first)
#   make bench   snapshot measurement in headless Chromium
#   make package self-hosting package: dist/package/glance-cobrowse-<version>/ + .tar.gz
#   make clean   remove build output (keeps .tools)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

LISTEN ?= 127.0.0.1:8080
CONFIG ?= server/demo-config.toml

export CHROMEDRIVER ?= /usr/bin/chromedriver
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: build tools browser wasm server demo test e2e bench package clean

tools:
	scripts/ensure-tools.sh

browser:
	scripts/ensure-browser.sh

wasm: tools
	scripts/build-wasm.sh

server:
	cargo build --release -p cobrowse-server

build: tools
	scripts/build-wasm.sh
	cargo build --release -p cobrowse-server

demo: build
	@echo
	@echo "  visitor demo:  http://$(LISTEN)/demo/"
	@echo "  agent join:    http://$(LISTEN)/agentjoin/AgentView.aspx?SessionKey=<key shown on the visitor page>&wait=1"
	@echo "  agent landing: http://$(LISTEN)/agent/   (sign in as demo / demo)"
	@echo "  custom UI:     http://$(LISTEN)/demo/custom-ui.html"
	@echo "  presence:      http://$(LISTEN)/demo/presence.html  +  agent console http://$(LISTEN)/agent/presence.html"
	@echo
	target/release/cobrowse-server --listen $(LISTEN) --config $(CONFIG)

test: tools browser build
	scripts/test.sh

e2e: tools browser build
	scripts/test.sh e2e

bench: tools browser build
	( cd tests/e2e && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error; } )
	( cd bench && npm ci --no-audit --no-fund --loglevel=error )
	node bench/run.mjs

package: tools
	scripts/build-wasm.sh
	scripts/package.sh

clean:
	cargo clean
	rm -rf dist tests/e2e/artifacts
