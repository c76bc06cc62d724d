"""dunning.bulk.gc_paused: the collector is paused, then resumes without walking what was built."""
from __future__ import annotations

import gc

from dunning.bulk import gc_paused


class Built:
    """A tracked object, as a plan's reminders and invoices are."""


def test_what_outlives_the_pause_goes_to_the_oldest_generation():
    gc.collect()    # every generation's count at zero: no pass is due but the young one
    with gc_paused():
        assert not gc.isenabled()
        built = [Built() for _ in range(2_000)]
    assert gc.isenabled()
    # Not walked on the way: resuming, a plain collector would pass over them in generation 0,
    # then keep them in generation 1 until ten such passes.
    oldest = {id(obj) for obj in gc.get_objects(generation=2)}
    assert all(id(obj) in oldest for obj in built)
    assert not gc.get_freeze_count(), "nothing stays frozen, so cyclic garbage is still collected"


def test_nested_pauses_resume_once_and_garbage_cycles_are_still_collected():
    with gc_paused():
        with gc_paused():
            pass
        assert not gc.isenabled(), "the inner pause must not resume the collector"
        cycle = Built()
        cycle.me = cycle
        del cycle
    assert gc.isenabled()
    assert gc.collect() >= 1
