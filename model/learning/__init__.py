"""Learning coherence from detected pairs: the network, its training and its artefact.

``config`` (training configuration), ``network`` (the ResUNet),
``preprocessing`` (the input contract and the one input scaling),
``training_data``, ``training``, ``checkpoints``, ``evaluation``,
``halo`` (measuring seam-free tiling), ``export``, ``card`` (the typed model
card, no torch) and ``artefact`` (``load_model``: what the pipeline runs).
Real SLC data: ``data_sources`` (the ``data.sources``/``data.split`` config),
``slc_files``, ``slc_reader`` (GDAL rasters) and ``opera_cslc`` (OPERA HDF5)
read stacks strip by strip, ``slc_extraction`` detects them like the
simulator, ``slc_patches`` pairs, caches and splits them, ``training_sets``
mixes every source, ``fine_tuning`` starts from an artefact (``--init``) and
``pair_evaluation`` scores artefacts on held-out real pairs.
"""
