"""Membership follows entitlement: a managed private or restricted room holds the linked
members of the forum groups it is for.

:mod:`bridges.membership.membership_config` is the ``links[].membership`` section,
:mod:`policies.membership` decides (pure) who to invite and who to remove,
:mod:`bridges.membership.membership_facts` reads what it decides on (the groups a room is for,
a forum user's groups), :mod:`bridges.membership.rooms` applies it from the relay (webhooks,
knocks, ``!accept`` and the periodic reconciliation), and :mod:`bridges.membership.ghost_gate`
keeps ghosts out of rooms their forum user may not read.
"""
