# The web page (serving/web/) and its browser tests (tests/browser/): Debian's Chromium driven by
# Python Playwright through its executable path. Playwright's own browser download is never used.

CHROMIUM ?= /usr/bin/chromium
PLAYWRIGHT_VERSION := 1.65.2

.PHONY: browser test-browser screenshot

browser: install ## Install headless Chromium (Debian) and Python Playwright for tests/browser
	@if [ -x "$(CHROMIUM)" ]; then echo "chromium present: $$($(CHROMIUM) --version 2>/dev/null)"; \
	else echo "installing Debian's chromium (one-off, ~1-2 min)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium fonts-dejavu-core >/dev/null && echo "installed: $$($(CHROMIUM) --version)"; fi
	@if $(PY) -c "import playwright" 2>/dev/null; then echo "playwright present"; \
	else echo "installing playwright==$(PLAYWRIGHT_VERSION) into $(VENV)"; \
	  $(PY) -m pip install -q "playwright==$(PLAYWRIGHT_VERSION)"; fi

test-browser: model browser ## Run only the browser tests (screenshots in reports/screenshots/)
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

screenshot: model browser ## Refresh docs/screenshot.png (the README's) from a browser test run
	DIGITS_UPDATE_SCREENSHOT=1 $(PY) -m pytest tests/browser -k give_feedback $(PYTEST_ARGS)

TEST_PREREQS += browser
