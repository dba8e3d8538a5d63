"""Forum -> chat: what happens on the forum, carried into the linked Matrix rooms.

The modules in the order an event travels:

- :mod:`.forum_posts`: a topic becomes a thread, a post a message from its author's ghost;
  edits, moves and deletions of carried posts follow (entry point: ``ToMatrix``).
- :mod:`.forum_edits`: who made an edit, so that only the author's are carried.
- :mod:`.forum_media`: a post's uploads, carried as ``m.image`` / ``m.file`` events.
- :mod:`.forum_retraction`: every copy taken back when its topic may no longer be shown.
- :mod:`.forum_likes`: a forum like becomes a reaction from the liker's ghost.
- :mod:`.send_once`: every send into Matrix happens once, even across a homeserver restart.
"""
