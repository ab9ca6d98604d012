"""The README stays true: its settings table and its two commands."""

import re
import subprocess
from pathlib import Path

from settings import markdown_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_settings_table_matches_the_settings_object() -> None:
    assert markdown_table() in README, "regenerate with: python settings.py --markdown"


def test_the_two_commands_are_make_targets() -> None:
    commands = re.findall(r"\| `(make \w+)` \|", README)
    assert commands[:2] == ["make serve", "make test"]
    for command in commands:
        target = command.split()[1]
        dry_run = subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert dry_run.returncode == 0, dry_run.stderr


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
