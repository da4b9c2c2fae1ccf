"""The architecture picture in the README: ``make diagram`` regenerates docs/architecture.png.

Drawn with the ``diagrams`` package (the ``docs`` extra), which needs Graphviz's ``dot``
(Debian/Ubuntu: ``apt-get install graphviz``; macOS: ``brew install graphviz``).
"""

from pathlib import Path

from diagrams import Cluster, Diagram, Edge
from diagrams.k8s.clusterconfig import HPA
from diagrams.onprem.client import Client
from diagrams.onprem.inmemory import Redis
from diagrams.onprem.monitoring import Grafana, Prometheus
from diagrams.onprem.network import Internet
from diagrams.onprem.queue import Celery, Rabbitmq
from diagrams.programming.framework import Fastapi

OUT = Path(__file__).resolve().parent / "architecture"
GRAPH = {"fontsize": "22", "pad": "0.4", "nodesep": "0.7", "ranksep": "1.1", "splines": "spline"}
NODE = {"fontsize": "13"}
EDGE = {"fontsize": "12"}

with Diagram(
    "asyncml",
    filename=str(OUT),
    outformat="png",
    show=False,
    direction="LR",
    graph_attr=GRAPH,
    node_attr=NODE,
    edge_attr=EDGE,
):
    client = Client("client / SDK / CLI")

    with Cluster("API: asyncml api\n(stateless, N replicas)"):
        api = Fastapi("FastAPI (asyncml.api)\n/v1/jobs  /task/{id}\n/metrics  /v1/queues")

    store = Redis("job store (asyncml.store)\nRedis / Valkey\njobs, events, metrics,\nheartbeats")
    broker = Rabbitmq("broker\nRabbitMQ / Redis")

    with Cluster("workers: asyncml worker --queues <q>\n(one group per queue)"):
        audio = Celery("audio")
        euro = Celery("euro")
        webhooks = Celery("webhooks")
    workers = [audio, euro, webhooks]

    with Cluster("operations"):
        keda = HPA("KEDA\nscale 0..N\non queue length")
        prometheus = Prometheus("Prometheus")
        grafana = Grafana("Grafana")
        flower = Celery("Flower")

    sources = Internet("audio URLs,\nresults site")

    client >> Edge(label="HTTP JSON") >> api
    api >> Edge(label="1. record job") >> store
    api >> Edge(label="2. publish by task name\n(asyncml.queue)") >> broker
    for worker in workers:  # label one edge of each fan, not all three
        labelled = worker is euro
        broker >> Edge(label="one queue each" if labelled else "") >> worker
        worker >> Edge(label="state, result, metrics" if labelled else "") >> store
        keda >> Edge(style="dotted", label="replicas" if labelled else "") >> worker
    audio >> Edge(style="dashed", label="egress client\n(SSRF-safe)") >> sources
    webhooks >> Edge(style="dashed", label="signed webhooks") >> client
    store >> Edge(style="dotted", label="pub/sub wakes\nlong-polls") >> api

    prometheus >> Edge(label="GET /metrics") >> api
    grafana >> prometheus
    keda >> Edge(style="dotted", label="queue length") >> broker
    flower >> Edge(style="dotted", label="events, inspect") >> broker
