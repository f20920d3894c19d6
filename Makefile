# The README's two commands: `make demo` runs a real experiment on the
# bundled storefront; `make test` runs the whole test suite.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
OUT ?= out

.PHONY: build demo test clean

build:
	go build -o bin/faultline ./cmd/faultline

# The GameDay on the demo shop: freeze catalogue with resilience off (the
# experiment finds the weakness: exit 1), then with resilience on (it holds),
# and compare the two runs. Journals and reports go to $(OUT)/; the shop is
# stopped whatever happens. Succeeds when both verdicts are the predicted ones.
EXPERIMENT ?= examples/shop/experiments/pause-catalogue.yaml
demo: build
	@mkdir -p $(OUT); status=0; \
	for profile in off on; do \
	  bin/faultline demo shop up --resilience $$profile || { bin/faultline demo shop down; exit 1; }; \
	  bin/faultline run $(EXPERIMENT) --journal $(OUT)/$$profile.json --report $(OUT)/report-$$profile.html; \
	  code=$$?; bin/faultline demo shop down; \
	  echo "resilience $$profile: exit $$code"; \
	  if [ $$profile = off ] && [ $$code != 1 ]; then status=1; fi; \
	  if [ $$profile = on ] && [ $$code != 0 ]; then status=1; fi; \
	done; \
	bin/faultline report --compare $(OUT)/off.json $(OUT)/on.json -o $(OUT)/report.html || status=1; \
	echo "open $(OUT)/report.html (before/after), $(OUT)/report-off.html and $(OUT)/report-on.html"; \
	exit $$status

test:
	scripts/test.sh

clean:
	rm -rf bin $(OUT)
