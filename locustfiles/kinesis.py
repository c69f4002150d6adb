"""Kinesis Data Streams load: Faker book records put by each writer strategy (PutRecord, or PutRecords with --batch).

    locust -f locustfiles/kinesis.py                                  # web UI, class picker
    locust -f locustfiles/kinesis.py --headless -u 10 -t 30s --batch 500 GeventUser
    locust -f locustfiles/kinesis.py --headless -u 4 -t 30s --shards 4 --stream my-stream --target aws

An on-demand stream unless --shards N asks for a provisioned one. User classes (one per
strategy in writers.strategies): SequentialUser, ThreadedUser, Aioboto3User, AiohttpUser, GeventUser.
"""

from aws_locust import service_users

globals().update(service_users("kinesis", __name__))
