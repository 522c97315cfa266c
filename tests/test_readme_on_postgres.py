"""README's "Using it in a service" examples, run again on PostgreSQL.

The suite runs every README example as written, on SQLite (pytest's
``--doctest-glob``).  Here the section's examples run once more as one
session, each store's ``sqlite:///`` URL replaced by a PostgreSQL schema of
its own, so that what the README promises of PostgreSQL is shown there too.
"""

from __future__ import annotations

import doctest
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from statuses.store import schema
from tests.test_store import NO_POSTGRES, POSTGRES_URL

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = ("## Using it in a service", "## Testing your service")
SQLITE_URL = re.compile(r'f"sqlite:///\{[^}"]*\}"')
"""How the section's examples give a store its URL: an f-string naming a file in a temporary folder."""


def section_examples() -> str:
    """The section's ``pycon`` blocks, in order, as one doctest text."""
    text = README.read_text(encoding="utf-8")
    start, end = text.index(SECTION[0]), text.index(SECTION[1])
    blocks = re.findall(r"```pycon\n(.*?)```", text[start:end], flags=re.DOTALL)
    assert blocks, f"README's {SECTION[0]!r} has no pycon example"
    return "\n".join(blocks)


FIRST_PAGE = "store.changes(after=None, limit=100)"
"""The outbox example's first read: on PostgreSQL it waits for every committed entry (see :func:`released_changes`)."""


def on_postgres(examples: str) -> tuple[str, int]:
    """``examples`` with every store URL replaced by a call for a new PostgreSQL schema; how many were replaced."""
    assert examples.count(FIRST_PAGE) == 1, f"README's outbox example no longer reads {FIRST_PAGE}"
    return SQLITE_URL.subn("postgres_url()", examples.replace(FIRST_PAGE, "released_changes(store, after=None, "
                                                                          "limit=100)"))


def released_changes(store: Any, seconds: float = 60.0, **arguments: Any) -> Any:
    """``store.changes(...)`` read again until it holds every entry committed so far.

    On PostgreSQL an entry is held back while any transaction of the server
    that has written is still open (``Store.changes``), another test run's
    included: a publisher polls, and so does this.
    """
    deadline = time.monotonic() + seconds
    page = store.changes(**arguments)
    with store.engine.connect() as connection:
        committed = connection.execute(sa.select(sa.func.count()).select_from(schema.transitions)).scalar()
    while len(page) < committed and time.monotonic() < deadline:
        time.sleep(0.05)
        page = store.changes(**arguments)
    return page


@pytest.fixture
def schemas() -> Iterator[list[str]]:
    """Makes PostgreSQL schemas on demand (a URL each); drops them all afterwards."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    made: list[str] = []
    yield made
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for name in made:
                connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                           "WHERE application_name = :name"), {"name": name})
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        admin.dispose()


def test_the_url_rewrite_finds_each_store_of_the_section() -> None:
    examples = section_examples()
    rewritten, count = on_postgres(examples)
    assert count == examples.count('Store(f"sqlite:///'), "a store of the section is opened another way"
    assert count >= 4 and "sqlite:///" not in rewritten


def test_the_service_examples_pass_on_postgresql(schemas: list[str]) -> None:
    assert POSTGRES_URL is not None

    def postgres_url() -> str:
        name = f"statuses_readme_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        admin.dispose()
        schemas.append(name)
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={name}",
                                                           "application_name": name})
        return url.render_as_string(hide_password=False)

    rewritten, _ = on_postgres(section_examples())
    test = doctest.DocTestParser().get_doctest(rewritten, {"postgres_url": postgres_url,
                                                           "released_changes": released_changes},
                                               "README on PostgreSQL", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    assert len(schemas) >= 4
