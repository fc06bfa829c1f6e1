"""The embedded sample catalog: simulated Sentinel-1 scenes published as STAC + COGs, with truth.

What a new user runs first (``cohcube demo``) and what the tests stack,
infer and score, with no network: ``spec`` (what the sample holds),
``simulate`` (the simulated region), ``stac_documents`` and ``files`` (items
shaped like Planetary Computer's ``sentinel-1-rtc``, COGs), ``writer``
(``write_sample_catalog``), ``truth_writer`` (true coherence and change
events), ``cache`` (``default_sample_catalog``: generated once into the
user's cache), ``truth`` (reading the truth back) and ``change_scoring``
(scoring change detection against the simulated events).

Only the search (for ``search_scenes(None, ...)``) and the demo import it.
"""

from .cache import cache_root, default_sample_catalog, rebase_asset_hrefs
from .change_scoring import score_changes
from .spec import SampleCatalog, SampleSpec
from .truth import (
    ChangeTruth,
    read_change_truth,
    sample_spec,
    true_backscatter,
    truth_cube,
    truth_for_pairs,
)
from .writer import write_sample_catalog

__all__ = [
    "ChangeTruth",
    "SampleCatalog",
    "SampleSpec",
    "cache_root",
    "default_sample_catalog",
    "read_change_truth",
    "rebase_asset_hrefs",
    "sample_spec",
    "score_changes",
    "true_backscatter",
    "truth_cube",
    "truth_for_pairs",
    "write_sample_catalog",
]
