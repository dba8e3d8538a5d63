"""The relay: one inbox event in, deliveries on the other platform out.

Read it in the order an event travels:

- :mod:`.components`: the composition root; every part below is built there once and handed
  to the parts that need it.
- :mod:`.router`: the worker's handler; decodes the inbox row, routes the event and turns
  platform outages into waits.
- :mod:`.routes`: the route table, one handler per kind of event (and per room role for what
  is said or reacted in a room).
- :mod:`.crossings`: the crossing decision for either direction (facts gathered, the link's
  policy asked, the answer recorded), with :mod:`.readable_topics` (which linked topics the
  target may read) and :mod:`.reaction_gate` (the same boundary for likes and reactions).
- :mod:`.tier_events`: events that change the tier of a category or a room.
- :mod:`.forum_to_chat`: forum posts, media, edits, retraction and likes into Matrix.
- :mod:`.chat_to_forum`: Matrix messages, media, merging, changes and reactions onto the forum.
"""
