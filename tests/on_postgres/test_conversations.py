"""tests/api/test_conversations.py, with the server on PostgreSQL (see conftest.py)."""

from tests.api.test_conversations import *  # noqa: F403
from tests.postgres import needs_postgres

pytestmark = needs_postgres
