"""The committed gRPC modules are exactly what ``just proto`` makes of the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.protogen import PACKAGE_DIR, ROOT


def _modules(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.iterdir()) if path.is_file()}


def test_committed_modules_match_the_proto_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.protogen", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    generated, committed = _modules(tmp_path), _modules(PACKAGE_DIR)
    assert sorted(generated) == sorted(committed), "run `just proto` and commit the result"
    stale = [name for name in generated if generated[name] != committed[name]]
    assert not stale, f"{', '.join(stale)} differ from the .proto files: run `just proto` and commit the result"
