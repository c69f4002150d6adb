"""SQS load: Faker JSON messages sent, received and deleted by each writer strategy.

    locust -f locustfiles/sqs.py                                   # web UI, class picker
    locust -f locustfiles/sqs.py --headless -u 10 -t 30s GeventUser --batch 10
    locust -f locustfiles/sqs.py --headless -u 4 -t 30s --sqs-mode consume --wait-seconds 5

A --queue name ending in .fifo is a FIFO queue (--message-groups spreads its messages).
User classes (one per strategy in writers.strategies): SequentialUser, ThreadedUser, ...
"""

from aws_locust import service_users

globals().update(service_users("sqs", __name__))
