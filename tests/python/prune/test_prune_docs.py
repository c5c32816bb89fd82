"""The examples in docs/pruning.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "pruning.md"


def test_docs_examples_run():
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 10
    namespace: dict[str, object] = {"__name__": "pruning_docs"}
    exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)  # our own docs
    assert "smaller" in namespace and "report" in namespace
