"""Chat -> forum: what is said in a linked Matrix room, carried onto the forum.

The modules in the order an event travels:

- :mod:`.chat_messages`: a message in a carried thread becomes a reply, a top-level one may
  start a topic (entry point: ``ToForum``).
- :mod:`.chat_posting`: who posts, what they post (the draft judged and published), and which
  post is whose.
- :mod:`.chat_media`: a Matrix image or file becomes a forum upload embedded in the post.
- :mod:`.chat_merging`: consecutive messages of one sender merged into one post.
- :mod:`.forum_once`: a forum post is created once, even across crashes.
- :mod:`.chat_changes`: edits and redactions of carried messages.
- :mod:`.chat_reactions`: a like reaction becomes a forum like, its redaction takes it back.
"""
