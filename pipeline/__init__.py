"""cohcube.pipeline: STAC search, lazy cubes, pairing, chunked inference and Zarr stores."""
