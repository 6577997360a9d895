"""The view store's memory housekeeping: loaded data frozen out of full collections, cycles still freed."""

from __future__ import annotations

import gc
import weakref

from tests.web.lakedata import write_snapshot
from weatherlake.web import store as store_module


class Node:
    """An object in a reference cycle: only the cycle collector can free it."""


def test_reloads_freeze_the_loaded_data_yet_cyclic_garbage_is_freed_every_few_reloads(app, lake, monkeypatch):
    monkeypatch.setattr(store_module, "FULL_COLLECTION_EVERY", 4)
    monkeypatch.setattr(store_module, "_refreshes_since_full", 0)
    the_store = app.extensions["weatherlake"]["store"]
    frozen_before = gc.get_freeze_count()
    try:
        write_snapshot(lake, [], cutoff=None, generated_at="2026-11-21T06:00:00Z", sequence=1)
        the_store.refresh()
        assert gc.get_freeze_count() > frozen_before  # the loaded views are out of the full passes

        garbage = Node()
        garbage.self = garbage
        alive = weakref.ref(garbage)
        del garbage
        gc.freeze()  # as if an earlier reload had frozen it before it became garbage
        for sequence in range(2, 5):  # reloads 2 to 4; the 4th runs the full collection
            assert alive() is not None, f"freed before the full collection (reload {sequence - 1})"
            write_snapshot(lake, [], cutoff=None, generated_at=f"2026-11-21T06:00:0{sequence}Z", sequence=sequence)
            the_store.refresh()
        assert alive() is None, "the periodic full collection did not free a frozen cycle"
    finally:
        gc.unfreeze()
