"""examples/quickstart.ipynb runs top to bottom (nbclient, a real kernel) on the small sample."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from cohcube.pipeline.sample import SampleCatalog

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_runs(small_sample: SampleCatalog, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1, "the notebook needs one cell tagged 'parameters'"
    # Like papermill: values for this run follow the defaults in the parameters cell.
    parameters[0].source += f"\nCATALOG = {str(small_sample.items)!r}\nBBOX = None\n"
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "scenes" in text
    assert "of pixels changed" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "map, time series and change plots"
    reprs = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "dask.array" in reprs, "the cube and the coherence are shown as lazy xarray objects"
    # Plots end with plt.show(): no stray Text(...) / <Figure ...> / artist-list reprs.
    plain = [
        o.get("data", {}).get("text/plain", "")
        for o in outputs
        if o.get("output_type") == "execute_result"
    ]
    stray = [p for p in plain if p.startswith(("Text(", "<Figure", "[<matplotlib", "<matplotlib"))]
    assert not stray, stray
