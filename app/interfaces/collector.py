"""The cyclic garbage collector, paused while a server process builds itself.

Importing the framework, the ORM and the service and building the app make some 140,000
objects that live as long as the process (and leave some 90,000 more in cycles); while
they are made, the collector runs hundreds of times and walks them again each time: about
a fifth of a second of CPU per API worker, every start. A launcher that knows the process is about to build its app
(``app.interfaces.http.serve``) pauses it first; the process resumes it once it serves
(``app.interfaces.lifecycle``), freezing what was built so that no later collection walks
it again. With several workers the launcher, which imports the app before forking them,
resumes it itself just before the fork, so the workers start with the imports frozen.
The cycles the imports left behind are frozen with the rest and never freed: a
full collection first would find them, but costs more than a tenth of a second just before
the process serves, and gave no memory back to the system when measured (see
docs/benchmarks.md, "Start-up"). A process that never paused it (the tests, the CLI, gRPC,
the consumer) is left as it was.
"""

from __future__ import annotations

import gc


def pause_collector() -> None:
    """Stop cyclic collections until :func:`resume_collector`; reference counting frees the rest."""
    gc.disable()


def resume_collector() -> None:
    """End a pause: what exists now is frozen (never collected again), then collections resume.

    Nothing happens if the collector was not paused, so a process that built its app with
    collections running keeps its objects collectable.
    """
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()
