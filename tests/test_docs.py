"""The documentation cannot drift: every Python example runs, every experiment YAML is valid, every link resolves.

Each page's Python blocks run in order in one namespace (as a reader would
paste them), in an empty folder; README's links are checked here because the
site build (``make docs``, strict) sees only ``docs/``.
"""

import re
from pathlib import Path

import pytest
import yaml

from kerascnn import config

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(page.read_text()) if lang == language]


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p, "python")], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_example_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # keras-tuner's project folders and any file an example writes land here
    namespace: dict = {"__name__": "__docs__"}
    for i, code in enumerate(_blocks(page, "python")):
        exec(compile(code, f"{page.name}[python block {i + 1}]", "exec"), namespace)


def test_every_experiment_yaml_in_the_docs_is_valid():
    checked = 0
    for page in PAGES:
        for body in _blocks(page, "yaml"):
            raw = yaml.safe_load(body)
            if isinstance(raw, dict) and {"data", "model", "search", "train"} & set(raw):
                config.resolve(raw)  # raises ConfigError naming the key
                checked += 1
    assert checked >= 2  # README's example and the key reference


def test_every_relative_link_resolves():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+:", target):
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to a missing {target}"
