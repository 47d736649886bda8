"""Time, injectable so tests of expiry and retention need not sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]

system_clock: Clock = time.time
