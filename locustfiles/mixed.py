"""Several services in one run: user classes of every service and strategy.

    locust -f locustfiles/mixed.py                         # web UI, class picker
    locust -f locustfiles/mixed.py --headless -u 4 -t 30s DynamoDBGeventUser SQSGeventUser \
        --rate dynamodb=200,sqs=100

User classes, named <Service><Strategy>User: DynamoDBGeventUser, S3AiohttpUser,
SQSThreadedUser, KinesisGeventUser, ... Every service's flags work together; the
services of the classes picked are provisioned (local emulators by default).
"""

from aws_locust import mixed_users

globals().update(mixed_users(__name__))
