"""The queue boundary: the only package that knows Celery's and kombu's message format and
internals.

Owns publishing (``publisher.Publisher``: publish a job, publish it with its record in one
store script, ask the broker for depths; ``wire`` builds Celery's messages by hand,
``amqp`` publishes to RabbitMQ with confirms), Celery's configuration (``config``), the
queue names (``names``), what a broker holds for a queue (``brokerview``) and the patches
to kombu's Redis channel (``patches``). The API publishes through it and never imports
``asyncml.worker``; it must not import ``asyncml.api`` or ``asyncml.worker`` itself.
"""
