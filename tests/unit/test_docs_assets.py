"""The vendored docs bundles are exactly the files ``just docs-ui`` wrote, at the pinned versions."""

from __future__ import annotations

import hashlib
import json

from app.interfaces.http.docs_ui import ASSETS_DIR, BUNDLES, SWAGGER_INIT

MANIFEST = json.loads((ASSETS_DIR / "MANIFEST.json").read_text())


def test_the_manifest_names_each_pinned_bundle_and_nothing_else() -> None:
    assert {folder: (entry["package"], entry["version"], entry["integrity"]) for folder, entry in MANIFEST.items()} == {
        bundle.folder: (bundle.package, bundle.version, bundle.integrity) for bundle in BUNDLES
    }


def test_every_vendored_file_is_unchanged() -> None:
    for bundle in BUNDLES:
        folder = ASSETS_DIR / bundle.folder
        expected = MANIFEST[bundle.folder]["files"]
        assert sorted(path.name for path in folder.iterdir()) == sorted(expected), bundle.folder
        for name, digest in expected.items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, f"{bundle.folder}/{name}"


def test_nothing_else_is_served_from_the_assets_folder() -> None:
    assert sorted(path.name for path in ASSETS_DIR.iterdir()) == sorted(
        [*(bundle.folder for bundle in BUNDLES), "MANIFEST.json", SWAGGER_INIT]
    )


def test_the_vendored_bundles_carry_their_licences() -> None:
    for bundle in BUNDLES:
        assert (ASSETS_DIR / bundle.folder / "LICENSE").is_file(), bundle.folder
