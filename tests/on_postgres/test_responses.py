"""tests/api/test_responses.py, with the server on PostgreSQL (see conftest.py)."""

from tests.api.test_responses import *  # noqa: F403
from tests.postgres import needs_postgres

pytestmark = needs_postgres
