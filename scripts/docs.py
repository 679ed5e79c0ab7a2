"""The README's table of settings and docs/tables.md's table of costs, rendered from the registry (every option's
`doc`, every table module's `COST`), so a table module is the one place they are written. `python -m scripts.docs`
rewrites both between their markers; tests/test_registry.py fails when a file differs from what this renders.
"""

from __future__ import annotations

import re
import sys

from devkit.fivetran_cli import ROOT
from wandb_connector.registry import MODULES, OPTIONS

SETTINGS = (ROOT / "README.md", "settings")
COSTS = (ROOT / "docs" / "tables.md", "costs")


def settings_table() -> str:
    rows = [f"| `{o.key}` | {'yes' if o.required else 'no'} | {o.doc or o.help} |" for o in _form_order()]
    return "\n".join(["| key | required | what to enter |", "| --- | --- | --- |", *rows])


def _form_order() -> list:
    return sorted(OPTIONS, key=lambda option: not option.required)


def costs_table() -> str:
    rows = [f"| `{m.TABLE.name}` | {m.COST.requests} | {m.COST.rows} | {m.COST.reconcile} |" for m in MODULES]
    header = "| table | no-change requests | rows a sync emits | a reconcile |"
    return "\n".join([header, "| --- | --- | --- | --- |", *rows])


def section(text: str, marker: str) -> str:
    """What stands between `<!-- marker -->` and `<!-- /marker -->` in `text`."""
    found = re.search(rf"<!-- {marker} -->\n(.*?)\n<!-- /{marker} -->", text, re.DOTALL)
    if found is None:
        raise SystemExit(f"no <!-- {marker} --> ... <!-- /{marker} --> in the file")
    return found.group(1)


def rewrite(text: str, marker: str, rendered: str) -> str:
    section(text, marker)
    return re.sub(
        rf"(<!-- {marker} -->\n).*?(\n<!-- /{marker} -->)",
        lambda m: m.group(1) + rendered + m.group(2),
        text,
        flags=re.DOTALL,
    )


def main() -> int:
    for (path, marker), rendered in ((SETTINGS, settings_table()), (COSTS, costs_table())):
        path.write_text(rewrite(path.read_text(), marker, rendered))
        print(f"{path.relative_to(ROOT)}: the {marker} table rewritten from the registry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
