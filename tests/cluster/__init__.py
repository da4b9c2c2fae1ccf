"""A cluster of network namespaces on one machine, and real faults injected into it.

Hosts (broker, store, API, two workers, a client) are namespaces joined by a bridge; the
faults are partitions, a lost host, a frozen worker, latency and loss, and skewed clocks
(docs/reliability.md#many-hosts-real-faults). Needs root, iproute2 and iptables.
``python -m tests.cluster run`` (``make cluster-test``) is the full run;
``tests/integration/test_cluster.py`` a short one.
"""
