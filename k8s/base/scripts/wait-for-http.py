"""Wait until a URL answers 200, printing progress; exit 1 after a deadline.

Usage: python wait-for-http.py URL [TIMEOUT_SECONDS]
Run by the Locust pods' init container so no load starts before the service is ready.
"""

import sys
import time
import urllib.error
import urllib.request


def ready(url: str) -> bool:
    """True when ``url`` answers 200 within five seconds."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    """Poll the URL every five seconds until it is ready or the timeout has passed."""
    url = sys.argv[1]
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 900.0
    start = time.monotonic()
    while not ready(url):
        waited = time.monotonic() - start
        if waited > timeout:
            print(f"wait-for-http: {url} not ready after {waited:.0f}s", flush=True)
            return 1
        print(f"wait-for-http: waiting for {url} ({waited:.0f}s)", flush=True)
        time.sleep(5)
    print(f"wait-for-http: {url} is ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
