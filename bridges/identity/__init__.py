"""Verified identity: a Matrix user proves which forum account is theirs, through the forum.

:mod:`bridges.identity.connect` speaks DiscourseConnect (Discourse as the identity provider),
:mod:`bridges.identity.linking` runs a link from ``!link`` to the forum's signed answer, and
:mod:`bridges.identity.commands` is the bot's side in its direct chats.
"""
