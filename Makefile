# The README's two commands: `make demo` runs a real experiment on the
# bundled storefront; `make test` runs the whole test suite.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
OUT ?= out

.PHONY: build demo test clean

build:
	go build -o bin/faultline ./cmd/faultline

# Start the demo storefront, run the experiment, write the journal and the
# report, stop the storefront — whatever the verdict.
demo: build
	bin/faultline demo up
	status=0; \
	bin/faultline run examples/storefront/backend-pause.yaml --journal $(OUT)/journal.json --report $(OUT)/report.html || status=$$?; \
	bin/faultline report $(OUT)/journal.json -o $(OUT)/report.md; \
	bin/faultline demo down; \
	echo "verdict exit code $$status; open $(OUT)/report.html"; \
	exit $$status

test:
	scripts/test.sh

clean:
	rm -rf bin $(OUT)
