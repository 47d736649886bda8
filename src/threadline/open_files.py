"""The process's open-file limit, and the connections that fit in it.

Every client connection is a file descriptor, and so is every connection to a provider; a
stream holds one of each. A process that runs out of descriptors cannot open the files its
database needs either: at 10,000 streams under a 20,000 limit, SQLite failed turns with
SQLITE_CANTOPEN, and those turns were lost. So the connections a process takes, and those it
opens to each provider, are bounded by default to half of what the limit leaves after
`RESERVED` descriptors kept for the database, logs and tools.
"""

from __future__ import annotations

import contextlib
import resource

RESERVED = 256
# The soft limit taken when the hard one is unlimited.
CEILING = 1 << 20


def raise_limit() -> None:
    """Lift the soft limit on open files to the hard limit, as Go's runtime does for every
    program: the soft limit many services start with (1,024 under systemd, whose hard limit is
    524,288) would refuse connections at about 400 streams. Child processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # a system ceiling below the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def connections_that_fit() -> int:
    """Half of the open-file limit left after `RESERVED` (at least 1)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = CEILING if soft == resource.RLIM_INFINITY else soft
    return max(1, (limit - RESERVED) // 2)
