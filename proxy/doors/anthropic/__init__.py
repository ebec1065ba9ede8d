"""The Anthropic Messages door: `/v1/messages` bodies in, the pool's answers out as
Anthropic messages and event streams, errors in Anthropic's envelope.

Only translation lives here; failover, limits and accounting are the shared ones.
"""
