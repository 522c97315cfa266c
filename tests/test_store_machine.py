"""FolderMachineTest pointed at the store: the toolkit's rule-based test on a real service.

The adapter sends each action to a :class:`~statuses.store.Store` on SQLite
(and another to an :class:`~statuses.store.AsyncStore`, awaited on one event
loop) and answers with the folder it loads back, as the API's JSON; the test's
reference folder in memory decides what must be refused and what the stored
folder must look like after every step.
"""

from __future__ import annotations

import asyncio
import atexit
import tempfile
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

from hypothesis import settings

from statuses.payloads import dump_folder
from statuses.store import AsyncStore, Store
from statuses.testing import Action, CreateFolder, Fail, Finish, FolderMachineTest, Submit

_SCRATCH = tempfile.TemporaryDirectory(prefix="statuses-store-machine-")
STORE = Store(f"sqlite:///{Path(_SCRATCH.name, 'statuses.db')}")
"""One store for every example: each makes a folder of its own in it."""


class StoreMachine(FolderMachineTest):
    folder_id = ""

    def perform(self, action: Action) -> Mapping[str, Any]:
        if isinstance(action, CreateFolder):
            self.folder_id = STORE.create_folder(settings=action.settings)
        elif isinstance(action, Submit):
            STORE.submit(self.folder_id, action.types)
        elif isinstance(action, Finish):
            STORE.finish(action.analysis_id, action.verdict)
        elif isinstance(action, Fail):
            STORE.fail(action.analysis_id, reason=action.reason)
        return dump_folder(STORE.load(self.folder_id))


TestTheStoreKeepsTheRules = StoreMachine.TestCase
TestTheStoreKeepsTheRules.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)

_LOOP = asyncio.new_event_loop()
ASYNC_STORE = AsyncStore(f"sqlite:///{Path(_SCRATCH.name, 'async.db')}")
"""Its connections belong to ``_LOOP``, on which every action is awaited."""


@atexit.register
def _close_the_async_store() -> None:
    _LOOP.run_until_complete(ASYNC_STORE.close())
    _LOOP.close()


def awaited(step: Awaitable[Any]) -> Any:
    return _LOOP.run_until_complete(step)


class AsyncStoreMachine(FolderMachineTest):
    folder_id = ""

    def perform(self, action: Action) -> Mapping[str, Any]:
        if isinstance(action, CreateFolder):
            self.folder_id = awaited(ASYNC_STORE.create_folder(settings=action.settings))
        elif isinstance(action, Submit):
            awaited(ASYNC_STORE.submit(self.folder_id, action.types))
        elif isinstance(action, Finish):
            awaited(ASYNC_STORE.finish(action.analysis_id, action.verdict))
        elif isinstance(action, Fail):
            awaited(ASYNC_STORE.fail(action.analysis_id, reason=action.reason))
        return dump_folder(awaited(ASYNC_STORE.load(self.folder_id)))


TestTheAsyncStoreKeepsTheRules = AsyncStoreMachine.TestCase
TestTheAsyncStoreKeepsTheRules.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
