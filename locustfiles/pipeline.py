"""Pipelines: each record written through an ordered chain of services, as an application would.

    locust -f locustfiles/pipeline.py --headless -u 4 -t 30s GeventUser                  # dynamodb,s3,sqs
    locust -f locustfiles/pipeline.py --headless -u 4 -t 30s GeventUser --pipeline sqs,dynamodb --rate 200

A step that fails is retried on its own; the summary's `pipeline` section has the records
through, those given up at each step, the end-to-end record latency and the bottleneck step.
User classes (one per strategy in writers.strategies): SequentialUser, ThreadedUser, ...
"""

from aws_locust.pipeline import pipeline_users

globals().update(pipeline_users(__name__))
