"""DynamoDB load: Faker book records written by each writer strategy.

    locust -f locustfiles/dynamodb.py                      # web UI, class picker
    locust -f locustfiles/dynamodb.py --headless -u 10 -t 30s SequentialUser

User classes (one per strategy in writers.strategies): SequentialUser, ThreadedUser, ...
"""

from aws_locust import service_users

globals().update(service_users("dynamodb", __name__))
