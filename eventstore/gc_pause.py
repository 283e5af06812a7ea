"""No cyclic garbage collection inside one bulk step (reading a statement file, matching its lines, a projection
batch read or applied), and what the step made and kept counted as old afterwards.

A million statement lines are millions of small acyclic objects, several of them tracked by the collector
(tuples, lists). Collecting while they are made costs more than making them (a million CSV lines: ~1 s of ~2.5),
hence the pause. But the objects made in the pause are all in the youngest generation when it ends, and the next
young collection, at the next allocation, would scan every one of them (~0.2-0.3 s for a million lines read):
they are kept (the step's result), so they are moved straight into the oldest generation instead
(``gc.freeze()`` then ``gc.unfreeze()``: two list splices, no scan). Full collections still see them. Skipped when
the process keeps objects frozen itself (a pre-fork server's ``gc.freeze()``): unfreezing would release those.

A projection batch of 20,000 events is kept through its apply the same way: a rebuild of 1M events took 15.3-15.5 s
with the young collections after each pause, 13.6-13.8 s without.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()  # every tracked object now in the oldest generation
        if enabled:
            gc.enable()
