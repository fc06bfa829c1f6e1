"""Learning coherence from detected pairs: the network, its training and its artefact.

``config`` (training configuration), ``network`` (the ResUNet),
``preprocessing`` (the input contract and the one input scaling),
``training_data``, ``training``, ``checkpoints``, ``evaluation``,
``halo`` (measuring seam-free tiling), ``export``, ``card`` (the typed model
card, no torch) and ``artefact`` (``load_model``: what the pipeline runs).
``slc_reader`` turns real coregistered SLC pairs into detected training pairs.
"""
