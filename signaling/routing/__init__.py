"""Several Duet nodes behind a load balancer, coordinated through Redis (``redis_url``).

Redis holds what all nodes share: the matching queues (atomic pairing), presence and node
heartbeats, and the channels that carry events to the node holding a visitor's WebSocket.
"""
