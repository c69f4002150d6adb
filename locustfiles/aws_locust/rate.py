"""`RateShape`: a load shape for locustfiles that returns rates instead of user counts
(Locust's LoadTestShape). Each rate it returns becomes the run's target (aws_locust.control).
"""

from __future__ import annotations

from locust import LoadTestShape

from aws_locust.process import parts_of


class RateShape(LoadTestShape):
    """A load shape that returns rates: subclass it in a locustfile passed with the
    service's (`locust -f locustfiles/dynamodb.py,my_shape.py`) and override `rate()`.

        class Ramp(RateShape):
            def rate(self):
                t = self.get_run_time()
                return None if t > 120 else 200 + 10 * t   # records/s; None ends the test

    The number of users stays what `-u`/`--users` says (their rate follows the shape).
    """

    abstract = True

    def rate(self) -> float | None:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        rate = self.rate()
        if rate is None:
            return None
        environment = self.runner.environment if self.runner is not None else None
        control = parts_of(environment).control if environment is not None else None
        if control is not None:
            control.set_target(rate, type(self).__name__)
        options = environment.parsed_options if environment is not None else None
        users = int(getattr(options, "num_users", None) or 1)
        return users, float(getattr(options, "spawn_rate", None) or users)
