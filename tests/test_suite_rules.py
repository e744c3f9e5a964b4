"""How the test suite is built (issue 15): test modules share helpers through tests/helpers.py, factories.py and
the conftest fixtures, never by importing a conftest or another test module; a checkout without the shared
datasets skips the tests that need them, with the reason, instead of failing collection."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from helpers import PROJECT

TESTS = PROJECT / "tests"


def _imported_modules(path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Attribute) and node.attr == "spec_from_file_location":
            names.append("<spec_from_file_location>")
    return names


def test_no_test_module_imports_a_conftest_or_another_test_module():
    offenders = {}
    for path in TESTS.rglob("*.py"):
        bad = [
            m
            for m in _imported_modules(path)
            if m.split(".")[-1] == "conftest" or m.split(".")[-1].startswith("test_") or m.startswith("<")
        ]
        if bad:
            offenders[str(path.relative_to(PROJECT))] = bad
    assert offenders == {}


def test_without_the_shared_datasets_a_module_that_needs_them_is_skipped_with_the_reason(tmp_path):
    env = {**os.environ, "CROPWATCH_SHARED_DATASETS_DIR": str(tmp_path / "nowhere")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/api/test_review.py",
            "tests/test_suite_rules.py::test_no_test_module_imports_a_conftest_or_another_test_module",
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert "1 passed, 1 skipped" in out.stdout and "needs the shared datasets" in out.stdout, out.stdout[-2000:]
