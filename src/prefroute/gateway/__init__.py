"""The routing core both front-ends (server and Controller) share.

Subpackages: `store` (the request log and feedback store).
"""
