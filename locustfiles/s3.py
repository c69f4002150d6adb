"""S3 load: objects (Faker text or random bytes, sized by --object-size) written by each writer strategy.

    locust -f locustfiles/s3.py                      # web UI, class picker
    locust -f locustfiles/s3.py --headless -u 10 -t 30s --object-size 1KiB:50,64KiB:40,4MiB:10 GeventUser

User classes (one per strategy in writers.strategies): SequentialUser, ThreadedUser, Aioboto3User,
AiohttpUser, GeventUser. Large objects go as multipart uploads (--multipart-threshold, --part-size);
--read-ratio mixes in GETs of objects the run wrote.
"""

from aws_locust import service_users

globals().update(service_users("s3", __name__))
