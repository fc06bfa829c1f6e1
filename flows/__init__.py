"""cohcube.flows: the jobs people run (the ``cohcube`` CLI and scheduled flows)."""
