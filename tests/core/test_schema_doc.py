"""docs/schema.md is generated from the schema definition: it must not drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_schema_doc_is_up_to_date() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "schema_doc.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_schema_doc_names_every_table_and_column() -> None:
    from console.core import schema

    text = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    for t in schema.current().tables.values():
        assert f"### `{t.name}`" in text
        for c in t.columns:
            assert f"| `{c.name}` |" in text, (t.name, c.name)
