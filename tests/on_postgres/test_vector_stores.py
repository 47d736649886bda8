"""tests/api/test_vector_stores.py, with the server on PostgreSQL (see conftest.py): the SQL
dot-product vector ranking and the `tsvector` keyword ranking."""

from tests.api.test_vector_stores import *  # noqa: F403
from tests.postgres import needs_postgres

pytestmark = needs_postgres
