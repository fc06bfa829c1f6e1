"""The sample catalog in the user's cache: generated on first use, complete or absent."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .files import write_json
from .spec import SampleCatalog, SampleSpec
from .writer import write_sample_catalog


def cache_root() -> Path:
    """``$COHCUBE_CACHE_DIR`` or ``~/.cache/cohcube``."""
    configured = os.environ.get("COHCUBE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "cohcube"


def default_sample_catalog(spec: SampleSpec | None = None, cache_dir: Path | None = None) -> Path:
    """Items file of the sample catalog, generated into the cache on first use.

    Generation happens in a temporary folder renamed into place when complete,
    so an interrupted run never leaves a half-written sample that looks usable.
    """
    spec = spec or SampleSpec()
    root = (cache_dir or cache_root()) / f"sample-{spec.key()}"
    catalog = SampleCatalog(root, spec.source)
    if catalog.manifest.exists():
        return catalog.items
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sample-", dir=root.parent))
    try:
        write_sample_catalog(staging, spec)
        for items in staging.rglob("items.json"):
            rebase_asset_hrefs(items, str(staging.resolve()), str(root.resolve()))
        try:
            staging.rename(root)
        except OSError:
            if not catalog.manifest.exists():  # not a concurrent winner: a real failure
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return catalog.items


def rebase_asset_hrefs(
    items_file: Path, old_prefix: str, new_prefix: str, out_file: Path | None = None
) -> Path:
    """Rewrite asset hrefs starting with ``old_prefix`` to start with ``new_prefix``.

    E.g. publish a sample catalog over HTTP: ``rebase_asset_hrefs(items, root,
    "https://host/sample", out)``. Writes ``out_file`` (default: in place).
    """
    document = json.loads(items_file.read_text())
    for feature in document.get("features", [document]):
        for asset in feature.get("assets", {}).values():
            href = asset.get("href", "")
            if href.startswith(old_prefix):
                asset["href"] = new_prefix + href[len(old_prefix) :]
    target = out_file or items_file
    write_json(target, document)
    return target
