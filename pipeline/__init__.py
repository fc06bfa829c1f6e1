"""cohcube.pipeline: the data flow at scale, from STAC search to Zarr coherence cubes.

``search`` (STAC API or local catalog) -> ``cube`` (lazy stackstac cubes on one
grid, ``grid``, ``scene_items``) -> ``pairs`` -> ``inference`` (map_overlap with
a halo, the model loaded once per worker) -> ``store`` (the cube schema, the
Zarr commit protocol, lock, tile sets, STAC of cubes); ``changes`` (change
analytics), ``tiles`` (the fixed UTM tile grid), ``clusters`` (Dask),
``asset_policy``/``asset_reader`` (which assets may be read, with retries).
``sample`` is the embedded simulated catalog; only the search and the demo use it.
"""
