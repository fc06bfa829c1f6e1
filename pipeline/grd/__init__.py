"""Level-1 GRD scenes in: product XMLs, calibration and thermal-noise removal, GCP geocoding.

- ``product_xml``: the annotation, calibration, noise and manifest documents
  of a Sentinel-1 GRD product, parsed into arrays (every schema since IPF 2.36);
- ``radiometry``: the LUTs interpolated onto (line, pixel), DN -> sigma0;
- ``geocoding``: radar (line, pixel) of map coordinates from the product's GCPs;
- ``assets``: which asset of a STAC item holds what, in each catalog's naming;
- ``scene``: one scene and polarisation read window by window onto a map chunk;
- ``cube``: the lazy ``(time, band, y, x)`` sigma0 cube on a map grid.
"""
