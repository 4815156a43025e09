"""`Retry`: how often and how far apart an activity is tried again.

@continuum.activity(retry=continuum.Retry(max_attempts=5, initial_interval=1))
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from continuum import validation


@dataclass(frozen=True, slots=True)
class Retry:
    """How an activity is retried: exponential backoff with jitter and a cap.

    The pause before attempt n+1 is `initial_interval * backoff_coefficient**(n-1)`,
    capped at `max_interval`, then spread by +/- `jitter` (a fraction).
    `non_retryable` lists exception classes (or their names) that fail at once.
    """

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    max_interval: float = 100.0
    non_retryable: tuple[type[BaseException] | str, ...] = ()
    jitter: float = 0.1

    def __post_init__(self) -> None:
        checked = {
            "max_attempts": validation.count(self.max_attempts, name="Retry(max_attempts=)"),
            "initial_interval": validation.duration(
                self.initial_interval, name="Retry(initial_interval=)", allow_zero=True
            ),
            "max_interval": validation.duration(
                self.max_interval, name="Retry(max_interval=)", allow_zero=True
            ),
            "backoff_coefficient": validation.number(
                self.backoff_coefficient, name="Retry(backoff_coefficient=)", minimum=1
            ),
            "jitter": validation.number(self.jitter, name="Retry(jitter=)", minimum=0, maximum=1),
            "non_retryable": tuple(self.non_retryable),
        }
        for field_name, value in checked.items():
            object.__setattr__(self, field_name, value)

    def pause_before(self, attempt: int) -> float:
        """Seconds to wait before `attempt` (2 for the first retry)."""
        try:
            base = self.initial_interval * self.backoff_coefficient ** max(attempt - 2, 0)
        except OverflowError:  # a coefficient raised to a high attempt number
            base = math.inf if self.initial_interval else 0.0
        capped = min(base, self.max_interval)
        return max(0.0, capped * (1 + self.jitter * (2 * random.random() - 1)))

    def gives_up(self, attempt: int, error: BaseException) -> bool:
        if attempt >= self.max_attempts:
            return True
        for kind in self.non_retryable:
            if isinstance(kind, str):
                if any(cls.__name__ == kind for cls in type(error).__mro__):
                    return True
            elif isinstance(error, kind):
                return True
        return False


NO_RETRY = Retry(max_attempts=1)
