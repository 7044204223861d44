"""Vendor the API docs' browser bundles into ``app/interfaces/http/docs_assets`` (``just docs-ui``).

For each bundle pinned in ``app.interfaces.http.docs_ui.BUNDLES``: ``npm pack`` fetches the
package tarball from the registry, its SHA-512 must equal the pinned ``integrity`` (npm's
own hash of the tarball), and the listed files are written, unchanged, to the bundle's
versioned folder. ``MANIFEST.json`` records each file's SHA-256; a test checks the committed
files against it, so a hand edit or a half-finished update cannot go unnoticed. To update a
bundle, change its version and integrity (``npm view PACKAGE@VERSION dist.integrity``) and
run this again. The service never fetches anything at run time.

``python -m tools.docs_ui``
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from app.interfaces.http.docs_ui import ASSETS_DIR, BUNDLES, Bundle

MANIFEST = ASSETS_DIR / "MANIFEST.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(bundle: Bundle, workdir: Path) -> dict[str, bytes]:
    """The bundle's listed files from its npm tarball, after checking the tarball's integrity."""
    spec = f"{bundle.package}@{bundle.version}"
    subprocess.run(  # noqa: S603 - a fixed command; the spec comes from the pins above
        ["npm", "pack", "--silent", "--pack-destination", str(workdir), spec],  # noqa: S607 - npm from PATH
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (tarball,) = workdir.glob("*.tgz")
    data = tarball.read_bytes()
    tarball.unlink()
    algorithm, _, expected = bundle.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{spec}: the tarball's {algorithm} is {actual}, not the pinned {expected}")
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for path in bundle.files:
            member = archive.extractfile(f"package/{path}")
            if member is None:
                raise SystemExit(f"{spec}: no file {path}")
            files[Path(path).name] = member.read()
    return files


def main() -> None:
    manifest: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for bundle in BUNDLES:
            files = fetch(bundle, Path(workdir))
            folder = ASSETS_DIR / bundle.folder
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for name, content in files.items():
                (folder / name).write_bytes(content)
            manifest[bundle.folder] = {
                "package": bundle.package,
                "version": bundle.version,
                "integrity": bundle.integrity,
                "files": {name: sha256(content) for name, content in sorted(files.items())},
            }
            print(f"{bundle.package}@{bundle.version}: {len(files)} files in {folder.relative_to(Path.cwd())}")
    for stale in ASSETS_DIR.iterdir():
        if stale.is_dir() and stale.name not in manifest:
            shutil.rmtree(stale)
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
