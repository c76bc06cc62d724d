"""The business logic of the appliance: import, rules, rendering and sending.

Nothing here knows about requests, flashes or URLs; the run date is always an argument.
"""
