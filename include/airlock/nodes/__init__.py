"""Serving nodes (one protocol, several drivers) and the load balancer."""
