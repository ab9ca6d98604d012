"""Write the git-ignored Secret env files of k8s/secrets from their examples, once.

Every ``change-me`` of ``NAME.example.env`` becomes a fresh random password in ``NAME.env``.
An existing ``NAME.env`` is never touched, so running this again keeps the cluster's passwords.

Usage: python k8s/secrets/generate.py [DIRECTORY]
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

PLACEHOLDER = "change-me"
EXAMPLE_SUFFIX = ".example.env"


def fill(example: str) -> str:
    """The example text with each placeholder replaced by its own random password."""
    parts = example.split(PLACEHOLDER)
    filled = [parts[0]]
    for part in parts[1:]:
        filled.extend([secrets.token_urlsafe(24), part])
    return "".join(filled)


def generate(directory: Path) -> list[Path]:
    """Create each missing ``NAME.env`` next to its example; return the files created."""
    created = []
    for example in sorted(directory.glob("*" + EXAMPLE_SUFFIX)):
        target = example.with_name(example.name.removesuffix(EXAMPLE_SUFFIX) + ".env")
        if target.exists():
            print(f"k8s-secrets: {target} exists, kept")
            continue
        target.touch(mode=0o600)
        target.write_text(fill(example.read_text()))
        created.append(target)
        print(f"k8s-secrets: wrote {target} with random passwords")
    return created


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
