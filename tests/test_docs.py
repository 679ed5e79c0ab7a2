"""The README's troubleshooting table covers every message the connector can print: each error it raises, each
warning it logs, each configuration problem it names and each rule of the failure table finds a row whose quoted
phrase it contains. A new message without a row fails here, naming the message."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ERRORS = {"ConfigurationError", "SourceError", "MalformedValue", "StateError", "Gone", "Lacking"}
# Functions whose returned text becomes part of a message (the connection probe's findings).
MESSAGE_RETURNS = {"_ask", "_silent", "_no_http", "_certificate"}


def static_text(node: ast.AST) -> str:
    """A message as written, with `…` where a value goes in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.sub(r"\{\w+\}", "…", node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return static_text(node.left) + static_text(node.right)
    if isinstance(node, ast.IfExp):
        return static_text(node.body) + " | " + static_text(node.orelse)
    return "…"


def messages() -> Iterator[tuple[str, str]]:
    """(where, text) of every message the package writes."""
    for path in sorted((ROOT / "wandb_connector").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in MESSAGE_RETURNS]:
            for node in ast.walk(function):
                if isinstance(node, ast.Return) and node.value is not None and static_text(node.value) != "…":
                    yield f"{path.name}:{node.lineno}", static_text(node.value)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if name in ERRORS or (owner, name) in {("log", "warning"), ("log", "info"), ("reading", "problem")}:
                yield f"{path.name}:{node.lineno}", static_text(node.args[0])
            elif name == "Reading" and isinstance(node.args[0], ast.ListComp):  # problems found at once
                yield f"{path.name}:{node.lineno}", static_text(node.args[0].elt)
            elif name == "Rule" and len(node.args) >= 4:
                yield f"{path.name}:{node.lineno}", static_text(node.args[3])


def phrases() -> list[list[str]]:
    """The quoted phrases of the troubleshooting table's first column, each split at `…` into parts."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    quoted = []
    for row in (line for line in section.splitlines() if line.startswith("| `")):
        cell = row.split(" | ")[0]
        quoted += [" … ".join(re.findall(r"`([^`]+)`", part)) for part in cell.split(" · ")]
    return [[p.strip() for p in phrase.split("…") if p.strip()] for phrase in quoted if phrase]


# Messages a user never sees: progress and summary lines, and a programming error in a marked document.
ROUTINE = re.compile(r"^(…: …|…, so far: …|synced entity|reconciled entity|syncing W&B entity|no field of|@…)")


@pytest.mark.parametrize(("where", "text"), sorted(set(messages())))
def test_every_message_has_a_troubleshooting_row(where, text):
    if ROUTINE.match(text.strip(" '\"")):
        pytest.skip("a routine line, not a problem")
    if not re.search(r"[a-z]{3}", text):
        pytest.skip("composed elsewhere (a variable holding a message checked where it is written)")
    flat = " ".join(text.split())
    assert any(all(part in flat for part in parts) for parts in phrases()), f"{where}: no README row for {flat!r}"


def test_the_phrases_are_the_connectors_or_the_sdks_words():
    """A row quotes words a message really says (or the SDK's, DuckDB's): no phrase matches nothing."""
    texts = [" ".join(text.split()) for _, text in messages()]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    foreign = {row.split(" | ")[0] for row in section.splitlines() if "(the SDK" in row or "(DuckDB)" in row}
    for parts in phrases():
        if any(all(part in row for part in parts) for row in foreign):
            continue
        assert any(all(part in text for part in parts) for text in texts), f"no message says {parts}"
