"""cohcube.flows: the jobs people run -- the ``cohcube`` CLI, the demo, regional and scheduled jobs.

``cli`` dispatches to ``job_verbs``, ``data_verbs``, ``model_verbs`` and
``config_verbs``; ``job_steps`` holds the steps ``process`` and ``demo`` share.
"""
