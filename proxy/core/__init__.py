"""The domain under every door: typed stream events, replies and the gateway's errors.

Nothing here knows HTTP or any protocol's wire format; doors translate to and from it.
"""
